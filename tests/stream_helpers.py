"""Helpers of the stream tests: reading topics back and what replay says about the same input."""

from __future__ import annotations

import json
import time
from collections import Counter

from kafka import KafkaAdminClient, KafkaConsumer

from models.validation import VALIDATORS
from scoring.monitor import Monitor
from streams.worker_process import WorkerProcess, producer, send_all

__all__ = ["INPUT_TOPICS", "INTERNAL_TOPICS", "WorkerProcess", "assert_nothing_lost", "assert_replay_invariant",
           "key_partitions", "messages_in", "outcome_of", "producer", "read_topic", "replay_alerts", "send_all", "wait_until_committed",
           "wait_until_settled"]

INTERNAL_TOPICS = ("hardship-households", "hardship-persons")
INPUT_TOPICS = ("hardship.registry", "hardship.filings", "hardship.events", "hardship.outcomes")


def read_topic(bootstrap: str, topic: str, idle_seconds: float = 4.0) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=int(idle_seconds * 1000), enable_auto_commit=False)
    try:
        return [json.loads(message.value) for message in consumer]
    finally:
        consumer.close()


def key_partitions(bootstrap: str, topic: str, idle_seconds: float = 2.0) -> list[tuple[bytes, int]]:
    """(key, partition) of every record of a topic; of an internal topic, of every op its messages carry
    (one message carries a batch's ops for one partition)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=int(idle_seconds * 1000), enable_auto_commit=False)
    try:
        if topic not in INTERNAL_TOPICS:
            return [(message.key, message.partition) for message in consumer]
        return [(key.encode(), message.partition) for message in consumer
                for key, _op in json.loads(message.value)["ops"]]
    finally:
        consumer.close()


def messages_in(bootstrap: str, topic: str) -> int:
    """How many messages a topic holds (read one by one: tansu's ListOffsets is short)."""
    return sum(_ends(bootstrap, topic).values())


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> the offset after its last record, read record by record (tansu's ListOffsets is short)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=1000, enable_auto_commit=False)
    try:
        ends: dict[int, int] = {}
        for message in consumer:
            ends[message.partition] = message.offset + 1
        return ends
    finally:
        consumer.close()


def wait_until_settled(worker: WorkerProcess, bootstrap: str, timeout: float = 180.0, group: str = "hardship-monitor") -> None:
    """Wait until no provisional alert is held, the worker has committed every message of the internal hops
    and no new one comes: then every alert the inputs raise has been sent (the events counter moves
    before the households agent)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = {(topic, p): end for topic in INTERNAL_TOPICS for p, end in _ends(bootstrap, topic).items()}
            committed = {(tp.topic, tp.partition): meta.offset
                         for tp, meta in admin.list_group_offsets({group: None})[group].items()}
            held = worker.metric("hardship_provisional_alerts_held")
            if not held and all(committed.get(tp, 0) >= end for tp, end in ends.items()):
                time.sleep(1.0)
                if {(topic, p): end for topic in INTERNAL_TOPICS for p, end in _ends(bootstrap, topic).items()} == ends:
                    return
            if worker.process.poll() is not None:
                raise AssertionError(f"worker exited with {worker.process.returncode}; see {worker.log_path}")
            time.sleep(0.5)
    finally:
        admin.close()
    raise AssertionError(f"the internal hops did not settle in {timeout} s; see {worker.log_path}")


def assert_nothing_lost(worker: WorkerProcess, sent: dict[str, int]) -> None:
    """Every message sent to each topic was given to its agent exactly once, and no offset of any topic
    (inputs and the internal hops) was skipped or given twice: one lost message fails this."""
    for topic, count in sent.items():
        worker.wait_for("hardship_messages_taken_total", count, topic=topic)
        assert worker.metric("hardship_messages_taken_total", topic=topic) == count, topic
    for topic in (*sent, *INTERNAL_TOPICS):
        assert worker.metric("hardship_offsets_missing", topic=topic) == 0, f"offsets of {topic} never given"
        assert worker.metric("hardship_offset_repeats_total", topic=topic) == 0, f"offsets of {topic} given twice"


def replay_alerts(*streams: tuple[str, list]) -> list[dict]:
    monitor = Monitor()
    alerts = []
    for stream, records in streams:
        for record in records:
            alerts.extend(monitor.feed(stream, VALIDATORS[stream](record)))
    return alerts


def outcome_of(alerts: list[dict]) -> dict[str, tuple[str, int]]:
    """alert_id -> (kind, highest level): what a bureau ends up seeing, whatever the interleaving."""
    seen: dict[str, tuple[str, int]] = {}
    for alert in alerts:
        kind, level = seen.get(alert["alert_id"], (alert["kind"], 0))
        seen[alert["alert_id"]] = (kind, max(level, alert["level"]))
    return seen


def wait_until_committed(workers: list[WorkerProcess], bootstrap: str, timeout: float = 300.0,
                         group: str = "hardship-monitor") -> None:
    """Wait until the group has committed every message of the inputs and the internal hops, no alert is
    held by a live worker and nothing new comes: every alert the inputs raise has been sent, whichever
    of `workers` (the live ones) processed them."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    topics = (*INPUT_TOPICS, *INTERNAL_TOPICS)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = {(topic, p): end for topic in topics for p, end in _ends(bootstrap, topic).items()}
            committed = {(tp.topic, tp.partition): meta.offset
                         for tp, meta in admin.list_group_offsets({group: None})[group].items()}
            live = [worker for worker in workers if worker.process.poll() is None]
            if not live:
                raise AssertionError(f"no worker left running; see {[str(w.log_path) for w in workers]}")
            held = sum(worker.metric("hardship_provisional_alerts_held") for worker in live)
            if not held and all(committed.get(tp, 0) >= end for tp, end in ends.items()):
                time.sleep(1.0)
                if {(t, p): end for t in topics for p, end in _ends(bootstrap, t).items()} == ends:
                    return
            time.sleep(1.0)
    finally:
        admin.close()
    raise AssertionError(f"the group did not commit every input and hop in {timeout} s; "
                         f"see {[str(w.log_path) for w in workers]}")


def _last_alerts(alerts: list[dict]) -> dict[tuple[str, str], tuple[int, list[str], bool]]:
    """(household, kind) -> the last alert's (level, reason codes, superseded or not)."""
    last = {}
    for alert in alerts:
        last[(alert["household_id"], alert["kind"])] = (
            alert["level"], sorted({reason["code"] for reason in alert["reasons"]}), bool(alert.get("superseded_by")))
    return last


def assert_replay_invariant(streamed: list[dict], expected: list[dict], registry: list[dict]) -> None:
    """The issue's invariant, stream against replay of the same inputs: every household and kind alerted
    by one is alerted by the other, the last alert of each has the replay's level and reason codes, no
    alert is sent twice at one level, and no provisional alert is raised for a rostered person.

    `streamed` is the alerts topic as read back (one household's alerts sit on one partition, in order)."""
    got, want = _last_alerts(streamed), _last_alerts(expected)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = {key: (got[key], want[key]) for key in sorted(set(got) & set(want)) if got[key] != want[key]}
    assert not (missing or extra or differ), (
        f"{len(want)} household+kind alerted by replay: {len(missing)} missing {missing[:5]}, {len(extra)} extra "
        f"{extra[:5]}, {len(differ)} with another last alert (stream, replay) {list(differ.items())[:3]}")
    sent = Counter((alert["alert_id"], alert["level"]) for alert in streamed if not alert.get("superseded_by"))
    twice = [key for key, count in sent.items() if count > 1]
    assert not twice, f"{len(twice)} alerts sent twice at one level: {twice[:5]}"
    rostered = {member["person_id"] for record in registry for member in record["members"]}
    replayed = {alert["household_id"] for alert in expected}
    false = sorted({alert["household_id"] for alert in streamed if alert["household_id"].startswith("person:")
                    and alert["household_id"][7:] in rostered and alert["household_id"] not in replayed})
    assert not false, f"{len(false)} provisional households of rostered persons alerted"
