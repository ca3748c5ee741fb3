"""The Faust app: topics, tables and agents, thin drivers of the router of scoring/routing.py.

Data flow (all JSON; internal topics carry {"op": …} messages):

  hardship.events   (person_id) ─ events agent: validate, look up the person's household ─┐
  hardship.registry (household) ─ registry agent: validate ──────────────────────────────┤
  hardship.outcomes (household) ─ outcomes agent: validate ──────────────────────────────┼─▶ hardship-households
  hardship.filings  (staff_id)  ─ filings agent ─▶ hardship-persons (person_id)          │   (household_id)
                                                   persons agent: index, filed staff ────┘          │
  households agent: the core's pure functions over the households table ─▶ hardship.alerts ◀────────┘
  every bad input ─▶ hardship.deadletter with its reason

The agents decode, validate or dead-letter, get and put table values and send what the router
returns; `hardship replay` runs the same router over dict tables (scoring/monitor.py). Each agent
takes events in batches (`take_events`) and writes each touched table key once per batch; the router
is idempotent, so Faust's redelivery after a rebalance or a crash changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import faust
import msgspec
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition
from faust.streams import _current_event

from models.validation import (
    Rejected,
    dead_letter,
    validate_event,
    validate_filing,
    validate_outcome,
    validate_registry,
)
from scoring import routing as R
from scoring.model.hook import annotator
from scoring.policy import Policy, load_policy
from streams import metrics
from streams.changelog import TableWriter, dumps_state
from streams.config import (
    ALERTS_TOPIC,
    DEADLETTER_TOPIC,
    EVENTS_TOPIC,
    FILINGS_TOPIC,
    OUTCOMES_TOPIC,
    REGISTRY_TOPIC,
)
from streams.faust_sensor import use_cached_prometheus_monitor
from streams.group_offsets import GroupOffsets
from streams.kafka_client import client_config
from streams.offset_guard import DROP_ENV, OffsetGuard, OffsetWatch, drop_once
from streams.replay import now_iso
from streams.topics import replication_factor

log = logging.getLogger(__name__)

decode_json = msgspec.json.Decoder().decode  # the packs the agents forward (encoded by dumps_state)

APP_ID = "hardship-monitor"
HOUSEHOLDS_TOPIC = "hardship-households"  # internal: everything that changes one household
PERSONS_TOPIC = "hardship-persons"  # internal: membership and filings of one person
BATCH_MAX = 500
# The keyed agents take packs (each up to a source batch's ops for one partition): a few per batch, so
# that a backlog does not make one batch of tens of thousands of ops whose alerts wait for all of them.
PACKS_MAX = 8
CHANGELOG_BUFFER = 20 * BATCH_MAX
COMMIT_INTERVAL = 1.0  # seconds between offset commits (each waits for the changelog records before it)
COMMIT_EVERY_NEVER = 2**62  # no commit by message count (see create_app)
BATCH_WITHIN = 0.05
# The largest input forwarded between agents: aiokafka refuses a message over its max_request_size
# (1,000,000 bytes), and a forwarded op wraps the input in a few hundred bytes more.
MAX_INPUT_BYTES = 900_000
MAX_PACK_BYTES = 950_000  # a forwarded message carrying a batch's ops to one partition is split above this
PRODUCER_BATCH_BYTES = 512 * 1024
KEY_PARTITION_CACHE = 1 << 17  # keys whose partition is remembered (a few MB; a district has fewer)
DEAD_LETTER_INPUT_CHARS = 4_000  # an oversized input is dead-lettered with its head only
PROVISIONAL_HOLD_ENV = "HARDSHIP_PROVISIONAL_HOLD_SECONDS"
PROVISIONAL_HOLD_SECONDS = 60.0  # how long a 漏保 of a person on no roster waits for a roster record on its way
PENDING_SCAN_SECONDS = 60.0
STALL_ENV = "HARDSHIP_STALL_SECONDS"
STALL_SECONDS = 120.0  # /healthz answers 503 when a partition has lag and no commit for this long
CLUSTER_CHECK_SECONDS = 5.0  # how often the worker asks the broker for its cluster id (a new id: it lost its data)
RECOVERY_EXIT_ENV = "HARDSHIP_RECOVERY_EXIT_SECONDS"
RECOVERY_EXIT_SECONDS = 600.0  # a worker stuck this long in table recovery exits with a clear message (0: never)


class Liveness:
    """Per partition of the agents' topics: lag (high water - committed) and seconds since the committed
    offset last moved (or the partition was last caught up). Shown as gauges and on /healthz."""

    def __init__(self, topics: set[str]) -> None:
        self.topics = topics
        self.committed: dict[tuple[str, int], int | None] = {}
        self.progress_at: dict[tuple[str, int], float] = {}
        self.lag: dict[tuple[str, int], int] = {}
        self.known: dict[tuple[str, int], bool] = {}  # whether the partition's high water is known yet
        self.high: dict[tuple[str, int], int | None] = {}
        # the highest offset this worker ever committed per partition, kept across rebalances (Faust forgets
        # its committed offsets on every rebalance): offsets never go back unless the broker lost data. Only
        # commits the broker accepted count (see count_commits): Faust records a commit as made even when
        # it failed, as one does while the group rebalances, and the partition may go on elsewhere from
        # a lower offset.
        self.peak: dict[tuple[str, int], int] = {}

    def count_commits(self, consumer) -> None:
        """Wrap the consumer's commit: each offset the broker accepted raises the partition's peak."""
        faust_commit = consumer._commit

        async def commit(offsets) -> bool:
            done = await faust_commit(offsets)
            if done:
                for tp, offset in offsets.items():
                    key = (tp.topic, tp.partition)
                    if key[0] in self.topics and offset > self.peak.get(key, -1):
                        self.peak[key] = offset
            return done

        consumer._commit = commit

    def update(self, consumer, now: float) -> None:
        try:
            assigned = consumer.assignment()
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            return
        seen = set()
        for tp in assigned:
            if tp.topic not in self.topics:
                continue
            key = (tp.topic, tp.partition)
            seen.add(key)
            committed = consumer._committed_offset.get(tp)  # Faust keeps no public accessor
            high = consumer.highwater(tp)
            lag = max(0, (high or 0) - (committed or 0)) if high is not None else 0
            self.known[key] = high is not None
            self.high[key] = high
            if key not in self.progress_at or committed != self.committed.get(key) or lag == 0:
                self.progress_at[key] = now
            self.committed[key] = committed
            self.lag[key] = lag
            metrics.PARTITION_LAG.labels(tp.topic, str(tp.partition)).set(lag)
            metrics.SINCE_PROGRESS.labels(tp.topic, str(tp.partition)).set(now - self.progress_at[key])
        for key in set(self.lag) - seen:  # revoked: no longer this worker's
            for table in (self.lag, self.committed, self.progress_at, self.known, self.high):
                table.pop(key, None)
            metrics.PARTITION_LAG.remove(key[0], str(key[1]))
            metrics.SINCE_PROGRESS.remove(key[0], str(key[1]))

    def report(self, now: float, stall_seconds: float, recovering_seconds: float | None = None) -> dict:
        partitions = [
            {"topic": topic, "partition": partition, "lag": self.lag[(topic, partition)],
             "seconds_since_progress": round(now - self.progress_at[(topic, partition)], 1)}
            for topic, partition in sorted(self.lag)
        ]
        stalled = [p for p in partitions if p["lag"] > 0 and p["seconds_since_progress"] >= stall_seconds]
        stuck_in_recovery = recovering_seconds is not None and recovering_seconds >= stall_seconds
        return {"status": "stalled" if stalled or stuck_in_recovery else "ok", "stall_seconds": stall_seconds,
                "stalled": stalled, "recovering_seconds": recovering_seconds, "partitions": partitions}


def recovering_seconds(app: faust.App) -> float | None:
    """How long the worker has been restoring its tables from the changelogs (None: not restoring)."""
    recovery = app.tables.recovery
    started = getattr(recovery, "_recovery_started_at", None)
    if not getattr(app, "in_recovery", False) or started is None:
        return None
    return time.monotonic() - started


def start_recovery_watchdog(app: faust.App) -> None:
    """Started by `hardship worker`: HARDSHIP_RECOVERY_EXIT_SECONDS (default 600; 0 turns it off)."""
    exit_after = float(os.environ.get(RECOVERY_EXIT_ENV) or RECOVERY_EXIT_SECONDS)
    if exit_after > 0:
        exit_when_stuck(app, exit_after)


def exit_when_stuck(app: faust.App, exit_after: float) -> None:
    """A watchdog thread: a worker stuck in table recovery for `exit_after` seconds says why and exits
    (code 3), never sitting silent. The usual cause on the embedded broker is a broker restart: tansu
    keeps nothing, so the changelogs the worker waits for are gone; recovery is a replay of the inputs
    (docs/operations.md)."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(min(5.0, exit_after))
            seconds = recovering_seconds(app)
            if seconds is not None and seconds >= exit_after:
                _exit_worker(3, "the worker has been restoring its tables for %.0f s and the broker does not send "
                             "the changelogs it announced: did the broker restart and lose its data? (the embedded "
                             "broker keeps nothing). Exiting; recover by replaying the inputs (docs/operations.md).",
                             seconds)

    threading.Thread(target=watch, name="recovery-watchdog", daemon=True).start()


