"""`hardship bench stream`: the full pipeline through a broker, beside an empty Faust agent and bare aiokafka.

All three read the same hardship.events topic on the same broker in the same run:
  1. the full pipeline (`hardship worker`): events/s while a producer keeps a backlog, as applied by the
     households agent and as committed (until every offset is committed: changelogs delivered);
  2. p50/p99 event-to-alert latency at half the committed rate, from probe events that each raise an alert;
  3. an empty Faust agent that only counts the events (the framework's floor);
  4. a bare aiokafka consumer (the broker's limit).
"""

from __future__ import annotations

import asyncio
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import click


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], rate: float | None = None,
             sent_at: dict | None = None, probe_prefix: bytes | None = None) -> None:
    from kafka import KafkaProducer

    from connectors.simulator import Pacer
    from streams.kafka_client import client_config

    producer = KafkaProducer(**client_config(bootstrap).kafka_python("bench-producer"), acks="all",
                             enable_idempotence=False, linger_ms=5,
                             batch_size=256 * 1024)
    # the simulator's pacer sends what is due every 10 ms: a sleep before each message cost this process half a
    # core at 1,444 events/s on a 2-core machine (a third with the tick), taken from the worker it measures;
    # each probe's time is taken when it is sent, so the tick adds nothing to the measured latency
    pacer = Pacer(rate, 0.0, 0) if rate else None
    for key, value in records:
        if pacer is not None:
            pacer.wait(0)
        producer.send(topic, key=key, value=value)
        if sent_at is not None and probe_prefix and key.startswith(probe_prefix):
            sent_at[key.decode()] = time.time()
    producer.flush()
    producer.close()


def _events(sim_events, limit: int) -> list[tuple[bytes, bytes]]:
    out = []
    for event in sim_events:
        out.append((event["person_id"].encode(), json.dumps(event, ensure_ascii=False).encode()))
        if len(out) >= limit:
            break
    return out


def _probes(count: int, offset: int) -> list[tuple[bytes, bytes]]:
    """Events about people on no roster with a 32,000-yuan bill: each raises one 漏保 alert at once."""
    from models.resident_id import make_resident_id

    out = []
    for index in range(count):
        number = offset + index
        person_id = make_resident_id("429004", date(1940 + number % 60, 1 + number % 12, 1 + number % 28), number % 1000)
        event = {"event_id": f"probe-{number}", "source": "bench", "type": "medical_bill", "person_id": person_id,
                 "occurred_at": "2026-06-01T10:00:00+08:00", "attributes": {"out_of_pocket_yuan": 32000}}
        out.append((person_id.encode(), json.dumps(event).encode()))
    return out


