"""The worker's garbage-collector settings: pauses counted per generation, rare full collections, a frozen start."""

from __future__ import annotations

import gc
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest

from streams.collector import FULL_AFTER_YOUNGER, PAUSE_BUCKETS, PauseCounter


def _samples(counter: PauseCounter) -> dict[tuple[str, tuple], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in counter.collect() for sample in family.samples}


def test_each_collection_is_counted_in_its_generation_and_bucket():
    counter = PauseCounter()
    gc.callbacks.append(counter)
    try:
        gc.collect(2)
        gc.collect(2)
        gc.collect(0)
    finally:
        gc.callbacks.remove(counter)
    samples = _samples(counter)
    count = samples[("hardship_gc_pause_seconds_count", (("generation", "2"),))]
    assert count >= 2  # an allocation may start a collection of its own meanwhile, never fewer
    assert samples[("hardship_gc_pause_seconds_count", (("generation", "0"),))] >= 1
    assert samples[("hardship_gc_pause_seconds_bucket", (("generation", "2"), ("le", "+Inf")))] == count
    buckets = [samples[("hardship_gc_pause_seconds_bucket", (("generation", "2"), ("le", str(bound))))]
               for bound in PAUSE_BUCKETS]
    assert buckets == sorted(buckets) and buckets[-1] <= count  # cumulative
    assert 0 < samples[("hardship_gc_pause_seconds_sum", (("generation", "2"),))] < 10


def test_the_histogram_is_exposed_in_prometheus_text():
    registry = CollectorRegistry()
    counter = PauseCounter()
    registry.register(counter)
    counter("start", {"generation": 1})
    counter("stop", {"generation": 1, "collected": 0, "uncollectable": 0})
    text = generate_latest(registry).decode()
    assert 'hardship_gc_pause_seconds_count{generation="1"} 1.0' in text
    assert 'hardship_gc_pause_seconds_bucket{generation="1",le="0.001"} 1.0' in text
    assert "hardship_gc_frozen_objects" in text


def test_tuning_makes_full_collections_rare_once_per_process_and_freezing_keeps_objects_out():
    # in a child process: the settings are the process's own, and this test run's must not change
    script = (
        "import gc\n"
        "from streams.collector import tune_for_worker, freeze_loaded\n"
        "first = tune_for_worker(); second = tune_for_worker()\n"
        "assert first is second and gc.callbacks.count(first) == 1\n"
        "kept = [{'household': i, 'members': [i]} for i in range(20000)]\n"
        "freeze_loaded()\n"
        "gauge = [f.samples[0].value for f in first.collect() if f.name == 'hardship_gc_frozen_objects'][0]\n"
        "print(gc.get_threshold()[2], gc.get_freeze_count(), int(gauge))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    full_after, frozen, gauge = map(int, result.stdout.split())
    assert full_after == FULL_AFTER_YOUNGER
    assert frozen >= 40_000  # the 20,000 dicts and their lists at least
    assert gauge == frozen  # the gauge shows the count taken when the worker froze
