"""Helpers of the stream tests: reading topics back and what replay says about the same input."""

from __future__ import annotations

import json
import time

from kafka import KafkaAdminClient, KafkaConsumer

from models.validation import VALIDATORS
from scoring.monitor import Monitor
from streams.worker_process import WorkerProcess, producer, send_all

__all__ = ["INTERNAL_TOPICS", "WorkerProcess", "assert_nothing_lost", "key_partitions", "outcome_of", "producer", "read_topic",
           "replay_alerts", "send_all", "wait_until_settled"]

INTERNAL_TOPICS = ("hardship-households", "hardship-persons")


def read_topic(bootstrap: str, topic: str, idle_seconds: float = 4.0) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=int(idle_seconds * 1000), enable_auto_commit=False)
    try:
        return [json.loads(message.value) for message in consumer]
    finally:
        consumer.close()


def key_partitions(bootstrap: str, topic: str, idle_seconds: float = 2.0) -> list[tuple[bytes, int]]:
    """(key, partition) of every record of a topic."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=int(idle_seconds * 1000), enable_auto_commit=False)
    try:
        return [(message.key, message.partition) for message in consumer]
    finally:
        consumer.close()


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
        assert worker.metric("hardship_offset_gaps_total", topic=topic) == 0, f"lost offsets of {topic}"
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