def _interleave(background: list, probes: list) -> list:
    if not probes:
        return background
    step = max(1, len(background) // len(probes))
    out = []
    probe_iter = iter(probes)
    for index, item in enumerate(background):
        out.append(item)
        if index % step == 0:
            nxt = next(probe_iter, None)
            if nxt is not None:
                out.append(nxt)
    out.extend(probe_iter)
    return out


def _bare_aiokafka(bootstrap: str, topic: str, expected: int) -> float:
    async def run() -> float:
        from aiokafka import AIOKafkaConsumer

        from streams.kafka_client import client_config

        consumer = AIOKafkaConsumer(topic, **client_config(bootstrap).aiokafka("bench-bare"),
                                    group_id=f"bench-bare-{time.time_ns()}",
                                    auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
                                    heartbeat_interval_ms=500, max_poll_records=5000)
        await consumer.start()
        try:
            count = 0
            started = None
            while count < expected:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for messages in batches.values():
                    if started is None:
                        started = time.perf_counter()
                    count += len(messages)
            return count / (time.perf_counter() - started)
        finally:
            await consumer.stop()

    return asyncio.run(run())


def _empty_faust_agent(broker_url: str, topic: str, expected: int, data_dir: Path) -> float:
    """A Faust worker whose only agent counts events: run in a child process, rate reported back."""
    import multiprocessing

    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(
        target=_empty_agent_main, args=(broker_url, topic, expected, str(data_dir), queue), daemon=True
    )
    child.start()
    try:
        rate = queue.get(timeout=300)
    finally:
        child.terminate()
        child.join(10)
    return rate


def _empty_agent_main(broker_url: str, topic: str, expected: int, data_dir: str, queue) -> None:
    import faust

    from streams.collector import tune_for_worker

    tune_for_worker()  # the worker's garbage-collector settings, so that the floor is measured alike
    app = faust.App(f"bench-empty-{time.time_ns()}", broker=broker_url, datadir=data_dir, web_enabled=False,
                    broker_session_timeout=3, broker_heartbeat_interval=0.5, consumer_auto_offset_reset="earliest",
                    topic_disable_leader=True)
    source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    state = {"count": 0, "started": None}

    @app.agent(source)
    async def count(stream):
        async for _value in stream:
            if state["started"] is None:
                state["started"] = time.perf_counter()
            state["count"] += 1
            if state["count"] == expected:
                queue.put(expected / (time.perf_counter() - state["started"]))

    from faust import Worker

    Worker(app, loglevel="error", quiet=True, redirect_stdouts=False).execute_from_commandline()


@click.command(name="stream")
@click.option("--events", "event_count", type=click.IntRange(min=1000), default=60_000, show_default=True,
              help="events sent for the throughput phase (and read by the baselines)")
@click.option("--households", type=click.IntRange(min=10), default=3_000, show_default=True,
              help="households of the simulated district on the roster")
@click.option("--latency-seconds", type=click.IntRange(min=5), default=20, show_default=True,
              help="length of the latency phase at half the sustained (committed) rate")
@click.option("--broker", default=None, metavar="kafka://HOST:PORT",
              help="an existing broker (default: a fresh embedded tansu broker for the run)")
@click.option("--latency-rate", type=click.FloatRange(min=1), default=None,
              help="events/s of the latency phase (default: half the committed rate), to compare builds at one rate")
@click.option("--profile", is_flag=True, help="run the worker under cProfile and print where the time goes")
def bench_stream(event_count: int, households: int, latency_seconds: int, broker: str | None, latency_rate: float | None,
                 profile: bool) -> None:
    """Events per second through one worker, latency at half that rate, beside two baselines."""
    from connectors.simulator import generate
    from streams.broker import EmbeddedBroker, create_topics
    from streams.config import CONTRACT_TOPICS, EVENTS_TOPIC, REGISTRY_TOPIC, bootstrap_servers
    from streams.worker_cli import internal_topics
    from streams.worker_process import WorkerProcess, producer, send_all  # the same helpers as the tests

    embedded = None
    if broker is None:
        embedded = EmbeddedBroker().start()
        broker = embedded.url
    bootstrap = bootstrap_servers(broker)[0]
    work = Path(tempfile.mkdtemp(prefix="hardship-bench-"))
    create_topics(broker, (*CONTRACT_TOPICS, *internal_topics()))
    click.echo(f"broker {broker}{' (embedded tansu)' if embedded else ''}; cpus {os.cpu_count()}; work dir {work}")
    profile_path = work / "worker.prof"
    if profile:
        os.environ["HARDSHIP_PROFILE"] = str(profile_path)
    # the latency probes are bills of persons on no roster: measure the pipeline, not the hold that
    # waits for a roster record on its way (HARDSHIP_PROVISIONAL_HOLD_SECONDS, 60 s in production)
    os.environ["HARDSHIP_PROVISIONAL_HOLD_SECONDS"] = "0"
    worker = WorkerProcess(broker, work / "worker", work / "worker.log")
    os.environ.pop("HARDSHIP_PROFILE", None)
    try:
        sim = generate(households=households, days=365, seed=7)
        prod = producer(bootstrap)
        send_all(prod, REGISTRY_TOPIC, sim.registry, "household_id")
        worker.wait_for("hardship_registry_records_total", len(sim.registry), timeout=300)
        worker.wait_for("hardship_person_updates_total", sum(len(r["members"]) for r in sim.registry), timeout=300)
        click.echo(f"roster of {len(sim.registry):,} households loaded; producing {event_count:,} events …")

        background = _events(sim.events, event_count + 200_000)
        throughput_events = background[:event_count]
        producer_thread = threading.Thread(target=_produce, args=(bootstrap, EVENTS_TOPIC, throughput_events), daemon=True)
        base = worker.metric("hardship_household_ops_total")
        producer_thread.start()
        worker.wait_for("hardship_household_ops_total", base + event_count * 0.1, timeout=300)
        t1, ops1 = time.perf_counter(), worker.metric("hardship_household_ops_total")
        worker.wait_for("hardship_household_ops_total", base + event_count * 0.9, timeout=900)
        t2, ops2 = time.perf_counter(), worker.metric("hardship_household_ops_total")
        sustained = (ops2 - ops1) / (t2 - t1)
        worker.wait_for("hardship_household_ops_total", base + event_count, timeout=900)
        producer_thread.join()
        # the latency phase starts from a worker at rest: the throughput phase leaves a tail of changelog
        # records in the producer, and probes sent into it would measure that tail, not the pipeline
        # applied is not yet committed: the changelog records of those ops are still on their way
        # (Faust's producer buffer), and a rate the worker cannot commit is not one it sustains
        at_rest = _wait_for_rest(worker)
        committed_rate = (event_count * 0.9) / (at_rest - t1)
        click.echo(f"full pipeline applied {sustained:,.0f} events/s, committed {committed_rate:,.0f} events/s; "
                   f"measuring latency at {latency_rate or committed_rate / 2:,.0f} events/s …")

        half = latency_rate or committed_rate / 2
        latency_total = int(half * latency_seconds)
        probe_count = max(50, latency_total // 50)
        mixed = _interleave(background[event_count:event_count + latency_total], _probes(probe_count, 0))
        stages_before = _stages(worker)
        sent_at: dict[str, float] = {}
        received: dict[str, float] = {}
        stop = threading.Event()
        listener = threading.Thread(target=_listen_alerts, args=(bootstrap, received, stop), daemon=True)
        listener.start()
        time.sleep(2)
        _produce(bootstrap, EVENTS_TOPIC, mixed, rate=half, sent_at=sent_at, probe_prefix=b"429004")
        lag_at_end = worker.metric("hardship_partition_lag")  # > a few batches: the worker did not keep up
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(received) < len(sent_at):
            time.sleep(0.5)
        stop.set()
        latencies = [received[k] - sent_at[k] for k in sent_at if k in received]
        p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
        stages = _stage_deltas(stages_before, _stages(worker))
        worker_rss = worker.metric("process_resident_memory_bytes")
    finally:
        worker.stop()
    total_in_topic = event_count + len(mixed)
    click.echo("baselines on the same broker and topic …")
    empty_rate = _empty_faust_agent(broker, EVENTS_TOPIC, total_in_topic, work / "empty")
    bare_rate = _bare_aiokafka(bootstrap, EVENTS_TOPIC, total_in_topic)
    if embedded:
        embedded.stop()

    click.echo("")
    click.echo(f"{'what':<52} {'events/s':>10}  notes")
    click.echo(f"{'bare aiokafka consumer (broker limit)':<52} {bare_rate:>10,.0f}  {total_in_topic:,} messages")
    click.echo(f"{'empty Faust agent, counts events (framework floor)':<52} {empty_rate:>10,.0f}")
    click.echo(f"{'full pipeline, one worker (hardship worker), applied':<52} {sustained:>10,.0f}  "
               f"{sustained / empty_rate:.0%} of the empty agent (ops applied by the households agent)")
    click.echo(f"{'full pipeline, one worker, applied and committed':<52} {committed_rate:>10,.0f}  "
               f"{committed_rate / empty_rate:.0%} of the empty agent (until every offset is committed)")
    click.echo(f"event-to-alert latency at {half:,.0f} events/s: p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms "
               f"({len(latencies)} of {len(sent_at)} probe alerts received)")
    click.echo(f"  latency percentiles: p50 {p50 * 1000:,.0f} ms, p90 {_percentile(latencies, 0.90) * 1000:,.0f} ms, "
               f"p99 {p99 * 1000:,.0f} ms, max {max(latencies, default=float('nan')) * 1000:,.0f} ms")
    click.echo(f"  the worker's lag when the last event of the latency phase was sent: {lag_at_end:,.0f} messages "
               "(a lag that grows means the worker did not keep up with that rate on this machine at that time)")
    click.echo(f"  the worker's resident memory at the end of the latency phase: {worker_rss / 2**20:,.0f} MiB")
    click.echo("  where it goes during the latency phase (the worker's histograms; p99 is a bucket's upper bound):")
    for name, (count, mean, p99_bound) in stages.items():
        click.echo(f"    {name:<58} {count:>7,} × mean {mean * 1000:>6,.0f} ms, p99 ≤ {p99_bound * 1000:>6,.0f} ms")
    if profile and profile_path.exists():
        click.echo("\nwhere the worker's time goes (cProfile, top 25 by own time):")
        stats = pstats.Stats(str(profile_path), stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)


STAGES = {  # what the latency phase prints: (metric, labels) of the worker's histograms
    "wait before the events agent takes a batch": ("hardship_batch_wait_seconds", {"agent": "events"}),
    "wait before the households agent takes a batch (the hop)": ("hardship_batch_wait_seconds", {"agent": "households"}),
    "households agent's batch": ("hardship_batch_seconds", {"agent": "households"}),
    "producer flush before an offset commit": ("hardship_commit_flush_seconds", {}),
    "event to alert, inside the worker": ("hardship_event_to_alert_seconds", {}),
    "garbage collector, generation 1 (the event loop stops)": ("hardship_gc_pause_seconds", {"generation": "1"}),
    "garbage collector, full collections (generation 2)": ("hardship_gc_pause_seconds", {"generation": "2"}),
}


def _stages(worker) -> dict[str, dict[str, float]]:
    """The cumulative bucket counts, count and sum of each histogram of STAGES, read from the worker now."""
    import re
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, dict[str, float]] = {}
    for stage, (metric, labels) in STAGES.items():
        samples: dict[str, float] = {}
        for line in text.splitlines():
            match = re.match(rf"^{metric}_(bucket|count|sum)(\{{[^}}]*\}})? (\S+)$", line)
            if not match or not all(f'{k}="{v}"' in (match.group(2) or "") for k, v in labels.items()):
                continue
            le = re.search(r'le="([^"]+)"', match.group(2) or "")
            samples[le.group(1) if le else match.group(1)] = float(match.group(3))
        out[stage] = samples
    return out


def _stage_deltas(before: dict, after: dict) -> dict[str, tuple[int, float, float]]:
    """stage -> (observations, mean seconds, the upper bound of the bucket that holds the 99th percentile)."""
    figures = {}
    for stage, samples in after.items():
        old = before.get(stage, {})
        delta = {key: value - old.get(key, 0.0) for key, value in samples.items()}
        count = int(delta.get("count", 0))
        mean = delta.get("sum", 0.0) / count if count else float("nan")
        bounds = sorted((float(le), n) for le, n in delta.items() if le not in ("count", "sum"))
        p99 = next((bound for bound, n in bounds if count and n >= 0.99 * count), float("nan"))
        figures[stage] = (count, mean, p99)
    return figures


def _wait_for_rest(worker, timeout: float = 300.0) -> float:
    """Until the worker has committed everything it holds (its lag gauges all 0) twice in a row; returns
    the time of the first of those readings (time.perf_counter(): up to one polling interval late)."""
    deadline = time.monotonic() + timeout
    quiet, first_quiet = 0, time.perf_counter()
    while time.monotonic() < deadline and quiet < 2:
        time.sleep(0.1 if quiet == 0 else 2.0)
        if worker.metric("hardship_partition_lag") == 0:
            if quiet == 0:
                first_quiet = time.perf_counter()
            quiet += 1
        else:
            quiet = 0
    return first_quiet


def _listen_alerts(bootstrap: str, received: dict, stop: threading.Event) -> None:
    from kafka import KafkaConsumer

    from streams.kafka_client import client_config

    consumer = KafkaConsumer("hardship.alerts", **client_config(bootstrap).kafka_python("bench-alerts"),
                             auto_offset_reset="latest",
                             enable_auto_commit=False, consumer_timeout_ms=500, fetch_max_wait_ms=20)
    try:
        while not stop.is_set():
            for message in consumer:
                key = message.key.decode() if message.key else ""
                if key.startswith("person:429004"):
                    received.setdefault(key[len("person:"):], time.time())
    finally:
        consumer.close()
