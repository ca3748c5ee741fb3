"""Check that a change of the core keeps `hardship replay`'s output identical, and time it in CPU seconds.

    python scripts/same_output.py run --data DIR --out REF [--jobs N]   # replay DIR, keep its outputs in REF
    python scripts/same_output.py compare REF NEW                         # identical, or the first differences

`run` replays a simulated district (registry.jsonl, filings.jsonl, events.jsonl of `hardship simulate
--out DIR`) with whichever code is first on the path: run it with PYTHONPATH pointing at a checkout of
the old version for the reference (`git archive HEAD | tar -x -C /tmp/base`; PYTHONPATH=/tmp/base),
then with the new one. It writes alerts.jsonl and deadletters.jsonl with `emitted_at` removed (the
only field that differs between runs), in the order the replay wrote them, and prints the CPU seconds
(user + system, of the children too with --jobs) beside the wall seconds: on a machine that others
share, CPU time is the figure to compare between steps. `compare` says whether the two outputs are
byte-identical in order, and also after sorting by alert_id and event_time.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import click


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _without_emitted_at(line: str) -> str:
    record = json.loads(line)
    record.pop("emitted_at", None)
    return json.dumps(record, ensure_ascii=False) + "\n"


@click.group()
def main() -> None:
    """Same output before and after a change of the core, and its CPU time."""


@main.command()
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="a folder written by `hardship simulate --out`")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="where to write alerts.jsonl and deadletters.jsonl (created if missing)")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="processes, as `replay --jobs`")
@click.option("--outcomes/--no-outcomes", default=False, show_default=True, help="also replay outcomes.jsonl")
def run(data_dir: Path, out_dir: Path, jobs: int, outcomes: bool) -> None:
    """Replay DATA with the code first on the path; write its outputs without emitted_at into OUT."""
    from scoring.monitor import Monitor
    from scoring.policy import load_policy
    from streams.replay import replay_files, replay_parallel

    data_dir = data_dir.resolve()  # dead letters name their file: the same path whatever the working folder
    inputs = [(stream, data_dir / f"{stream}.jsonl") for stream in ("registry", "filings", "events")]
    if outcomes:
        inputs.append(("outcomes", data_dir / "outcomes.jsonl"))
    missing = [str(path) for _stream, path in inputs if not path.exists()]
    if missing:
        raise click.ClickException(f"missing {', '.join(missing)}; write the district with `hardship simulate --out DIR`")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        alerts_raw, dead_raw = Path(scratch) / "alerts", Path(scratch) / "dead"
        cpu, wall = _cpu_seconds(), time.perf_counter()
        with open(alerts_raw, "w", encoding="utf-8") as alerts, open(dead_raw, "w", encoding="utf-8") as dead:
            if jobs == 1:
                summary = replay_files(inputs, alerts, dead, Monitor(load_policy()))
            else:
                summary = replay_parallel(inputs, alerts, dead, load_policy(), jobs)
        cpu, wall = _cpu_seconds() - cpu, time.perf_counter() - wall
        for raw, name in ((alerts_raw, "alerts.jsonl"), (dead_raw, "deadletters.jsonl")):
            with open(raw, encoding="utf-8") as source, open(out_dir / name, "w", encoding="utf-8") as target:
                for line in source:
                    target.write(_without_emitted_at(line))
    code = sys.modules["scoring.household"].__file__
    click.echo(f"{data_dir}: {sum(summary.lines.values()):,} lines, {summary.total_alerts:,} alerts, "
               f"{summary.total_dead_letters:,} dead letters; jobs {jobs}; wall {wall:.1f} s, CPU {cpu:.1f} s; "
               f"load {os.getloadavg()[0]:.1f}; code {Path(code).parent.parent}")


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.readlines()


def _sort_key(line: str) -> tuple:
    record = json.loads(line)
    return record.get("alert_id") or "", record.get("event_time") or "", line


@main.command()
@click.argument("reference", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, file_okay=False, path_type=Path))
def compare(reference: Path, new: Path) -> None:
    """Whether NEW's alerts and dead letters are those of REFERENCE; exit 1 with the first differences if not."""
    same = True
    for name in ("alerts.jsonl", "deadletters.jsonl"):
        old_lines, new_lines = _lines(reference / name), _lines(new / name)
        in_order = old_lines == new_lines
        old_sorted = sorted(old_lines, key=_sort_key)
        new_sorted = sorted(new_lines, key=_sort_key)
        sorted_same = old_sorted == new_sorted
        click.echo(f"{name}: {len(old_lines):,} and {len(new_lines):,} lines; identical in order: {in_order}; "
                   f"identical sorted by alert_id and time: {sorted_same}")
        if not sorted_same:
            same = False
            shown = 0
            for old_line, new_line in zip(old_sorted, new_sorted, strict=False):
                if old_line != new_line and shown < 3:
                    click.echo(f"  reference: {old_line.rstrip()[:400]}\n  new:       {new_line.rstrip()[:400]}")
                    shown += 1
        same = same and in_order
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
