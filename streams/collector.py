"""Python's garbage collector in a worker whose tables hold a district: full collections made rare, what the
worker loaded at start frozen, and every pause measured (`hardship_gc_pause_seconds`).

A worker's tables keep hundreds of thousands of long-lived objects (household states, the person index). With
CPython's defaults a full (generation 2) collection walks all of them every few seconds under load, because
each batch replaces household states and the new ones count as survivors: measured on a 3,000-household
district, one every 3 s taking 200–300 ms, with the event loop stopped for all of it. That was the tail of
the event-to-alert latency and several per cent of the throughput. The states are plain dicts and lists
without reference cycles, freed by reference counting when replaced, so the full collections found almost
nothing (0–535 objects each). Here:
- a full collection waits for `FULL_AFTER_YOUNGER` collections of generation 1 instead of 10 (generations
  0 and 1 keep CPython's thresholds, so short-lived cycles are still collected within milliseconds);
- once the tables are recovered, one collection and `gc.freeze()` move what start-up loaded out of the
  collector's way (it is still freed by reference counting when replaced; only a reference cycle among
  those objects that became garbage later would stay until the process ends: a one-time, bounded set);
- each collection's pause is counted per generation, without a lock: the callback runs inside the
  collector, where a prometheus_client metric's own lock could already be held by the same thread.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import time

from prometheus_client.core import REGISTRY, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

FULL_AFTER_YOUNGER = 1000  # generation-1 collections before a full one (CPython: 10)
PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class PauseCounter(Collector):
    """Pause lengths of the garbage collector per generation, as a Prometheus histogram."""

    def __init__(self) -> None:
        self.started = 0.0
        # per generation: cumulative-ready bucket counts (one slot more for +Inf), and the sum of seconds
        self.buckets = {generation: [0] * (len(PAUSE_BUCKETS) + 1) for generation in range(3)}
        self.seconds = {generation: 0.0 for generation in range(3)}
        # gc.get_freeze_count() walks the whole frozen list (9 ms for a district's tables, measured under the
        # profiler), so it is read once, when the worker freezes, not on every scrape of /metrics
        self.frozen = 0

    def __call__(self, phase: str, info: dict) -> None:
        """gc.callbacks hook: plain counting only (no allocation of note, no lock)."""
        if phase == "start":
            self.started = time.perf_counter()
            return
        pause = time.perf_counter() - self.started
        generation = info["generation"]
        self.buckets[generation][bisect.bisect_left(PAUSE_BUCKETS, pause)] += 1  # the first bound >= pause
        self.seconds[generation] += pause

    def collect(self):
        family = HistogramMetricFamily(
            "hardship_gc_pause_seconds",
            "Pauses of Python's garbage collector in the worker (the event loop stops for each), by generation "
            "(2: a full collection, which walks every object of the tables)",
            labels=["generation"],
        )
        for generation in range(3):
            bounds = (*map(str, PAUSE_BUCKETS), "+Inf")
            cumulative = list(zip(bounds, itertools.accumulate(self.buckets[generation]), strict=True))
            family.add_metric([str(generation)], cumulative, self.seconds[generation])
        yield family
        yield GaugeMetricFamily(
            "hardship_gc_frozen_objects",
            "Objects kept out of garbage collection since the tables were recovered (gc.freeze); 0 before that",
            value=self.frozen,
        )


_pauses: PauseCounter | None = None


def tune_for_worker() -> PauseCounter:
    """Make full collections rare and count every pause (once per process)."""
    global _pauses
    if _pauses is None:
        gen0, gen1, _ = gc.get_threshold()
        gc.set_threshold(gen0, gen1, FULL_AFTER_YOUNGER)
        _pauses = PauseCounter()
        gc.callbacks.append(_pauses)
        REGISTRY.register(_pauses)
    return _pauses


def freeze_loaded() -> None:
    """After the tables are recovered: collect once, then keep what is left out of later collections."""
    gc.collect()
    gc.freeze()
    if _pauses is not None:
        _pauses.frozen = gc.get_freeze_count()
