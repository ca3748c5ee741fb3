"""Prometheus metrics of the stream worker (beside Faust's own sensor): events, dead letters, alerts, latency."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "hardship_events_total", "Departments' events taken in by the worker (valid ones), by source and type",
    ["source", "type"],
)
DEAD_LETTERS = Counter(
    "hardship_deadletters_total", "Inputs sent to hardship.deadletter, by input stream and reason code",
    ["stream", "reason"],
)
ALERTS = Counter(
    "hardship_alerts_total", "Alerts sent to hardship.alerts (new and level rises), by kind, level and street division",
    ["kind", "level", "division"],
)
HOUSEHOLDS = Gauge("hardship_households_tracked", "Households (roster and provisional) held by this worker")
PERSON_UPDATES = Counter(
    "hardship_person_updates_total", "Membership and filing updates applied to the person index"
)
HOUSEHOLD_OPS = Counter(
    "hardship_household_ops_total", "Messages applied by the households agent (events, roster records, …), by op",
    ["op"],
)
ROSTER_RECORDS = Counter("hardship_registry_records_total", "Roster records applied to household state")
OUTCOMES = Counter("hardship_outcomes_total", "Workbench outcomes applied to household state, by decision", ["decision"])
EVENT_TO_ALERT = Histogram(
    "hardship_event_to_alert_seconds",
    "From the event's arrival on hardship.events (its Kafka timestamp) to the alert it raised being sent",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
MESSAGES_TAKEN = Counter(
    "hardship_messages_taken_total", "Messages given to the agents (inputs and internal ops), by topic", ["topic"],
)
OFFSETS_MISSING = Gauge(
    "hardship_offsets_missing",
    "Offsets of a partition skipped on the way to an agent and not given since (read again before anything past "
    "them is committed), by topic",
    ["topic"],
)
OFFSET_REPEATS = Counter(
    "hardship_offset_repeats_total", "Offsets given to an agent again while it held the partition, by topic", ["topic"],
)
OFFSETS_REREAD = Counter(
    "hardship_offsets_reread_total",
    "Offsets given to an agent again because the worker sought the partition back to a missing message, by topic",
    ["topic"],
)
OFFSET_REREADS = Counter(
    "hardship_offset_rereads_total",
    "Times a partition was read again from a message that was never given to its agent, by topic",
    ["topic"],
)
OFFSETS_ABSENT = Counter(
    "hardship_offsets_absent_total",
    "Offsets missing between two others that the broker's log does not hold (counted as done), by topic",
    ["topic"],
)
PARTITION_LAG = Gauge(
    "hardship_partition_lag", "Messages of a partition this worker holds not yet committed (high water - committed)",
    ["topic", "partition"],
)
SINCE_PROGRESS = Gauge(
    "hardship_partition_seconds_since_progress",
    "Seconds since this worker last committed on a partition (0 while it is caught up)", ["topic", "partition"],
)
PROVISIONAL_HELD = Gauge(
    "hardship_provisional_alerts_held",
    "Provisional households (persons on no roster) whose alerts wait for a roster record that may be on its way",
)
BATCH_SECONDS = Histogram(
    "hardship_batch_seconds", "Time to process one batch of an agent, by agent", ["agent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

BATCH_WAIT = Histogram(
    "hardship_batch_wait_seconds",
    "Age of a batch's oldest message (from its Kafka timestamp) when the agent takes the batch: the time it "
    "waited in the broker, the fetcher and Faust's buffers before the hop, by agent",
    ["agent"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COMMIT_FLUSH_SECONDS = Histogram(
    "hardship_commit_flush_seconds",
    "Time the producer takes to drain the changelog buffer and deliver what is in flight before an offset commit",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


_children: dict[tuple[object, tuple], object] = {}


def labelled(metric, *values):
    """`metric.labels(*values)`, cached per metric and label values: `labels()` costs more than the increment
    on the hot path (events by source and type, household ops, messages taken by topic, Faust's sensor)."""
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def street_of(division_code: str | None) -> str:
    """The street or township (first 9 digits) of a division code: bounded label cardinality."""
    return (division_code or "unknown")[:9]