def provisional_hold_seconds() -> float:
    return float(os.environ.get(PROVISIONAL_HOLD_ENV) or PROVISIONAL_HOLD_SECONDS)


@dataclass
class StreamSettings:
    broker_url: str
    partitions: int = 4
    store: str = "memory://"
    data_dir: Path = Path("data")
    web_port: int | None = None
    web_host: str = "127.0.0.1"
    policy: Policy | None = None
    embedded_broker: bool = False
    app_id: str = APP_ID
    provisional_hold_seconds: float | None = None  # None: HARDSHIP_PROVISIONAL_HOLD_SECONDS or 60 s
    model: object | None = None  # the learned model (scoring.model.store.Scorer): its fields on each alert


def _raw_topic(app: faust.App, name: str, partitions: int, internal: bool = False) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=internal,
    )


def _with_scheme(broker_url: str, scheme: str) -> str:
    """kafka://h:p,h2:p -> tansu://h:p;h2:p (Faust's list form)."""
    hosts = broker_url.split("://", 1)[-1]
    return ";".join(f"{scheme}://{host}" for host in hosts.split(",") if host)


def _key(event) -> str:
    key = event.key
    return key.decode("utf-8") if isinstance(key, bytes) else str(key or "")


def in_key_context(event) -> None:
    """Make `event` the one that table writes of its key are filed under (the RocksDB store files a
    write under the current event's partition), without moving the stream's `current_event`.

    `Stream.take_events` reads `stream.current_event` after it waits for a batch to be consumed, so
    moving it (`stream._set_current_event`) while the agent works on a batch pairs the next message
    with a stale event: that message is never yielded and Faust commits past it (the lost-message
    "stall"). Only the context variable that `faust.streams.current_event()` reads is set here; it
    is local to the agent's task, which the passive reader of take_events does not share.
    """
    _current_event.set(weakref.ref(event))


