"""The connectors' Kafka writer (confluent-kafka): keys on the partitions of the Java client's murmur2, acks, failures.

The benchmark's baseline (the former wire-protocol producer) is checked too: its murmur2 and record
batches are those of kafka-python, so its figure is an honest one.
"""

from __future__ import annotations

import os

import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from connectors.bench_wire_producer import _Batch, murmur2
from connectors.kafka_out import KafkaOut, SendFailed
from streams.broker import free_port
from streams.config import EVENTS_TOPIC
from tests.connector_fixtures import read_topic


def test_baseline_murmur2_matches_kafka_python():
    for length in range(0, 40):
        for _ in range(50):
            data = os.urandom(length)
            assert murmur2(data) == kafka_murmur2(data)


def test_baseline_batch_bytes_match_kafka_pythons_builder():
    items = [(b"420106197005010011", b'{"a":1}'), (None, b"x" * 300), (b"k", "中文".encode() * 5000)]
    batch = _Batch()
    for key, value in items:
        batch.append(key, value)
    ours = batch.build()
    reference = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                          producer_epoch=-1, base_sequence=-1, batch_size=2**31 - 1)
    for offset, (key, value) in enumerate(items):
        reference.append(offset, batch.timestamp, key, value, [])
    theirs = bytes(reference.build())
    assert ours[:12] == theirs[:12] and ours[16:] == theirs[16:]  # only the leader epoch differs (-1, as Java)
    parsed = MemoryRecords(ours).next_batch()
    assert parsed.validate_crc()
    assert [(r.key, r.value) for r in parsed] == items


def test_unreachable_broker_is_a_clear_error():
    with pytest.raises(SendFailed, match="cannot reach the broker"):
        KafkaOut(f"kafka://127.0.0.1:{free_port()}", connect_timeout_s=1.0)


@pytest.mark.broker
def test_a_topic_that_is_not_there_is_named(broker):
    out = KafkaOut(broker.url)
    try:
        assert out.partitions(EVENTS_TOPIC) == [0, 1, 2, 3]
    finally:
        out.close()


@pytest.mark.broker
def test_keys_land_on_the_java_clients_partitions_and_pipeline_acknowledges_one_chunk_behind(broker):
    out = KafkaOut(broker.url)
    try:
        def value(i: int) -> bytes:
            return b'{"i":%d,"pad":"%s"}' % (i, b"x" * 1000)

        for i in range(300):
            out.send(EVENTS_TOPIC, f"person-{i % 7}", value(i))
        out.pipeline()  # the first chunk goes; nothing to wait for yet
        for i in range(300, 500):
            out.send(EVENTS_TOPIC, f"person-{i % 7}", value(i))
        assert out.pending == 200
        out.pipeline()  # returns once the first 300 are acknowledged
        assert out.barrier() == 500
        assert out.acknowledged == 500
    finally:
        out.close()
    records = read_topic(broker.bootstrap, EVENTS_TOPIC, expect=500)
    assert len(records) == 500
    assert [r["value"]["i"] for r in records if r["key"] == "person-3"] == list(range(3, 500, 7))  # in order
    partitions = {}
    for record in records:
        partitions.setdefault(record["key"], set()).add(record["partition"])
    assert all(len(p) == 1 for p in partitions.values())  # one key, one partition
    expected = {f"person-{i}": (kafka_murmur2(f"person-{i}".encode()) & 0x7FFFFFFF) % 4 for i in range(7)}
    assert {k: p.pop() for k, p in partitions.items()} == expected


@pytest.mark.broker
def test_a_lost_broker_is_a_send_failure_not_a_silent_loss(broker):
    import time

    out = KafkaOut(broker.url, retries=2, retry_backoff_s=0.1, request_timeout_ms=2000, delivery_timeout_s=5)
    try:
        out.send(EVENTS_TOPIC, "a", b"{}")
        assert out.barrier() == 1
        broker.stop()
        out.send(EVENTS_TOPIC, "b", b"{}")
        started = time.monotonic()
        with pytest.raises(SendFailed, match="did not take the records"):
            out.barrier()
        assert time.monotonic() - started < 30
    finally:
        out._producer.flush(0)
