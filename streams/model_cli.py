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


_ALERTS = click.option("--alerts", "alerts_paths", required=True, multiple=True,
                       type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="alerts, JSON Lines, with model_features (hardship replay --features or --model); repeat "
                            "it with --outcomes for several districts, seeds or periods (paired in order)")
_OUTCOMES = click.option("--outcomes", "outcomes_paths", required=True, multiple=True,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="outcomes, JSON Lines, with visit_finding (workbench export or hardship simulate); "
                              "one per --alerts, in the same order")


def _pairs(alerts_paths: tuple[Path, ...], outcomes_paths: tuple[Path, ...]) -> list[tuple[Path, Path]]:
    if len(alerts_paths) != len(outcomes_paths):
        raise click.UsageError(
            f"{len(alerts_paths)} --alerts but {len(outcomes_paths)} --outcomes: give one outcomes file per alerts "
            "file, in the same order (each alerts file is joined to its own outcomes only)")
    return list(zip(alerts_paths, outcomes_paths, strict=True))


def _names(paths: tuple[Path, ...]) -> str:
    return ", ".join(str(p) for p in paths)


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
    table.add_row("calibration: largest decile gap (standard error)",
                  f"{fig['calibration_max_gap']} ({fig.get('calibration_max_gap_se')})", "")
    console.print(table)
    deciles = Table(title="calibration per decile (standard error: of a calibrated score's share, sqrt(p(1-p)/n))")
    for column in ("decile", "alerts", "mean score", "confirmed", "gap", "standard error"):
        deciles.add_column(column, justify="right")
    for d in fig["calibration"]:
        deciles.add_row(str(d["decile"]), str(d["count"]), f"{d['predicted']:.3f}", f"{d['confirmed']:.3f}",
                        f"{d['gap']:.3f}", f"{d['se']:.3f}")
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
def train_command(alerts_paths: tuple[Path, ...], outcomes_paths: tuple[Path, ...], out_dir: Path, estimator: str,
                  seed: int, min_labels: int | None) -> None:
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
        join_sources,
        train,
    )

    pairs = _pairs(alerts_paths, outcomes_paths)
    try:
        data = join_sources(pairs)
        check_enough(data, _names(alerts_paths), _names(outcomes_paths), min_labels)
        click.echo(f"training on {len(data):,} visit findings ({sum(data.labels):,} confirmed) …", err=True)
        fitted, card = train(data, estimator, seed)
    except TrainingError as exc:
        raise _fail(exc) from None
    card["inputs"] = [{"alerts": str(a), "outcomes": str(o)} for a, o in pairs]
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
def evaluate_command(model_dir: Path, alerts_paths: tuple[Path, ...], outcomes_paths: tuple[Path, ...],
                     out_dir: Path | None) -> None:
    """The model's figures on other data (another period, district or seed), with a calibration plot (PNG).

    Several --alerts/--outcomes pairs are measured as one set (more alerts per decile: a decile of n
    alerts has a standard error of about sqrt(p(1-p)/n), printed beside each gap)."""
    from scoring.model.store import ModelError, load_model
    from scoring.model.train import TrainingError, calibration_png, card_markdown, figures, join_sources

    pairs = _pairs(alerts_paths, outcomes_paths)
    label = _names(alerts_paths)
    short = "/".join(alerts_paths[0].parts[-2:]) + (f" and {len(alerts_paths) - 1} more" if len(alerts_paths) > 1 else "")
    try:
        scorer = load_model(model_dir)
        data = join_sources(pairs)
    except (ModelError, TrainingError) as exc:
        raise _fail(exc) from None
    if len(data) == 0 or len(set(data.labels)) < 2:
        raise click.ClickException(
            f"{len(data):,} visit findings joined to alerts with features in {label} "
            f"({data.without_features:,} without model_features): nothing to measure. Replay with --features or "
            "--model, and give the outcomes of those alerts")
    fig = figures(data, scorer.score_features(data.features))
    out_dir = out_dir or (model_dir if model_dir.is_dir() else model_dir.parent)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {"model_version": scorer.version, "alerts": [str(a) for a, _ in pairs],
              "outcomes": [str(o) for _, o in pairs], "figures": fig}
    (out_dir / "evaluation.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    card = {"version": scorer.version, "estimator": scorer.kind, "trained_at": "-", "training_rows": 0,
            "held_out_rows": len(data), "unlabeled_alerts": data.unlabeled,
            "alert_dates": [min(data.times), max(data.times)], "confirmed_share": fig["confirmed_share"],
            "features": [], "held_out": fig, "candidates": {}}
    (out_dir / "evaluation.md").write_text(card_markdown(card, "Evaluation (模型评估)"), encoding="utf-8")
    calibration_png(fig["calibration"], out_dir / "calibration.png", f"{scorer.version} on {short}")
    _print_figures(fig, f"{scorer.version} on {label}")
    click.echo(f"written: {out_dir}/evaluation.json, evaluation.md, calibration.png")


