"""The cached Prometheus sensor reports exactly what Faust's own PrometheusMonitor reports."""

from __future__ import annotations

from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.faust_sensor import CachedPrometheusMonitor

TIMED = ("latency", "runtime_ms_sum", "_created")  # elapsed times and creation stamps differ between any two runs


def _counts(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in registry.collect() for sample in family.samples
            if not any(word in sample.name for word in TIMED)}


class _Agent:  # a stream's owner (held by weak reference, as Faust does)
    def __init__(self, name: str) -> None:
        self.name = name


class _Stream:  # what the sensor reads of a Faust stream (held by weak reference, as Faust does)
    def __init__(self, name: str) -> None:
        self.shortlabel = f"Stream: Topic: hardship.{name}"
        self.task_owner = _Agent(name)


def _drive(monitor) -> None:
    """The hooks the worker calls per message, send and table operation, over several label sets."""
    streams = [_Stream(name) for name in ("events", "registry")]
    tables = [SimpleNamespace(name=name) for name in ("households", "persons")]
    for n in range(40):
        tp = TP(("hardship.events", "hardship.registry")[n % 2], n % 3)
        message = SimpleNamespace(time_in=None)
        monitor.track_tp_end_offset(tp, n + 1)
        monitor.on_message_in(tp, n, message)
        stream = streams[n % 2]
        state = monitor.on_stream_event_in(tp, n, stream, SimpleNamespace())
        monitor.on_stream_event_out(tp, n, stream, SimpleNamespace(), state)
        monitor.on_message_out(tp, n, message)
        monitor.on_send_initiated(None, ("hardship.alerts", "hardship-households")[n % 2], None, 3, 10)
        table = tables[n % 2]
        monitor.on_table_get(table, b"k")
        monitor.on_table_set(table, b"k", {"n": n})
        if n % 5 == 0:
            monitor.on_table_del(table, b"k")


def test_the_cached_sensor_counts_what_fausts_own_counts():
    faust_registry, cached_registry = CollectorRegistry(), CollectorRegistry()
    fausts = PrometheusMonitor(metrics=FaustMetrics.create(faust_registry, "app"))
    cached = CachedPrometheusMonitor(metrics=FaustMetrics.create(cached_registry, "app"))
    _drive(fausts)
    _drive(cached)
    expected = _counts(faust_registry)
    assert expected[("app_messages_received_total", ())] == 40
    assert expected[("app_messages_received_per_topic_total", (("topic", "hardship.events"),))] == 20
    assert expected[("app_topic_partition_end_offset", (("partition", "2"), ("topic", "hardship.events")))] == 39
    assert _counts(cached_registry) == expected
    # Faust's own bookkeeping (what its web views read) runs as before
    assert cached.messages_received_total == fausts.messages_received_total == 40
    assert cached.tables["households"].keys_updated == fausts.tables["households"].keys_updated == 20
    assert cached.messages_sent_by_topic == fausts.messages_sent_by_topic
    assert cached.tp_end_offsets == fausts.tp_end_offsets
