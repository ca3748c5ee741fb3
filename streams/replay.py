"""`hardship replay`: the streaming core over JSON Lines files, for backtests of a policy change.

Registry and filings first, then events (and outcomes, if given) in file order; alerts and dead
letters are written as JSON Lines. The same validators and the same household core as the Faust
agents, so a replay gives the alerts the stream would give.
"""

from __future__ import annotations

import gc
import heapq
import json
import re
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from models.validation import CHINA_STANDARD_TIME, VALIDATORS, Rejected, dead_letter, decode_event
from scoring import routing
from scoring.monitor import Monitor
from scoring.policy import Policy, PolicyError, load_policy

PROGRESS_EVERY = 20_000


@dataclass
class ReplaySummary:
    lines: Counter = field(default_factory=Counter)  # by stream
    alerts: Counter = field(default_factory=Counter)  # by (kind, level)
    dead_letters: Counter = field(default_factory=Counter)  # by reason code
    households: int = 0
    peak_rss_mib: list[float] = field(default_factory=list)  # per process, in the order of the partitions

    @property
    def total_alerts(self) -> int:
        return sum(self.alerts.values())

    @property
    def total_dead_letters(self) -> int:
        return sum(self.dead_letters.values())


def peak_rss_mib() -> float:
    """This process's peak resident memory (max RSS) so far, in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


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


class Partition:
    """Which households one of `jobs` processes owns: by a hash of the household id. Events go to the
    owner of the person's household (after the roster is read, the person index no longer changes
    in a replay), or of the person's provisional household; outcomes by their household id."""

    _PERSON_ID = re.compile(r'"person_id"\s*:\s*"([^"\\]*)"')
    _HOUSEHOLD_ID = re.compile(r'"household_id"\s*:\s*"([^"\\]*)"')

    def __init__(self, index: int, jobs: int) -> None:
        self.index = index
        self.jobs = jobs
        # the owner of an event line by the person id in its text; events never change the person index
        # (only roster records do), so `replay_files` keeps this for the events file and empties it before
        self.event_owners: dict[str, int] = {}

    def owner(self, household_id: str) -> int:
        return zlib.crc32(household_id.encode("utf-8", "surrogateescape")) % self.jobs

    def owns(self, household_id: str) -> bool:
        return self.owner(household_id) == self.index

    def household_of_person(self, monitor: Monitor, person_id: str) -> str:
        return routing.household_of(person_id, monitor.tables[routing.PERSONS].get(person_id))

    def line_owner(self, stream: str, line: str, monitor: Monitor) -> int | None:
        """The owner of an event or outcome line read cheaply from its text; None when the text does
        not say for certain (then every process decodes the line and routes the validated record)."""
        if stream == "events":
            if line.count('"person_id"') != 1:
                return None
            found = self._PERSON_ID.search(line)
            if found is None:
                return None
            text = found.group(1)
            owner = self.event_owners.get(text)
            if owner is None:
                owner = self.owner(self.household_of_person(monitor, text.strip().upper()))
                self.event_owners[text] = owner
            return owner
        if line.count('"household_id"') != 1:
            return None
        found = self._HOUSEHOLD_ID.search(line)
        return self.owner(found.group(1)) if found else None

    def record_owner(self, stream: str, record: dict, monitor: Monitor) -> int:
        if stream == "events":
            return self.owner(self.household_of_person(monitor, record["person_id"]))
        return self.owner(record["household_id"])


@contextmanager
def no_cyclic_collections():
    """No passes of Python's cyclic garbage collector while a replay runs. The household core makes no
    reference cycles (plain dicts and lists, freed by reference counting as soon as a newer state
    replaces them; tests/test_core_fast_paths.py checks that a replay leaves no cyclic garbage), so
    the collector's passes found nothing, yet each walked the young objects and everything they point
    at: with the default threshold (700 new objects) it ran every few events, and even with 50,000 its
    passes over a district's growing tables took an eighth of the replay. The collector is switched
    off and what exists is frozen out of its passes; both are restored after, as they were."""
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        # what the replay made is frozen too before the collector comes back, so that its first pass
        # is not one over all of it (a young generation of a million objects): it joins the oldest
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def replay_files(
    inputs: list[tuple[str, Path]],
    alerts_out: IO[str],
    deadletter_out: IO[str],
    monitor: Monitor,
    progress: Callable[[str, int], None] | None = None,
    partition: Partition | None = None,
) -> ReplaySummary:
    """Feed each (stream, file) in order through the monitor; write alerts and dead letters.

    With `partition`, only the households it owns are processed and written, and each output line
    is prefixed with its input position (stream, line, sequence) so that the outputs of all the
    partitions merge into the order one process gives (see `replay_parallel`).
    """
    with no_cyclic_collections():
        return _replay_files(inputs, alerts_out, deadletter_out, monitor, progress, partition)


