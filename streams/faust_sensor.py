"""Faust's Prometheus sensor, with each labelled child looked up once per label set instead of per message.

faust.sensors.prometheus.PrometheusMonitor calls `metric.labels(...)` several times for every message
(topic, partition, stream) and every send: prometheus_client builds and checks the label tuple under a
lock each time, which was a visible share of the worker's time (docs/benchmarks.md). This subclass keeps
the same metrics, names, labels and values (Faust's own bookkeeping still runs through `Monitor`) and
remembers the children. Label sets are bounded: topics, partitions, streams and tables of one worker.
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor


class CachedPrometheusMonitor(PrometheusMonitor):
    """PrometheusMonitor whose per-message hooks reuse the labelled children they made the first time."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        self._by_topic: dict[str, Any] = {}
        self._by_tp: dict[Any, Any] = {}
        self._by_stream: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # as Faust's: streams may go
        self._sent_by_topic: dict[str, Any] = {}
        self._table_ops: dict[tuple[str, str], Any] = {}

    def on_message_in(self, tp, offset, message) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        metrics = self._metrics
        metrics.messages_received.inc()
        metrics.active_messages.inc()
        received = self._by_topic.get(tp.topic)
        if received is None:
            received = self._by_topic[tp.topic] = metrics.messages_received_per_topics.labels(topic=tp.topic)
        received.inc()
        read_offset = self._by_tp.get(tp)
        if read_offset is None:
            read_offset = self._by_tp[tp] = metrics.messages_received_per_topics_partition.labels(
                topic=tp.topic, partition=tp.partition)
        read_offset.set(offset)

    def on_stream_event_in(self, tp, offset, stream, event):
        state = Monitor.on_stream_event_in(self, tp, offset, stream, event)
        metrics = self._metrics
        metrics.total_events.inc()
        metrics.total_active_events.inc()
        events = self._by_stream.get(stream)
        if events is None:
            events = self._by_stream[stream] = metrics.total_events_per_stream.labels(
                stream=f"stream.{self._stream_label(stream)}.events")
        events.inc()
        return state

    def on_send_initiated(self, producer, topic, message, keysize, valsize):
        sent = self._sent_by_topic.get(topic)
        if sent is None:
            sent = self._sent_by_topic[topic] = self._metrics.topic_messages_sent.labels(topic=f"topic.{topic}")
        sent.inc()
        return Monitor.on_send_initiated(self, producer, topic, message, keysize, valsize)

    def _table_op(self, table, operation: str):
        key = (table.name, operation)
        child = self._table_ops.get(key)
        if child is None:
            child = self._table_ops[key] = self._metrics.table_operations.labels(
                table=f"table.{table.name}", operation=operation)
        return child

    def on_table_get(self, table, key) -> None:
        Monitor.on_table_get(self, table, key)
        self._table_op(table, self.KEYS_RETRIEVED).inc()

    def on_table_set(self, table, key, value) -> None:
        Monitor.on_table_set(self, table, key, value)
        self._table_op(table, self.KEYS_UPDATED).inc()

    def on_table_del(self, table, key) -> None:
        Monitor.on_table_del(self, table, key)
        self._table_op(table, self.KEYS_DELETED).inc()


def use_cached_prometheus_monitor(app) -> None:
    """After `setup_prometheus_sensors(app)`: the same (registered) metrics behind the cached sensor. The
    monitor joins the app's sensors when the app starts, so this is the one that runs."""
    app.monitor = CachedPrometheusMonitor(metrics=app.monitor._metrics)