def drain_before_commit(app: faust.App) -> None:
    """Before an offset commit, every changelog record queued so far is handed to the producer and
    delivered; records queued after the flush began are not waited for.

    Faust flushes its producer before it commits offsets, but its buffer of changelog records gives up
    after 0.1 s without a send (`ProducerBuffer.flush_atmost`): on a loaded machine the commit then passed
    table writes still queued, and a crash lost them while their messages were committed (seen once in
    the rebalance test: a household one level short). Draining the buffer until it is empty does not end
    while agents keep writing, so the commit, taken on its timer while the agents run on, waited for
    ever under load. So the buffer's puts and sends are counted: the flush waits until every record put
    before it began has been sent (the buffer is first in, first out; the offsets to commit were taken
    before the flush, so their writes are among those), then for the producer's delivery of what is in
    flight. Wrapped, not patched.

    The tables' own writes no longer pass through that buffer (streams/changelog.py): their records are
    in the producer (aiokafka's accumulator) before the agent takes its next batch, so before the batch's
    offsets can be committed, and the producer's flush waits for every record it holds.

    Every message the worker sends (table writes, forwarded ops, alerts) is watched: when the producer
    gives up on one after its retries, the flush does not return and the worker exits (code 4, "could not
    be delivered"), so that no offset is committed past what sent it; a restart reads it again.
    """
    producer = app.producer
    buffer = producer.buffer
    counts = {"put": 0, "sent": 0}
    buffer_put, send_pending = buffer.put, buffer._send_pending
    undelivered: list[str] = []  # messages the producer gave up on (after its retries)
    producer_send = producer.send

    def note_failure(future) -> None:
        if future.cancelled() or future.exception() is not None:
            undelivered.append("cancelled" if future.cancelled() else repr(future.exception()))

    async def send(*args, **kwargs):
        future = await producer_send(*args, **kwargs)
        future.add_done_callback(note_failure)
        return future

    def put(fut) -> None:
        counts["put"] += 1
        buffer_put(fut)

    async def sent(fut) -> None:  # the buffer's task hands records to the producer one at a time, in order
        await send_pending(fut)
        counts["sent"] += 1

    async def flush() -> None:
        started = time.perf_counter()
        target = counts["put"]
        while counts["sent"] < target:
            if buffer.state != "running":
                raise RuntimeError("cannot flush: the producer's buffer of changelog records is not running")
            buffer.message_sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(buffer.message_sent.wait(), timeout=0.1)
        if producer._producer is not None:  # aiokafka's: delivers every batch it holds now
            await producer._producer.flush()
        for _ in range(3):  # the done-callbacks of what was just delivered run on the next turns of the loop
            await asyncio.sleep(0)
        if undelivered:
            message_not_delivered(len(undelivered), undelivered[0])
        metrics.COMMIT_FLUSH_SECONDS.observe(time.perf_counter() - started)

    buffer.put = put
    buffer._send_pending = sent
    producer.send = send
    producer.flush = flush


