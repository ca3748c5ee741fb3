"""`hardship bench`: benchmarks that print their figures beside a baseline measured in the same run.

Each measured phase runs in a forked child process, so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import click

from streams.config import load_settings


def run_in_child(work: Callable[[], dict]) -> dict:
    """Run `work` in a forked process; return its result with wall seconds and peak RSS in MiB."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            started = time.perf_counter()
            result = work()
            result["seconds"] = time.perf_counter() - started
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = {"error": f"{type(exc).__name__}: {exc}"}
        with os.fdopen(write_end, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as incoming:
        payload = incoming.read()
    _, _status, usage = os.wait4(pid, 0)
    result = json.loads(payload) if payload else {"error": "the child process died"}
    if "error" in result:
        raise click.ClickException(f"benchmark phase failed: {result['error']}")
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def ensure_district(directory: Path, households: int, days: int, seed: int) -> Path:
    """Generate (once) the simulated district the core benchmark reads."""
    marker = directory / "bench.json"
    wanted = {"households": households, "days": days, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == wanted and (directory / "events.jsonl").exists():
        return directory
    from connectors.simulator import write_files

    click.echo(f"generating a district of {households:,} households over {days} days into {directory} …", err=True)
    write_files(directory, households=households, days=days, seed=seed, progress=True)
    marker.write_text(json.dumps(wanted))
    return directory


def _floor(events: Path) -> dict:
    loads = json.loads
    count = 0
    with open(events, encoding="utf-8") as handle:
        for line in handle:
            loads(line)
            count += 1
    return {"events": count}


def _replay(directory: Path, shortcut: bool) -> dict:
    from scoring.monitor import Monitor
    from streams.replay import replay_files

    monitor = Monitor(shortcut=shortcut)
    with open(os.devnull, "w") as sink:
        roster_started = time.perf_counter()
        replay_files([("registry", directory / "registry.jsonl"), ("filings", directory / "filings.jsonl")], sink, sink, monitor)
        roster_seconds = time.perf_counter() - roster_started
        started = time.perf_counter()
        summary = replay_files([("events", directory / "events.jsonl")], sink, sink, monitor)
        seconds = time.perf_counter() - started
    return {
        "events": summary.lines["events"],
        "events_seconds": seconds,
        "roster_seconds": roster_seconds,
        "alerts": summary.total_alerts,
        "dead_letters": summary.total_dead_letters,
        "households": len(monitor.households),
    }


def _replay_jobs(directory: Path, jobs: int) -> dict:
    """`hardship replay --jobs N` end to end: roster, filings and events, alerts written out."""
    from scoring.monitor import Monitor
    from scoring.policy import load_policy
    from streams.replay import replay_files, replay_parallel

    inputs = [("registry", directory / "registry.jsonl"), ("filings", directory / "filings.jsonl"),
              ("events", directory / "events.jsonl")]
    with open(os.devnull, "w") as sink:
        if jobs == 1:
            summary = replay_files(inputs, sink, sink, Monitor())
        else:
            summary = replay_parallel(inputs, sink, sink, load_policy(), jobs)
    return {"lines": sum(summary.lines.values()), "alerts": summary.total_alerts, "per_process": summary.peak_rss_mib}


@click.group(name="bench")
def bench() -> None:
    """Benchmarks that print figures (events/s, latency percentiles, memory) beside a baseline."""


@bench.command(name="core")
@click.option("--households", type=click.IntRange(min=1), default=15_000, show_default=True,
              help="households of the simulated district")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True, help="days of events")
@click.option("--seed", type=int, default=2026, show_default=True, help="simulator seed")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the generated district is kept between runs [default: DATA_DIR/bench-district]")
@click.option("--full-path/--no-full-path", default=True, show_default=True,
              help="also time the core with the quiet-event shortcut off")
@click.option("--jobs", "jobs_runs", type=click.IntRange(1, 64), multiple=True,
              help="also time `hardship replay --jobs N` end to end (roster, filings, events); repeatable")
def bench_core(households: int, days: int, seed: int, data_dir: Path | None, full_path: bool,
               jobs_runs: tuple[int, ...]) -> None:
    """Events per second through the replay core on a simulated year, beside the parse floor.

    The floor reads the events file and decodes each line with json.loads, nothing else. The core
    phase is `hardship replay`'s own function (validation, household core, alert output to
    /dev/null) over the same file, after the roster and filings are loaded.
    """
    settings = load_settings()
    directory = ensure_district(data_dir or settings.data_dir / "bench-district", households, days, seed)
    events = directory / "events.jsonl"
    size_mib = events.stat().st_size / 2**20
    click.echo(f"district: {households:,} households, {days} days; events file {size_mib:,.0f} MiB; cpus {os.cpu_count()}")
    floor = run_in_child(lambda: _floor(events))
    core = run_in_child(lambda: _replay(directory, shortcut=True))
    rows = [("read + json.loads (floor)", floor["events"], floor["seconds"], floor["peak_rss_mib"], "")]
    rows.append(("hardship replay core", core["events"], core["events_seconds"], core["peak_rss_mib"],
                 f"{core['alerts']:,} alerts, {core['households']:,} households"))
    if full_path:
        full = run_in_child(lambda: _replay(directory, shortcut=False))
        rows.append(("core, shortcut off (full assessment per event)", full["events"], full["events_seconds"],
                     full["peak_rss_mib"], f"{full['alerts']:,} alerts"))
    click.echo(f"{'phase':<48} {'events':>10} {'seconds':>8} {'events/s':>10} {'x floor':>8} {'peak MiB':>9}")
    for name, count, seconds, rss, note in rows:
        click.echo(
            f"{name:<48} {count:>10,} {seconds:>8.1f} {count / seconds:>10,.0f} {seconds / floor['seconds']:>8.2f} {rss:>9,.0f}"
            + (f"  {note}" if note else "")
        )
    click.echo(f"roster and filings loaded in {core['roster_seconds']:.1f} s before the events phase")
    for jobs in jobs_runs:
        run = run_in_child(lambda jobs=jobs: _replay_jobs(directory, jobs))
        memory = ", ".join(f"{mib:,.0f}" for mib in run["per_process"])
        click.echo(
            f"hardship replay --jobs {jobs}, end to end: {run['lines']:,} lines in {run['seconds']:.1f} s "
            f"({run['lines'] / run['seconds']:,.0f} lines/s, {run['seconds'] / floor['seconds']:.2f} x floor), "
            f"{run['alerts']:,} alerts; peak MiB per process: {memory}"
        )


def _replay_model(directory: Path, model_dir: Path | None) -> dict:
    """`hardship replay` over the district with or without a learned model; the time inside the model's
    annotation (features, scores, reasons) is measured separately."""
    from scoring.monitor import Monitor
    from streams.replay import replay_files

    scorer = None
    if model_dir is not None:
        from scoring.model.store import load_model

        scorer = load_model(model_dir)
    monitor = Monitor(model=scorer)
    inner = {"seconds": 0.0, "calls": 0}
    if monitor.annotate is not None:
        annotate = monitor.annotate

        def timed(routed):  # noqa: ANN001, ANN202
            started = time.perf_counter()
            try:
                return annotate(routed)
            finally:
                inner["seconds"] += time.perf_counter() - started
                inner["calls"] += 1

        monitor.annotate = timed
    inputs = [("registry", directory / "registry.jsonl"), ("filings", directory / "filings.jsonl"),
              ("events", directory / "events.jsonl")]
    with open(os.devnull, "w") as sink:
        started = time.perf_counter()
        summary = replay_files(inputs, sink, sink, monitor)
        seconds = time.perf_counter() - started
    return {"replay_seconds": seconds, "model_seconds": inner["seconds"], "annotations": inner["calls"],
            "alerts": summary.total_alerts, "lines": sum(summary.lines.values())}


@bench.command(name="model")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, path_type=Path),
              help="a model folder written by `hardship model train`")