def _replay_files(inputs, alerts_out, deadletter_out, monitor, progress, partition) -> ReplaySummary:
    summary = ReplaySummary()
    loads = json.loads
    dumps = json.dumps
    write_alert = alerts_out.write
    for stream_index, (stream, path) in enumerate(inputs):
        validate = VALIDATORS[stream]
        feed = getattr(monitor, {"events": "event", "registry": "registry", "filings": "filing", "outcomes": "outcome"}[stream])
        on_bytes = (lambda n, s=stream: progress(s, n)) if progress else None
        routed = partition is not None and stream in ("events", "outcomes")
        if partition is not None:
            partition.event_owners.clear()
        count = 0
        for number, line in read_lines(path, on_bytes):
            count += 1
            owner = partition.line_owner(stream, line, monitor) if routed else None
            if owner is not None and owner != partition.index:
                continue
            try:
                if stream == "events":
                    record = decode_event(line)  # decoded and validated in one pass (msgspec)
                else:
                    try:
                        raw = loads(line)
                    except ValueError as exc:
                        raise Rejected("MALFORMED_JSON", f"not valid JSON ({exc}); each line must be one JSON object") from None
                    record = validate(raw)
            except Rejected as rejected:
                if partition is not None and (owner if owner is not None else 0) != partition.index:
                    continue  # another process writes this dead letter
                summary.dead_letters[rejected.code] += 1
                letter = dead_letter(stream, line.rstrip("\n"), rejected, file=str(path), line=number)
                tag = f"{stream_index}\t{number}\t0\t" if partition is not None else ""
                deadletter_out.write(tag + dumps(letter, ensure_ascii=False) + "\n")
                continue
            if routed and owner is None and partition.record_owner(stream, record, monitor) != partition.index:
                continue
            alerts = feed(record)
            if alerts:
                stamp = now_iso()
                for sequence, alert in enumerate(alerts):
                    if partition is not None and not routed and not partition.owns(alert["household_id"]):
                        continue  # roster and filings are read by every process; each writes its own
                    alert["emitted_at"] = stamp
                    summary.alerts[(alert["kind"], alert["level"])] += 1
                    tag = f"{stream_index}\t{number}\t{sequence}\t" if partition is not None else ""
                    write_alert(tag + dumps(alert, ensure_ascii=False) + "\n")
        summary.lines[stream] += count
    summary.peak_rss_mib = [peak_rss_mib()]
    if partition is None:
        summary.households = len(monitor.households)
    else:
        summary.households = sum(1 for household_id in monitor.households if partition.owns(household_id))
    return summary


def _replay_part(inputs, policy, index: int, jobs: int, alerts_path: str, dead_path: str, done, results,
                 model=None, features: bool = False) -> None:
    """One process of `replay_parallel`: its summary goes back on `results` (an exception as text)."""
    def count_bytes(_stream: str, nbytes: int) -> None:
        with done.get_lock():
            done.value += nbytes

    try:
        with open(alerts_path, "w", encoding="utf-8") as alerts_file, open(dead_path, "w", encoding="utf-8") as dead_file:
            summary = replay_files(inputs, alerts_file, dead_file, Monitor(policy, model=model, features=features),
                                   count_bytes if index == 0 else None,
                                   Partition(index, jobs))
        results.put((index, summary, None))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent, which stops the run
        results.put((index, None, f"{type(exc).__name__}: {exc}"))


def _merge_tagged(paths: list[str], out: IO[str]) -> None:
    """Merge the partitions' tagged outputs into input order and drop the tags."""
    def lines(path: str):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                stream_index, number, sequence, body = line.split("\t", 3)
                yield (int(stream_index), int(number), int(sequence)), body

    for _key, body in heapq.merge(*(lines(p) for p in paths), key=lambda item: item[0]):
        out.write(body)