def message_not_delivered(count: int, first: str) -> None:
    """The producer gave up on a message (a table write, a forwarded op or an alert): the offsets of what
    sent it must not be committed. Say so and exit (code 4): a restart reads again from the last commit."""
    _exit_worker(4, "%d message(s) could not be delivered to the broker (first: %s); exiting before any offset is "
                 "committed past them. Restart the worker: it reads again from its last commit.", count, first)


async def confirm_lost_data(group, message, committed: int, checked: dict) -> None:
    """A message below the offset this worker committed on its partition: either the broker lost its data
    (the log is now shorter than what was committed: exit) or a rebalance gave it again (the group's
    committed offset was read before a later commit landed, or a late commit moved it back: at least once,
    and the router applies a message once, so go on). `checked` keeps, per partition, the committed
    offset whose log was found long enough, so that a redelivered run of messages is checked once."""
    tp = (message.topic, message.partition)
    if checked.get(tp) == committed:
        return
    try:
        end = (await group.ends(message.topic)).get(TopicPartition(message.topic, message.partition))
    except Exception as exc:  # noqa: BLE001 - the broker is away: the recovery watchdog is the other guard
        log.warning("could not read the end of %s[%d] (%r)", message.topic, message.partition, exc)
        await group.close()
        return
    if end is not None and end < committed:
        broker_lost_data(f"{message.topic}[{message.partition}] ends at offset {end}, below the offset {committed} "
                         "this worker committed there")
    checked[tp] = committed
    log.warning("offset %d of %s[%d] given again below the offset %d this worker committed there (a rebalance; "
                "its log ends at %s)", message.offset, message.topic, message.partition, committed, end)


def broker_lost_data(evidence: str) -> None:
    """Say that the broker lost what it held, and exit (code 3): a worker whose tables and offsets no longer
    match the broker's topics must not go on silently. Recovery is a replay of the inputs."""
    _exit_worker(3, "%s: the broker lost its data (did it restart? the embedded broker keeps nothing). Exiting; "
                 "recover by restarting the worker and replaying the inputs (docs/operations.md).", evidence)


def _exit_worker(code: int, message: str, *args: object) -> None:
    """Log why, flush the logs and leave at once (no shutdown that could commit an offset on the way out)."""
    log.critical(message, *args)
    logging.shutdown()
    os._exit(code)


