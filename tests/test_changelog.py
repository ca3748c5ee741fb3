"""Table writes sent straight to the producer (streams/changelog.py) restore exactly through Faust's own recovery.

Unit, no broker: the records a TableWriter sends are decoded by the changelog topic's schema and applied by
Faust's `Table.apply_changelog_batch` (what recovery and standbys run) to a fresh worker's table; each record
sits on the partition the producer's default partitioner gives its key (its source partition).
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faust.types import Message

from streams.app import StreamSettings, create_app, in_key_context
from streams.changelog import TableWriter

PARTITIONS = 4


class _Event:  # what in_key_context files a write under (a weak reference to it)
    def __init__(self, partition: int) -> None:
        self.message = type("M", (), {"partition": partition})()


class _Metadata:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset


class _Producer:
    """Records what is sent and delivers it at once, with an offset per partition."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, int]] = []
        self.offsets: dict[int, int] = {}

    async def send(self, topic, key, value, partition, timestamp, headers):
        assert timestamp is None and headers is None
        self.records.append((topic, key, value, partition))
        offset = self.offsets.get(partition, -1) + 1
        self.offsets[partition] = offset
        future = asyncio.get_running_loop().create_future()
        future.set_result(_Metadata(topic, partition, offset))
        return future


def _partitioner(key: bytes) -> int:
    return DefaultPartitioner()(key, list(range(PARTITIONS)), list(range(PARTITIONS)))


def _app(tmp_path, name: str):
    return create_app(StreamSettings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path / name, partitions=PARTITIONS))


@pytest.mark.parametrize("table_name", ["households", "persons", "filings"])
def test_records_written_directly_restore_a_fresh_table_exactly(tmp_path, table_name):
    async def run() -> None:
        app = _app(tmp_path, "a")
        table = app.hardship[table_name]
        producer = _Producer()
        stub_app = type("A", (), {"producer": producer})()
        writer = TableWriter(stub_app, table, _partitioner, in_key_context)
        assert writer.topic == f"hardship-monitor-{table_name}-changelog" and not writer.persists
        states = {f"hh-{n}".encode(): {"n": n, "name": "张三", "facts": [1.5, None, True], "nested": {"k": [n]}}
                  for n in range(40)}
        sent = await writer.write((key, value, _Event(_partitioner(key))) for key, value in states.items())
        assert sent == 40
        # a second batch: one key changed, two deleted, and the deletion of a key the table never held
        states[b"hh-3"] = {"n": 33}
        sent = await writer.write([(b"hh-3", {"n": 33}, _Event(0)), (b"hh-4", None, _Event(0)),
                                   (b"hh-5", None, _Event(0)), (b"never", None, _Event(0))])
        assert sent == 3  # no tombstone for a key the table does not hold
        del states[b"hh-4"], states[b"hh-5"]
        assert dict(table.data.items()) == states  # the writing worker's own table

        # every record on its key's partition, under the raw key bytes; deletions are tombstones
        for topic, key, _value, partition in producer.records:
            assert topic == writer.topic and isinstance(key, bytes) and partition == _partitioner(key)
        assert [key for _, key, value, _ in producer.records if value is None] == [b"hh-4", b"hh-5"]

        # a fresh worker restores the table from those records through Faust's own decoding and apply
        fresh = _app(tmp_path, "b").hardship[table_name]
        schema = fresh.changelog_topic.schema
        events = []
        for offset, (topic, key, value, partition) in enumerate(producer.records):
            message = Message(topic, partition, offset, 0.0, 0, None, key, value, None)
            events.append(await schema.decode(fresh.app, message, propagate=True))
        fresh.apply_changelog_batch(events)
        assert dict(fresh.data.items()) == states

    asyncio.run(run())


def test_a_persisting_store_keeps_the_offset_of_each_partitions_last_record(tmp_path):
    """With RocksDB, the store keeps per changelog partition the offset of the last record delivered (what
    Faust's Table._on_changelog_sent does): recovery then reads only what came after it."""

    async def run() -> None:
        app = _app(tmp_path, "a")
        table = app.hardship["households"]
        producer = _Producer()
        writer = TableWriter(type("A", (), {"producer": producer})(), table, _partitioner, in_key_context)
        persisted: dict = {}
        table.data.set_persisted_offset = lambda tp, offset: persisted.__setitem__(tp, offset)
        writer.persists = True
        keys = [f"hh-{n}".encode() for n in range(30)]
        await writer.write((key, {"n": 1}, _Event(_partitioner(key))) for key in keys)
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
        assert {tp.partition: offset for tp, offset in persisted.items()} == {
            partition: offset for partition, offset in producer.offsets.items()}
        assert {tp.topic for tp in persisted} == {writer.topic}

    asyncio.run(run())


def test_a_message_the_producer_gives_up_on_stops_the_worker_before_any_commit(monkeypatch):
    """drain_before_commit watches every send: a delivery that failed after the producer's retries makes the
    flush before a commit exit the worker (code 4) instead of returning, so no offset passes what sent it."""
    import types

    import streams.app as app_module

    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(app_module.os, "_exit", fake_exit)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        outcomes: list[asyncio.Future] = []

        async def faust_send(topic, key, value, partition, timestamp, headers):
            future = loop.create_future()
            outcomes.append(future)
            return future

        async def aiokafka_flush() -> None:  # the broker answers: the first delivered, the second given up on
            for future in outcomes:
                if not future.done():
                    if len(outcomes) == 1:
                        future.set_result(_Metadata(ALERTS, 0, 1))
                    else:
                        future.set_exception(RuntimeError("KafkaTimeoutError: batch expired"))

        buffer = types.SimpleNamespace(put=lambda fut: None, _send_pending=None, state="running",
                                       message_sent=asyncio.Event())
        producer = types.SimpleNamespace(buffer=buffer, send=faust_send,
                                         _producer=types.SimpleNamespace(flush=aiokafka_flush))
        app_module.drain_before_commit(types.SimpleNamespace(producer=producer))
        await producer.send(ALERTS, b"k", b"v", 0, None, None)
        await producer.flush()  # delivered: the flush returns and the commit may go on
        assert exits == []
        await producer.send(ALERTS, b"k", b"v", 0, None, None)
        with pytest.raises(SystemExit):
            await producer.flush()

    asyncio.run(run())
    assert exits == [4]


ALERTS = "hardship.alerts"
