"""`hardship evaluate`: alerts scored against a truth file, as a table on the terminal or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from models.privacy import mask_personal
from scoring.evaluation import KINDS, Evaluation, evaluate
from scoring.reasons import KINDS_ZH


def read_jsonl(path: Path, what: str) -> list[dict]:
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise click.ClickException(f"{path}, line {number}: not JSON ({exc.msg}); is this a {what} file?") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read the {what} file {path}: {exc.strerror}") from None
    return rows


def _inputs_index(registry: Path | None, events: Path | None):
    """household_id -> its roster record and up to 30 of its members' events, for examples."""
    if registry is None:
        return None
    records = {row["household_id"]: row for row in read_jsonl(registry, "registry")}
    person_household = {m["person_id"]: hid for hid, row in records.items() for m in row.get("members", [])}
    by_household: dict[str, list[dict]] = {}
    if events is not None:
        with open(events, encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                    person = event["person_id"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
                hid = person_household.get(person, "person:" + str(person))
                kept = by_household.setdefault(hid, [])
                if len(kept) < 30:
                    kept.append({k: event.get(k) for k in ("event_id", "type", "occurred_at", "attributes")})

    def inputs_of(household_id: str) -> dict:
        record = records.get(household_id)
        roster = None
        if record is not None:
            roster = {k: record.get(k) for k in ("coverage", "monthly_income_yuan", "dibao_standard_yuan")}
            roster["members"] = len(record.get("members", []))
        return {"roster": roster, "events": by_household.get(household_id, [])}

    return inputs_of


def masked(value):  # noqa: ANN001, ANN201 - any JSON value
    """The value with every text in it masked (resident IDs in the household ids of people on no roster)."""
    if isinstance(value, str):
        return mask_personal(value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def print_table(result: Evaluation, examples: int) -> None:
    """The figures per kind, and examples with resident IDs masked."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    table = Table(title=f"detection against truth ({result.households_in_truth:,} households, {result.alerts_read:,} alert records)")
    for column in ("kind", "truth", "found", "missed", "false alarms", "recall", "precision",
                   "alerts/household", "lead median (d)", "lead p95 (d)"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind in KINDS:
        f = result.kinds[kind]
        table.add_row(
            f"{kind} {KINDS_ZH.get(kind, '')}", f"{f.true_positives + f.misses:,}", f"{f.true_positives:,}",
            f"{f.misses:,}", f"{f.false_alarms:,}", _pct(f.recall), _pct(f.precision),
            "—" if f.alerts_per_household is None else f"{f.alerts_per_household:.2f}",
            _days(f.lead(0.5) if f.lead_days else None), _days(f.lead(0.95)),
        )
    overall = result.overall()
    table.add_row("all", f"{overall['true_positives'] + overall['misses']:,}", f"{overall['true_positives']:,}",
                  f"{overall['misses']:,}", f"{overall['false_alarms']:,}", _pct(overall["recall"]),
                  _pct(overall["precision"]), "", _days(overall["lead_days_median"]), _days(overall["lead_days_p95"]),
                  style="bold")
    console.print(table)
    unobservable = sum(f.unobservable_alerted for f in result.kinds.values())
    if unobservable:
        console.print(f"alerted where the truth is unobservable from the inputs (not scored): {unobservable:,}")
    dead = sum(result.deadletters_by_reason.values())
    if dead:
        top = ", ".join(f"{code} {count:,}" for code, count in result.deadletters_by_reason.most_common(6))
        console.print(f"dead letters: {dead:,} ({top})")
    if examples:
        for kind in KINDS:
            f = result.kinds[kind]
            for title, items in (("missed", f.miss_examples), ("false alarm", f.false_alarm_examples)):
                for item in items[:examples]:
                    what = item.get("truth_reason") or "; ".join(r["code"] for r in item.get("reasons", []))
                    console.print(mask_personal(f"  {kind} {title}: {item['household_id']} — {what}"), highlight=False)


@click.command(name="evaluate")
@click.option("--truth", "truth_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ground truth, JSON Lines: one row per household with the kinds that must be raised "
                   "(`hardship simulate` writes truth.jsonl).")
@click.option("--alerts", "alerts_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Alerts, JSON Lines (what `hardship replay --alerts-out` writes).")
@click.option("--deadletter", "deadletter_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Dead letters of the same run, JSON Lines, to count them by reason.")
@click.option("--registry", "registry_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The roster file of the run: examples then show each household's inputs.")
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The events file of the run (with --registry): examples show up to 30 events per household.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures and examples as JSON instead of a table.")
@click.option("--examples", type=click.IntRange(0, 10), default=3, show_default=True,
              help="Examples of misses and false alarms per kind in the table (JSON always has up to ten).")
@click.option("--min-recall", type=click.FloatRange(0, 1), default=None,
              help="Exit with status 1 when any kind with truth falls under this recall (for CI).")
@click.option("--min-precision", type=click.FloatRange(0, 1), default=None,
              help="Exit with status 1 when any kind with alerts falls under this precision (for CI).")
def evaluate_command(truth_path, alerts_path, deadletter_path, registry_path, events_path, as_json, examples,
                     min_recall, min_precision) -> None:
    """Detection against ground truth: per kind recall, precision, alerts per household, lead time
    (days from knowable to alert: median and p95), dead letters, and examples of misses and false alarms.

    Example: hardship simulate --households 3000 --seed 11 --out sim && hardship replay --registry
    sim/registry.jsonl --filings sim/filings.jsonl --events sim/events.jsonl --alerts-out sim/alerts.jsonl
    --deadletter-out sim/dead.jsonl && hardship evaluate --truth sim/truth.jsonl --alerts sim/alerts.jsonl
    """
    truth = read_jsonl(truth_path, "truth")
    alerts = read_jsonl(alerts_path, "alerts")
    dead = read_jsonl(deadletter_path, "dead-letter") if deadletter_path else []
    result = evaluate(truth, alerts, dead, _inputs_index(registry_path, events_path))
    if as_json:  # household ids of people on no roster carry a resident ID: masked, as in every export
        sys.stdout.write(json.dumps(masked(result.as_dict()), ensure_ascii=False, indent=2) + "\n")
    else:
        print_table(result, examples)
    failing = []
    for kind, f in result.kinds.items():
        if min_recall is not None and f.recall is not None and f.recall < min_recall:
            failing.append(f"{kind} recall {f.recall:.1%} < {min_recall:.0%}")
        if min_precision is not None and f.precision is not None and f.precision < min_precision:
            failing.append(f"{kind} precision {f.precision:.1%} < {min_precision:.0%}")
    if failing:
        click.echo("under the bar: " + "; ".join(failing), err=True)
        sys.exit(1)