def create_app(settings: StreamSettings) -> faust.App:
    """A Faust app with the hardship agents wired to `settings.broker_url`."""
    policy = settings.policy or load_policy()
    annotate = annotator(settings.model, policy)
    partitions = settings.partitions
    hold = settings.provisional_hold_seconds if settings.provisional_hold_seconds is not None else provisional_hold_seconds()
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    kafka = client_config(settings.broker_url)  # the one Kafka client configuration of every client
    app_settings = {
        "broker": settings.broker_url,
        "store": settings.store,
        "datadir": str(settings.data_dir / "faust"),
        "topic_partitions": partitions,
        "topic_replication_factor": replication_factor(),  # HARDSHIP_REPLICATION_FACTOR (streams/topics.py)
        "broker_credentials": kafka.faust_credentials(),  # TLS/SASL from HARDSHIP_KAFKA_* (streams/kafka_client.py)
        "broker_client_id": kafka.client_id("worker"),
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Offsets are committed on the timer only, in the consumer's own task. A commit every n messages is
        # made inside the loop that hands messages to every agent, which then waits for the producer to
        # deliver everything (changelogs included): seconds on a loaded machine, and every event in flight
        # waited with it (the p99 event-to-alert latency).
        "broker_commit_every": COMMIT_EVERY_NEVER,
        "broker_commit_interval": COMMIT_INTERVAL,
        # Household states are kilobytes: at the default 16 kB a producer batch holds a few changelog
        # records, and the broker's per-batch cost made every commit wait seconds for the producer to
        # drain (alerts queue behind it). Recovery stays exact on tansu (streams/tansu.py reads the
        # newest batch whole, whatever its size).
        "producer_max_batch_size": PRODUCER_BATCH_BYTES,
        "producer_linger_ms": 5,
        "web_enabled": settings.web_port is not None,
        "web_port": settings.web_port or 6066,
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "table_cleanup_interval": 3600.0,
    }
    if settings.embedded_broker:
        # tansu holds a consumer-group join for half the session timeout (DESIGN.md)
        app_settings["broker_session_timeout"] = 3
        app_settings["broker_heartbeat_interval"] = 0.5
        # tansu reports the end of a partition short (DESIGN.md); its transport corrects the end
        # offsets that table recovery reads up to (streams/tansu.py).
        app_settings["broker_consumer"] = _with_scheme(settings.broker_url, "tansu")
    app = faust.App(settings.app_id, **app_settings)
    # Table writes queue changelog records in the producer's buffer; at its default of 100 the
    # agent stalls after every hundredth write of a batch (waiting 0.1 s a message to drain).
    app.producer.buffer.max_messages = CHANGELOG_BUFFER
    drain_before_commit(app)
    if settings.web_port is not None:
        from faust.sensors.prometheus import setup_prometheus_sensors

        setup_prometheus_sensors(app)  # Faust's own sensor and our metrics at /metrics of the worker
        use_cached_prometheus_monitor(app)  # the same sensor without a labels() lookup per message

    events_topic = _raw_topic(app, EVENTS_TOPIC, partitions)
    registry_topic = _raw_topic(app, REGISTRY_TOPIC, partitions)
    filings_topic = _raw_topic(app, FILINGS_TOPIC, partitions)
    outcomes_topic = _raw_topic(app, OUTCOMES_TOPIC, partitions)
    deadletter_topic = _raw_topic(app, DEADLETTER_TOPIC, partitions)
    households_topic = _raw_topic(app, HOUSEHOLDS_TOPIC, partitions, internal=True)
    persons_topic = _raw_topic(app, PERSONS_TOPIC, partitions, internal=True)

    # Keys are bytes, written raw to the changelog: a str key would be JSON there ('"hh-1"'), so the
    # partitioner would file a household's changelog record on another partition than its messages,
    # and a standby of that partition would feed a worker's own older writes back into its table.
    table_options = {"partitions": partitions, "key_type": bytes, "use_partitioner": True}
    households = app.Table("households", default=None, **table_options)
    persons = app.Table("persons", default=None, **table_options)  # person_id -> {"h": household, "filed": [...]}
    filings = app.Table("filings", default=None, **table_options)  # staff_id -> the filing applied
    liveness = Liveness({EVENTS_TOPIC, REGISTRY_TOPIC, FILINGS_TOPIC, OUTCOMES_TOPIC, HOUSEHOLDS_TOPIC, PERSONS_TOPIC})
    liveness.count_commits(app.consumer)
    # the group's committed offsets and the topics' true ends, read from the broker (streams/group_offsets.py)
    group = GroupOffsets(settings.broker_url, settings.app_id, partitions, settings.embedded_broker)
    redelivered: dict[tuple[str, int], int] = {}  # see confirm_lost_data
    watch = OffsetWatch(lambda tp: liveness.peak.get((tp.topic, tp.partition)))
    # no commit past a message an agent was not given; a message lost on the way is read again
    guard = OffsetGuard(app.consumer, liveness.topics, group.first_offset_from, watch).install()
    if os.environ.get(DROP_ENV):
        drop_once(app.consumer, os.environ[DROP_ENV])

    @app.on_partitions_revoked.connect
    async def _forget_offsets(sender, revoked, **kwargs) -> None:  # a partition may resume elsewhere
        watch.clear()
        guard.forget(revoked)

    @app.timer(interval=1.0)
    async def reread_lost_messages():
        if recovering_seconds(app) is not None or app.rebalancing:
            return
        try:
            await guard.resolve()
        except Exception as exc:  # noqa: BLE001 - the broker is busy or away: try again on the next tick
            log.warning("could not check the offsets not acknowledged against the log (%r); trying again", exc)
            await group.close()

    async def reject(stream: str, event, exc: Rejected) -> None:
        metrics.DEAD_LETTERS.labels(stream, exc.code).inc()
        message = event.message
        raw = message.value
        size = None
        if raw is not None and len(raw) > DEAD_LETTER_INPUT_CHARS:
            size = len(raw)
            raw = raw[:DEAD_LETTER_INPUT_CHARS]
        letter = dead_letter(stream, raw, exc, topic=message.topic, partition=message.partition,
                             offset=message.offset, key=_key(event), input_bytes=size)
        await deadletter_topic.send(key=event.key, value=dumps_state(letter))

    def decode(event) -> object:
        size = len(event.message.value or b"")
        if size > MAX_INPUT_BYTES:
            raise Rejected("MESSAGE_TOO_LARGE", f"{size:,} bytes, over the {MAX_INPUT_BYTES:,} an input may have; "
                           "send one record per message")
        try:
            return json.loads(event.message.value)
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise Rejected("MALFORMED_JSON", f"not valid JSON ({exc}); send one JSON object per message") from None

    # What an agent forwards goes out at the end of its batch, packed: one message per destination
    # partition (scoring/routing.py: pack), so the next agent pays Faust's per-message cost once per
    # batch. Straight to the producer: Faust flushes it before every offset commit, so delivery stays
    # at-least-once, without the per-message channel machinery of topic.send().
    internal_topic = {R.HOUSEHOLDS: HOUSEHOLDS_TOPIC, R.PERSONS: PERSONS_TOPIC}

    # A key's partition, hashed once: murmur2 is pure Python, and a key's ops are packed by it and its
    # table write is sent by it again. Keys repeat (households and persons of the district): a bounded cache.
    @functools.lru_cache(maxsize=KEY_PARTITION_CACHE)
    def partition_of(key: str) -> int:  # the producer's partitioner: where the key's table entry lives
        return key_partition(key.encode("utf-8"))

    @functools.lru_cache(maxsize=KEY_PARTITION_CACHE)
    def key_partition(key: bytes) -> int:
        return (murmur2(key) & 0x7FFFFFFF) % partitions

    writers = {name: TableWriter(app, table, key_partition, in_key_context)
               for name, table in ((R.HOUSEHOLDS, households), (R.PERSONS, persons), ("filings", filings))}

    async def forward(name: str, sends: list[tuple[str, str, dict]], sources: list) -> None:
        """Send a batch's router sends (sources[i]: the input event of sends[i]); a message the producer
        refuses is dead-lettered with the inputs it carried, never crashing the agent."""
        for table, partition, value, carried in R.pack(sends, partition_of, dumps_state, MAX_PACK_BYTES):
            try:
                await app.producer.send(internal_topic[table], sends[carried[0]][1].encode("utf-8"), value,
                                        partition, None, None)
            except Exception as exc:  # noqa: BLE001 - any refusal of the producer (size, serialisation)
                log.warning("could not pass on %d ops of %s: %r", len(carried), name, exc)
                for event in {id(sources[i]): sources[i] for i in carried}.values():
                    await reject(name, event, Rejected("UNFORWARDABLE", f"could not be passed on ({type(exc).__name__}: "
                                                       f"{exc}); send a smaller record"))

    def waited(name: str, batch: list) -> None:
        """How long the batch's oldest message waited before the agent took it (latency by hop)."""
        stamps = [event.message.timestamp for event in batch if event.message.timestamp]
        if stamps:
            metrics.BATCH_WAIT.labels(name).observe(max(0.0, time.time() - min(stamps)))

    # -- sources: decode, validate or dead-letter, and hand over to the router --------------------

    async def valid_batches(stream, name: str, validate):
        """Each batch as [(event, record)] of its valid messages; the rest go to the dead-letter topic."""
        async for batch in stream.take_events(BATCH_MAX, BATCH_WITHIN):
            waited(name, batch)
            records = []
            for event in batch:
                below = watch.see(event)
                if below is not None:
                    await confirm_lost_data(group, event.message, below, redelivered)
                try:
                    records.append((event, validate(decode(event))))
                except Rejected as exc:
                    await reject(name, event, exc)
            yield records

    @app.agent(events_topic)
    async def events_agent(stream):
        async for batch in valid_batches(stream, "events", validate_event):
            sends, sources = [], []
            for event, record in batch:
                metrics.labelled(metrics.EVENTS, record["source"], record["type"]).inc()
                _, person_id, message = R.inbound("events", record, event.message.timestamp, hold)
                # the person index is read here (co-partitioned with the events), written by the persons agent
                # (read from the store: Table.get adds Faust's sensor call per read, nothing else)
                routed = R.on_person(person_id, persons.data.get(person_id.encode("utf-8")), message, policy)
                sends += routed.sends
                sources += [event] * len(routed.sends)
            await forward("events", sends, sources)

    async def to_households(stream, name: str, validate) -> None:
        async for batch in valid_batches(stream, name, validate):
            await forward(name, [R.inbound(name, record) for _, record in batch], [event for event, _ in batch])

    @app.agent(registry_topic)
    async def registry_agent(stream):
        await to_households(stream, "registry", validate_registry)

    @app.agent(outcomes_topic)
    async def outcomes_agent(stream):
        await to_households(stream, "outcomes", validate_outcome)

    @app.agent(filings_topic)
    async def filings_agent(stream):
        async for batch in valid_batches(stream, "filings", validate_filing):
            sends, sources = [], []
            for event, record in batch:
                _, staff_id, message = R.inbound("filings", record)
                key = staff_id.encode("utf-8")
                applied = filings.data.get(key)  # the store: no Faust sensor call per read
                routed = R.on_filing(staff_id, applied, message, policy)
                if routed.state is not applied:
                    # written at once (a later filing of the batch reads it), in this event's partition
                    await writers["filings"].write([(key, routed.state, event)])
                sends += routed.sends
                sources += [event] * len(routed.sends)
            await forward("filings", sends, sources)

    # -- the keyed agents: the router over a table, one write per touched key per batch -----------

    async def drive(stream, table: str, faust_table, name: str) -> None:
        route = R.ROUTERS[table]
        writer = writers[table]
        async for batch in stream.take_events(PACKS_MAX, BATCH_WITHIN):
            waited(name, batch)
            started = time.perf_counter()
            touched: dict[bytes, object] = {}
            last_event: dict[bytes, object] = {}
            sends, sources, alerts = [], [], []
            ops = 0
            for event in batch:
                below = watch.see(event)
                if below is not None:
                    await confirm_lost_data(group, event.message, below, redelivered)
                for key_text, message in R.unpack(decode_json(event.message.value)):
                    ops += 1
                    key = key_text.encode("utf-8")
                    last_event[key] = event
                    state = touched[key] if key in touched else faust_table.data.get(key)
                    routed = route(key_text, state, message, policy)
                    if annotate is not None and table == R.HOUSEHOLDS and routed.alerts:
                        routed = annotate(routed)  # the learned model: scores alerts, changes nothing else
                    if table == R.HOUSEHOLDS:
                        count_household_op(message, routed.state is not state)
                    if routed.state is not state:
                        touched[key] = routed.state
                        if table == R.HOUSEHOLDS and routed.state and routed.state.get("pending"):
                            pending_release[key] = routed.state["pending"]["until"]
                    sends += routed.sends
                    sources += [event] * len(routed.sends)
                    alerts += [(alert, message.get("ingest")) for alert in routed.alerts]
            # what the batch sends on and its alerts go out before its table writes: a crash between the two
            # then sends them again after a restart (at-least-once), never loses them
            await forward(name, sends, sources)
            await send_alerts(alerts)
            # One write per key per batch, made in the context of the last message that carried the key:
            # the RocksDB store files a write under the current event's partition, which is the key's own
            # (ops travel on their key's partition; the table is partitioned alike). Straight to the store
            # and the producer, not through Faust's per-write machinery (streams/changelog.py).
            await writer.write((key, state, last_event[key]) for key, state in touched.items())
            if table == R.PERSONS:
                metrics.PERSON_UPDATES.inc(ops)
            else:
                metrics.HOUSEHOLDS.set(len(faust_table))
            metrics.BATCH_SECONDS.labels(name).observe(time.perf_counter() - started)

    def count_household_op(message: dict, changed: bool) -> None:
        kind = message["op"]
        metrics.labelled(metrics.HOUSEHOLD_OPS, kind).inc()
        if kind == "registry" and changed:
            metrics.ROSTER_RECORDS.inc()
        elif kind == "outcome" and changed:
            metrics.OUTCOMES.labels(message["outcome"]["decision"]).inc()

    # Held alerts of provisional households are released by a timer once their hold is over; a scan of
    # the table finds those held before a restart.
    pending_release: dict[bytes, float] = {}
    last_scan = [0.0]

    # The group-wide barrier of a release (streams/group_offsets.py): its phase and the ends it waits for.
    barrier: dict[str, object] = {"phase": None, "marks": None, "keys": []}
    next_phase = {REGISTRY_TOPIC: HOUSEHOLDS_TOPIC, HOUSEHOLDS_TOPIC: PERSONS_TOPIC, PERSONS_TOPIC: None}

    @app.timer(interval=1.0)
    async def release_held_alerts():
        """A held alert goes out once its hold is over and the group has caught up with the roster and what
        it sent on: after a restart or a long stall the roster record that absorbs the household may still
        be in the backlog, on any worker's partitions, however old the event is."""
        now = time.time()
        if now - last_scan[0] >= PENDING_SCAN_SECONDS:
            last_scan[0] = now
            for key, state in list(households.items()):
                if isinstance(state, dict) and state.get("pending"):
                    pending_release.setdefault(key, state["pending"]["until"])
        metrics.PROVISIONAL_HELD.set(len(pending_release))
        if recovering_seconds(app) is not None:
            return
        try:
            if barrier["phase"] is None:
                due = [key for key, until in pending_release.items() if until <= now]
                if not due:
                    return
                barrier["keys"], barrier["phase"] = due, REGISTRY_TOPIC
                barrier["marks"] = await group.ends(REGISTRY_TOPIC)
            # registry -> households -> persons: each topic's ends are read once the one before is committed
            while barrier["phase"] is not None and await group.committed_past(barrier["marks"]):
                barrier["phase"] = next_phase[barrier["phase"]]
                if barrier["phase"] is not None:
                    barrier["marks"] = await group.ends(barrier["phase"])
        except Exception as exc:  # noqa: BLE001 - the broker is busy or away: try again on the next tick
            log.warning("could not read the group's offsets for held alerts (%r); trying again", exc)
            await group.close()
            return
        if barrier["phase"] is not None:
            return
        releases = [(R.HOUSEHOLDS, key.decode("utf-8"), {"op": "release", "now": now})
                    for key in barrier["keys"] if pending_release.pop(key, None) is not None]
        barrier["keys"] = []
        for _, partition, value, carried in R.pack(releases, partition_of, dumps_state, MAX_PACK_BYTES):
            await app.producer.send(HOUSEHOLDS_TOPIC, releases[carried[0]][1].encode("utf-8"), value, partition, None, None)
        metrics.PROVISIONAL_HELD.set(len(pending_release))

    stall_seconds = float(os.environ.get(STALL_ENV) or STALL_SECONDS)

    cluster = {"id": None}

    @app.timer(interval=CLUSTER_CHECK_SECONDS)
    async def watch_cluster_id():
        """A broker that restarted empty is a new cluster. Its logs can be as long as before (connectors send
        everything again) before a redelivered offset is checked against them, so the log ends alone do not
        show it: the cluster id does (the embedded broker takes a new one at each start)."""
        try:
            seen = await group.cluster_id()
        except Exception as exc:  # noqa: BLE001 - the broker is away or busy: ask again on the next tick
            log.info("could not read the broker's cluster id (%r); asking again", exc)
            await group.close()
            return
        if seen and cluster["id"] and seen != cluster["id"]:
            broker_lost_data(f"the broker's cluster id changed from {cluster['id']} to {seen}")
        cluster["id"] = cluster["id"] or seen

    @app.timer(interval=COMMIT_INTERVAL)  # the lag gauges follow each commit
    async def report_liveness():
        liveness.update(app.consumer, time.time())

    if settings.web_port is not None:
        @app.page("/healthz")
        async def healthz(web, request):
            """200 while every partition makes progress; 503 when one has lag and no commit for a while."""
            now = time.time()
            liveness.update(app.consumer, now)
            report = liveness.report(now, stall_seconds, recovering_seconds(app))
            return web.json(report, status=200 if report["status"] == "ok" else 503)

    @app.agent(persons_topic)
    async def persons_agent(stream):
        await drive(stream, R.PERSONS, persons, "persons")

    @app.agent(households_topic)
    async def households_agent(stream):
        await drive(stream, R.HOUSEHOLDS, households, "households")

    async def send_alerts(alerts: list[tuple[dict, float | None]]) -> None:
        """A batch's alerts, stamped and counted."""
        stamp = now_iso()
        now = time.time()
        for alert, ingest in alerts:
            alert["emitted_at"] = stamp
            metrics.ALERTS.labels(alert["kind"], str(alert["level"]), metrics.street_of(alert["division_code"])).inc()
            await app.producer.send(ALERTS_TOPIC, alert["household_id"].encode("utf-8"), dumps_state(alert), None, None, None)
            if ingest:
                metrics.EVENT_TO_ALERT.observe(max(0.0, now - ingest))

    app.hardship = {  # handles for tests and the demo
        "households": households,
        "persons": persons,
        "filings": filings,
        "policy": policy,
    }
    return app
