"""A batch's table writes, made to the table's store and sent to its changelog straight through the producer.

`faust_table[key] = state` costs Faust's whole per-message machinery for every write: the table's
`on_key_set` -> `changelog_topic.send_soon` -> a FutureMessage and a PendingMessage in the producer's
buffer -> the buffer's task -> the producer, with callbacks. The keyed agents write once per touched key
per batch, and that machinery was the worker's largest single cost. `TableWriter.write` does what it
does, in one pass per batch:

- the value goes into the table's store (`table.data`), in the context of the event that carried the key,
  so that the RocksDB store files it under the key's partition (`in_key_context`);
- the changelog record goes to the producer at once (appended to its batch of the partition, no task,
  no buffer): the key's raw bytes, the value as JSON (compact: `json.loads` of Faust's recovery gives
  the same value as from Faust's own encoding), None for a deletion (a tombstone), on the partition
  the producer's partitioner gives the key (what Faust's `use_partitioner=True` tables do): the key's
  own source partition;
- with a RocksDB store, the offset of the last record delivered per partition is kept in the store
  (what Faust's `Table._on_changelog_sent` does), so that recovery reads only what came after it.

Faust's recovery and standbys read these records exactly as Faust's own (tests/test_stream*.py:
recovery after kill -9 and a rebalance, and every record on its key's source partition). Commits stay
behind the writes: the records are in the producer before the agent takes its next batch (before the
batch's offsets can be committed), and the flush before a commit waits for every record the producer
holds (streams/app.py: drain_before_commit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import msgspec
from faust.stores.memory import Store as MemoryStore
from faust.types import TP

_encode_json = msgspec.json.Encoder().encode


def dumps_state(value: object) -> bytes:
    """A table value as its changelog carries it: compact UTF-8 JSON (Faust's `json` serializer reads it back
    unchanged). msgspec's encoder, not `json.dumps`: encoding household states was the worker's largest own
    cost (docs/benchmarks.md)."""
    return _encode_json(value)


class TableWriter:
    """Writes of one Faust table (bytes keys, JSON values, `use_partitioner=True`), one batch at a time."""

    def __init__(self, app, table, partition_of: Callable[[bytes], int],
                 in_key_context: Callable[[object], None]) -> None:
        self.app = app
        self.table = table
        self.topic = table.changelog_topic.get_topic_name()
        self.partition_of = partition_of
        self.in_key_context = in_key_context
        # the memory store keeps no offsets (its set_persisted_offset does nothing); RocksDB does
        self.persists = not isinstance(table.data, MemoryStore)

    async def write(self, writes: Iterable[tuple[bytes, object, object]]) -> int:
        """Apply (key, value or None to delete, the event that carried the key) and send their changelog
        records; returns how many records were sent. A deletion of a key the table does not hold sends
        nothing (as `del table[key]` would refuse)."""
        data = self.table.data
        send: Callable[..., Awaitable] = self.app.producer.send
        last: dict[int, object] = {}  # partition -> the future of its last record of this batch
        sent = 0
        for key, value, event in writes:
            self.in_key_context(event)  # the RocksDB store files the write under this event's partition
            if value is None:
                if key not in data:
                    continue
                del data[key]
                payload = None
            else:
                data[key] = value
                payload = dumps_state(value)
            partition = self.partition_of(key)
            # a record the producer gives up on stops the worker before any commit (app.drain_before_commit)
            last[partition] = await send(self.topic, key, payload, partition, None, None)
            sent += 1
        if self.persists:
            for future in last.values():  # a partition's records are delivered in order: the last one's offset
                future.add_done_callback(self._persist)
        return sent

    def _persist(self, future) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        metadata = future.result()
        self.table.data.set_persisted_offset(TP(metadata.topic, metadata.partition), metadata.offset)
