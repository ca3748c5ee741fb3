"""`hardship model train / evaluate`: the learned model (学习模型) from visit findings, its card and its figures."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(name="model")
def model() -> None:
    """The learned model: estimates for each alert the chance that a home visit confirms it.

    It ranks the queue and says why; it never raises, suppresses or closes an alert (docs/model.md).
    The loop: `hardship simulate --out D` (writes outcomes.jsonl with simulated visit findings),
    `hardship replay ... --features --alerts-out D/alerts.jsonl`, `hardship model train --alerts
    D/alerts.jsonl --outcomes D/outcomes.jsonl --out MODEL`, then `hardship replay --model MODEL`.
    """


_ALERTS = click.option("--alerts", "alerts_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="alerts, JSON Lines, with model_features (hardship replay --features or --model)")
_OUTCOMES = click.option("--outcomes", "outcomes_path", required=True,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="outcomes, JSON Lines, with visit_finding (workbench export or hardship simulate)")


def _print_figures(fig: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("model", justify="right")
    table.add_column("rules' order by level (baseline)", justify="right")
    table.add_row("visit findings", f"{fig['count']:,}", "")
    table.add_row("share confirmed", f"{fig['confirmed_share']:.3f}", "")
    table.add_row("AUC", str(fig["auc"]), str(fig["auc_rules"]))
    table.add_row("top quarter of the queue confirmed", str(fig["top_quarter_confirmed"]),
                  str(fig["top_quarter_confirmed_rules"]))
    table.add_row("calibration: largest decile gap", str(fig["calibration_max_gap"]), "")
    console.print(table)
    deciles = Table(title="calibration per decile")
    for column in ("decile", "alerts", "mean score", "confirmed"):
        deciles.add_column(column, justify="right")
    for d in fig["calibration"]:
        deciles.add_row(str(d["decile"]), str(d["count"]), f"{d['predicted']:.3f}", f"{d['confirmed']:.3f}")
    console.print(deciles)


@model.command(name="train")
@_ALERTS
@_OUTCOMES
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder for model.skops, card.json, card.md and calibration.png (created if missing)")
@click.option("--estimator", type=click.Choice(["auto", "linear", "boosting"]), default="auto", show_default=True,
              help="auto measures both and keeps the linear model unless boosting's held-out AUC is 0.02 higher")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the boosted model")
@click.option("--min-labels", type=click.IntRange(min=50), default=None,
              help="fewest visit findings to train on (default 200; lower only for a pilot, the card records it)")
def train_command(alerts_path: Path, outcomes_path: Path, out_dir: Path, estimator: str, seed: int,
                  min_labels: int | None) -> None:
    """Train on visit findings joined to the alerts visited; write the model and its card.

    A quarter of the households are held out (by a hash of their id) and measured: AUC, the share
    confirmed in the top quarter of the queue beside the rules' order by level, calibration per
    decile, and the same per street. Refuses when there are too few labels.
    """
    from scoring.model.store import save_model
    from scoring.model.train import (
        MIN_LABELS,
        TrainingError,
        calibration_png,
        card_markdown,
        check_enough,
        join,
        train,
    )

    try:
        data = join(alerts_path, outcomes_path)
        check_enough(data, alerts_path, outcomes_path, min_labels)
        click.echo(f"training on {len(data):,} visit findings ({sum(data.labels):,} confirmed) …", err=True)
        fitted, card = train(data, estimator, seed)
    except TrainingError as exc:
        raise _fail(exc) from None
    card["inputs"] = {"alerts": str(alerts_path), "outcomes": str(outcomes_path)}
    card["min_labels"] = min_labels or MIN_LABELS
    save_model(out_dir, fitted, card, card_markdown(card))
    calibration_png(card["held_out"]["calibration"], out_dir / "calibration.png", f"{card['version']} (held out)")
    _print_figures(card["held_out"], f"{card['version']} ({card['estimator']}), held-out households")
    click.echo(f"model written to {out_dir} (model.skops, card.md, card.json, calibration.png); "
               f"use it with `hardship replay --model {out_dir}` or `hardship worker --model {out_dir}`")


@model.command(name="evaluate")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, path_type=Path),
              help="a model folder written by `hardship model train`")
@_ALERTS
@_OUTCOMES
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder for evaluation.json, evaluation.md and calibration.png (default: the model folder)")
def evaluate_command(model_dir: Path, alerts_path: Path, outcomes_path: Path, out_dir: Path | None) -> None:
    """The model's figures on other data (another period, district or seed), with a calibration plot (PNG)."""
    from scoring.model.store import ModelError, load_model
    from scoring.model.train import TrainingError, calibration_png, card_markdown, figures, join

    try:
        scorer = load_model(model_dir)
        data = join(alerts_path, outcomes_path)
    except (ModelError, TrainingError) as exc:
        raise _fail(exc) from None
    if len(data) == 0 or len(set(data.labels)) < 2:
        raise click.ClickException(
            f"{len(data):,} visit findings joined to alerts with features in {alerts_path} "
            f"({data.without_features:,} without model_features): nothing to measure. Replay with --features or "
            "--model, and give the outcomes of those alerts")
    fig = figures(data, scorer.score_features(data.features))
    out_dir = out_dir or (model_dir if model_dir.is_dir() else model_dir.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"model_version": scorer.version, "alerts": str(alerts_path), "outcomes": str(outcomes_path),
              "figures": fig}
    (out_dir / "evaluation.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    card = {"version": scorer.version, "estimator": scorer.kind, "trained_at": "-", "training_rows": 0,
            "held_out_rows": len(data), "unlabeled_alerts": data.unlabeled,
            "alert_dates": [min(data.times), max(data.times)], "confirmed_share": fig["confirmed_share"],
            "features": [], "held_out": fig, "candidates": {}}
    (out_dir / "evaluation.md").write_text(card_markdown(card, "Evaluation (模型评估)"), encoding="utf-8")
    calibration_png(fig["calibration"], out_dir / "calibration.png", f"{scorer.version} on {alerts_path.name}")
    _print_figures(fig, f"{scorer.version} on {alerts_path}")
    click.echo(f"written: {out_dir}/evaluation.json, evaluation.md, calibration.png")