def replay_parallel(inputs: list[tuple[str, Path]], alerts_out: IO[str], deadletter_out: IO[str], policy: Policy,
                    jobs: int, progress: Callable[[str, int], None] | None = None, model=None,
                    features: bool = False) -> ReplaySummary:
    """`replay_files` over `jobs` processes, households partitioned between them; the alerts and dead
    letters come out identical to one process's (in the same order; only `emitted_at` differs)."""
    import multiprocessing
    import queue
    import tempfile

    context = multiprocessing.get_context("fork")  # the policy and inputs are inherited, not sent
    done = context.Value("q", 0)
    results = context.Queue()
    summaries: dict[int, ReplaySummary] = {}
    with tempfile.TemporaryDirectory(prefix="hardship-replay-") as scratch:
        paths = [(f"{scratch}/alerts-{i}", f"{scratch}/dead-{i}") for i in range(jobs)]
        processes = [
            context.Process(target=_replay_part, args=(inputs, policy, i, jobs, *paths[i], done, results, model, features),
                            name=f"hardship-replay-{i}")
            for i in range(jobs)
        ]
        for process in processes:
            process.start()
        reported = 0
        try:
            while len(summaries) < jobs:
                try:
                    index, summary, error = results.get(timeout=0.2)
                except queue.Empty:
                    if any(not p.is_alive() and p.exitcode not in (0, None) for p in processes):
                        raise RuntimeError("a replay process died; see the messages above") from None
                else:
                    if error is not None:
                        raise RuntimeError(f"replay process {index} failed: {error}")
                    summaries[index] = summary
                if progress is not None and done.value > reported:
                    progress("events", done.value - reported)
                    reported = done.value
        finally:
            for process in processes:
                if process.is_alive() and len(summaries) < jobs:
                    process.terminate()
                process.join()
        _merge_tagged([a for a, _ in paths], alerts_out)
        _merge_tagged([d for _, d in paths], deadletter_out)
    summaries = [summaries[i] for i in range(jobs)]
    merged = ReplaySummary(lines=summaries[0].lines)
    for summary in summaries:
        merged.alerts.update(summary.alerts)
        merged.dead_letters.update(summary.dead_letters)
        merged.households += summary.households
        merged.peak_rss_mib.extend(summary.peak_rss_mib)
    return merged


def print_summary(summary: ReplaySummary, seconds: float, out: IO[str]) -> None:
    from scoring.reasons import KINDS_ZH

    total = sum(summary.lines.values())
    rate = total / seconds if seconds > 0 else 0.0
    lines = ", ".join(f"{stream} {count:,}" for stream, count in summary.lines.items())
    out.write(f"read {total:,} lines ({lines}) in {seconds:.1f} s, {rate:,.0f} lines/s; {summary.households:,} households\n")
    if summary.peak_rss_mib:
        memory = ", ".join(f"{mib:,.0f} MiB" for mib in summary.peak_rss_mib)
        out.write(f"peak memory per process: {memory}\n")
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


def load_model_or_exit(model_dir: Path | None):
    """The learned model of --model, or None; a file that cannot be used stops the command at start."""
    if model_dir is None:
        return None
    from scoring.model.store import ModelError, load_model

    try:
        return load_model(model_dir)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from None


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
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="processes: households are partitioned between them; the output is the same as with one")
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="a learned model folder (`hardship model train --out DIR`): each alert gets model_score, "
                   "model_reasons and the model's version; without it the alerts are exactly as the rules make them")
@click.option("--features", is_flag=True,
              help="add each alert's model_features (the household when it was raised): the training set of a "
                   "first model, before any model exists (--model adds them too)")
def replay(registry_path, filings_path, events_path, outcomes_path, policy_path, alerts_out, deadletter_out, progress,
           jobs, model_dir, features):
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
    model = load_model_or_exit(model_dir)
    show = sys.stderr.isatty() if progress is None else progress
    bar, advance = _progress_reporter([p for _, p in inputs], show)
    started = time.perf_counter()
    with open(alerts_out, "w", encoding="utf-8") as alerts_file, open(deadletter_out, "w", encoding="utf-8") as dead_file:
        def run() -> ReplaySummary:
            if jobs > 1:
                return replay_parallel(inputs, alerts_file, dead_file, policy, jobs, advance, model, features)
            return replay_files(inputs, alerts_file, dead_file, Monitor(policy, model=model, features=features), advance)

        if bar is not None:
            with bar:
                summary = run()
        else:
            summary = run()
    print_summary(summary, time.perf_counter() - started, sys.stdout)
    if summary.total_dead_letters:
        click.echo(f"{summary.total_dead_letters:,} input lines were rejected; see {deadletter_out} for each reason.")