@click.option("--households", type=click.IntRange(min=1), default=3_000, show_default=True,
              help="households of the simulated district")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True, help="days of events")
@click.option("--seed", type=int, default=12, show_default=True, help="simulator seed")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="where the generated district is kept between runs [default: DATA_DIR/bench-model-district]")
@click.option("--rounds", type=click.IntRange(1, 10), default=2, show_default=True,
              help="replays of each kind, alternating (the machine may be shared)")
def bench_model(model_dir: Path, households: int, days: int, seed: int, data_dir: Path | None, rounds: int) -> None:
    """The learned model's cost: `hardship replay` without a model beside replay with one, same run.

    Prints both replay times, their ratio, and the time spent inside the model's annotation as a
    share of the replay with it (the model scores alerts only, never every event).
    """
    settings = load_settings()
    directory = ensure_district(data_dir or settings.data_dir / "bench-model-district", households, days, seed)
    plain, scored = [], []
    for _ in range(rounds):
        plain.append(run_in_child(lambda: _replay_model(directory, None)))
        scored.append(run_in_child(lambda: _replay_model(directory, model_dir)))
    best_plain = min(r["replay_seconds"] for r in plain)
    best_scored = min(r["replay_seconds"] for r in scored)
    inside = min(r["model_seconds"] for r in scored)
    click.echo(f"district: {households:,} households, {days} days, {plain[0]['lines']:,} input lines, "
               f"{plain[0]['alerts']:,} alerts; cpus {os.cpu_count()}; best of {rounds}")
    click.echo(f"{'phase':<36} {'seconds':>8}")
    click.echo(f"{'replay without a model (baseline)':<36} {best_plain:>8.2f}")
    click.echo(f"{'replay with the model':<36} {best_scored:>8.2f}  ratio {best_scored / best_plain:.3f}")
    click.echo(f"{'inside the model (features, scores)':<36} {inside:>8.3f}  {inside / best_scored:.2%} of the replay "
               f"with it; {scored[0]['annotations']:,} scoring calls, {inside / max(1, scored[0]['alerts']) * 1000:.2f} ms "
               "per alert")


def _mount_optional() -> None:
    """Benchmarks owned by other parts, mounted when their modules are present."""
    import importlib

    for name, target in (("stream", "streams.stream_bench:bench_stream"), ("connector", "connectors.bench:bench_file")):
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        bench.add_command(getattr(module, attr), name=name)


_mount_optional()
