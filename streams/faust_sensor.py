"""Faust's Prometheus sensor, with each labelled child looked up once per label set instead of per message.

faust.sensors.prometheus.PrometheusMonitor calls `metric.labels(...)` several times for every message
(topic, partition, stream, the partition's end offset) and every send: prometheus_client builds and checks the label tuple under a
lock each time, which was a visible share of the worker's time (docs/benchmarks.md). This subclass keeps
the same metrics, names, labels and values (Faust's own bookkeeping still runs through `Monitor`) and
remembers the children. Label sets are bounded: topics, partitions, streams and tables of one worker.
"""

from __future__ import annotations

import weakref
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

from streams.metrics import labelled


class CachedPrometheusMonitor(PrometheusMonitor):
    """PrometheusMonitor whose per-message hooks reuse the labelled children they made the first time."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        # a stream's label is computed from it once (as Faust's lookups, by weak reference: streams may go)
        self._by_stream: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def on_message_in(self, tp, offset, message) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        metrics = self._metrics
        metrics.messages_received.inc()
        metrics.active_messages.inc()
        labelled(metrics.messages_received_per_topics, tp.topic).inc()
        labelled(metrics.messages_received_per_topics_partition, tp.topic, tp.partition).set(offset)

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

    def track_tp_end_offset(self, tp, offset: int) -> None:  # called by the consumer for every message it gets
        Monitor.track_tp_end_offset(self, tp, offset)
        labelled(self._metrics.topic_partition_end_offset, tp.topic, tp.partition).set(offset)

    def on_send_initiated(self, producer, topic, message, keysize, valsize):
        labelled(self._metrics.topic_messages_sent, f"topic.{topic}").inc()
        return Monitor.on_send_initiated(self, producer, topic, message, keysize, valsize)

    def _table_op(self, table, operation: str):
        return labelled(self._metrics.table_operations, f"table.{table.name}", operation)

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