@model.command(name="ceiling")
@_ALERTS
@_OUTCOMES
@click.option("--seed", "seeds", type=int, multiple=True, required=True,
              help="the seed `hardship simulate` made each district with (one per --alerts, in the same order)")
@click.option("--households", type=click.IntRange(min=1), default=15_000, show_default=True,
              help="the --households of those simulations")
@click.option("--days", type=click.IntRange(min=1), default=None, help="their --days, if not the default")
@click.option("--start", default=None, help="their --start (YYYY-MM-DD), if not the default")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def ceiling_command(alerts_paths: tuple[Path, ...], outcomes_paths: tuple[Path, ...], seeds: tuple[int, ...],
                    households: int, days: int | None, start: str | None, as_json: bool) -> None:
    """Diagnostic: the best top quarter any model could reach on simulated visit findings.

    Simulated findings differ from the latent truth at known rates (connectors/visits.py); this re-runs
    the simulator for each seed and orders the visited alerts by their chance of confirmation given
    the simulator's own truth, which no model sees. Read its top-quarter share beside the target and
    the model's figure. Never a model input.
    """
    import numpy as np

    from connectors.visit_ceiling import confirm_chance, summary, visit_rows
    from scoring.model.train import TrainingError, join

    pairs = _pairs(alerts_paths, outcomes_paths)
    if len(seeds) != len(pairs):
        raise click.UsageError(f"{len(pairs)} --alerts but {len(seeds)} --seed: give the seed of each district, in order")
    chances: list[float] = []
    labels: list[int] = []
    kinds: list[str] = []
    for (alerts_path, outcomes_path), seed in zip(pairs, seeds, strict=True):
        click.echo(f"re-running the simulation of seed {seed} ({households:,} households) …", err=True)
        rows = visit_rows(households, seed, days, start)
        try:
            data = join(alerts_path, outcomes_path)
        except TrainingError as exc:
            raise _fail(exc) from None
        missing = [h for h in data.households if h not in rows]
        if missing:
            raise click.ClickException(f"{missing[0]} of {alerts_path} is not in the district of seed {seed} with "
                                       f"{households:,} households: give the seed and options that made it")
        chances += [confirm_chance(kind, rows[h]) for h, kind in zip(data.households, data.kinds, strict=True)]
        labels += data.labels
        kinds += data.kinds
    figures = summary(np.asarray(chances), np.asarray(labels), kinds)
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"{figures['count']:,} visit findings, {figures['confirmed_share']:.3f} confirmed; ordered by the "
               "simulator's own chance of confirmation (diagnostic, never a model input):")
    click.echo(f"  top quarter confirmed: expected {figures['expected_top_quarter']:.3f}, "
               f"realised {figures['realised_top_quarter']:.3f}; AUC {figures['auc']}")
