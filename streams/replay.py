"""`hardship replay`: the streaming core over JSON Lines files, for backtests of a policy change.

Registry and filings first, then events (and outcomes, if given) in file order; alerts and dead
letters are written as JSON Lines. The same validators and the same household core as the Faust
agents, so a replay gives the alerts the stream would give.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from models.validation import CHINA_STANDARD_TIME, VALIDATORS, Rejected, dead_letter
from scoring.monitor import Monitor
from scoring.policy import PolicyError, load_policy

PROGRESS_EVERY = 20_000


@dataclass
class ReplaySummary:
    lines: Counter = field(default_factory=Counter)  # by stream
    alerts: Counter = field(default_factory=Counter)  # by (kind, level)
    dead_letters: Counter = field(default_factory=Counter)  # by reason code
    households: int = 0

    @property
    def total_alerts(self) -> int:
        return sum(self.alerts.values())

    @property
    def total_dead_letters(self) -> int:
        return sum(self.dead_letters.values())


def now_iso() -> str:
    return datetime.now(CHINA_STANDARD_TIME).isoformat(timespec="seconds")


def read_lines(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines of a UTF-8 JSON Lines file."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        consumed = 0
        for number, line in enumerate(handle, 1):
            if on_bytes is not None:
                consumed += len(line)
                if number % PROGRESS_EVERY == 0:
                    on_bytes(consumed)
                    consumed = 0
            if line.strip():
                yield number, line
        if on_bytes is not None and consumed:
            on_bytes(consumed)


def replay_files(
    inputs: list[tuple[str, Path]],
    alerts_out: IO[str],
    deadletter_out: IO[str],
    monitor: Monitor,
    progress: Callable[[str, int], None] | None = None,
) -> ReplaySummary:
    """Feed each (stream, file) in order through the monitor; write alerts and dead letters."""
    summary = ReplaySummary()
    loads = json.loads
    dumps = json.dumps
    write_alert = alerts_out.write
    for stream, path in inputs:
        validate = VALIDATORS[stream]
        feed = getattr(monitor, {"events": "event", "registry": "registry", "filings": "filing", "outcomes": "outcome"}[stream])
        on_bytes = (lambda n, s=stream: progress(s, n)) if progress else None
        count = 0
        for number, line in read_lines(path, on_bytes):
            count += 1
            try:
                try:
                    raw = loads(line)
                except ValueError as exc:
                    raise Rejected("MALFORMED_JSON", f"not valid JSON ({exc}); each line must be one JSON object") from None
                record = validate(raw)
            except Rejected as rejected:
                summary.dead_letters[rejected.code] += 1
                letter = dead_letter(stream, line.rstrip("\n"), rejected, file=str(path), line=number)
                deadletter_out.write(dumps(letter, ensure_ascii=False) + "\n")
                continue
            alerts = feed(record)
            if alerts:
                stamp = now_iso()
                for alert in alerts:
                    alert["emitted_at"] = stamp
                    summary.alerts[(alert["kind"], alert["level"])] += 1
                    write_alert(dumps(alert, ensure_ascii=False) + "\n")
        summary.lines[stream] += count
    summary.households = len(monitor.households)
    return summary


def print_summary(summary: ReplaySummary, seconds: float, out: IO[str]) -> None:
    from scoring.reasons import KINDS_ZH

    total = sum(summary.lines.values())
    rate = total / seconds if seconds > 0 else 0.0
    lines = ", ".join(f"{stream} {count:,}" for stream, count in summary.lines.items())
    out.write(f"read {total:,} lines ({lines}) in {seconds:.1f} s, {rate:,.0f} lines/s; {summary.households:,} households\n")
    out.write(f"alerts: {summary.total_alerts:,}\n")
    for (kind, level), count in sorted(summary.alerts.items()):
        out.write(f"  {kind} ({KINDS_ZH.get(kind, kind)}) level {level}: {count:,}\n")
    out.write(f"dead letters: {summary.total_dead_letters:,}\n")
    for code, count in summary.dead_letters.most_common():
        out.write(f"  {code}: {count:,}\n")


def _progress_reporter(paths: list[Path], enabled: bool):
    if not enabled:
        return None, None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), transient=True,
        console=None,
    )
    total = sum(p.stat().st_size for p in paths)
    task = progress.add_task("replay", total=total)

    def advance(stream: str, nbytes: int) -> None:
        progress.update(task, advance=nbytes, description=f"replay {stream}")

    return progress, advance


@click.command(name="replay")
@click.option("--registry", "registry_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="household roster, JSON Lines (hardship.registry records)")
@click.option("--filings", "filings_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="close-relative filings 近亲属备案, JSON Lines")
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="departments' events, JSON Lines, replayed in file order")
@click.option("--outcomes", "outcomes_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="optional workbench outcomes, replayed after the events")
@click.option("--policy", "policy_path", envvar="HARDSHIP_POLICY", type=click.Path(path_type=Path),
              help="policy file (default: the bundled scoring/policy.yaml) [env HARDSHIP_POLICY]")
@click.option("--alerts-out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="where to write the alerts, JSON Lines in the contract's shape")
@click.option("--deadletter-out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="where to write rejected input with its reason, JSON Lines")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: when stderr is a terminal)")
def replay(registry_path, filings_path, events_path, outcomes_path, policy_path, alerts_out, deadletter_out, progress):
    """Score JSON Lines files with the same core as the stream: the way to backtest a policy change.

    Registry and filings are read first, then events in file order. Prints alerts by kind and level
    and dead letters by reason at the end.
    """
    import time

    inputs = [(stream, path) for stream, path in (
        ("registry", registry_path), ("filings", filings_path), ("events", events_path), ("outcomes", outcomes_path),
    ) if path is not None]
    if not inputs:
        raise click.UsageError("give at least one of --registry, --filings, --events (JSON Lines files)")
    try:
        policy = load_policy(policy_path)
    except PolicyError as exc:
        raise click.ClickException(f"{exc}\nFix the policy file, or leave out --policy to use the bundled one.") from None
    show = sys.stderr.isatty() if progress is None else progress
    bar, advance = _progress_reporter([p for _, p in inputs], show)
    started = time.perf_counter()
    with open(alerts_out, "w", encoding="utf-8") as alerts_file, open(deadletter_out, "w", encoding="utf-8") as dead_file:
        if bar is not None:
            with bar:
                summary = replay_files(inputs, alerts_file, dead_file, Monitor(policy), advance)
        else:
            summary = replay_files(inputs, alerts_file, dead_file, Monitor(policy))
    print_summary(summary, time.perf_counter() - started, sys.stdout)
    if summary.total_dead_letters:
        click.echo(f"{summary.total_dead_letters:,} input lines were rejected; see {deadletter_out} for each reason.")
