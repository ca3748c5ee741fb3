"""The group-wide barrier behind a held provisional alert: the whole group, not one worker, has caught up.

A 漏保 of a person on no roster is held while the roster record that would absorb their provisional
household may still be on its way (streams/app.py: release_held_alerts). That record crosses three hops,
registry -> households (the record) -> persons (join) -> households (handover), and with two or more
workers each hop's partitions may be anyone's. So the barrier reads, for every partition of a topic, the
offset the consumer group has committed and the topic's end, from the broker:

  1. the registry topic: the group has committed up to the ends read when the alert became due;
  2. then the households topic up to its ends read at that moment (every roster record applied, its
     joins sent);
  3. then the persons topic up to its ends read at that moment (every join applied, its handover sent).

A release sent after that lands behind any handover of the same household on its partition. Each step
holds because a worker flushes its producer before it commits offsets (drain_before_commit): what a
committed message sent on is in the next topic, below the ends read after the commit.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import TopicPartition

from streams.kafka_client import client_config
from streams.tansu import exact_end_offsets

log = logging.getLogger(__name__)


class GroupOffsets:
    """A consumer of the group that never joins it (it subscribes to nothing): it only reads the group's
    committed offsets (OffsetFetch) and the topics' end offsets (ListOffsets, made exact on tansu)."""

    def __init__(self, broker_url: str, group: str, partitions: int, tansu: bool) -> None:
        self.broker_url = broker_url
        self.group = group
        self.partitions = partitions
        self.tansu = tansu
        self.consumer: AIOKafkaConsumer | None = None
        self.reader: AIOKafkaConsumer | None = None  # no group: reads records at an offset (first_offset_from)

    async def _client(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            config = client_config(self.broker_url)
            consumer = AIOKafkaConsumer(**config.aiokafka("barrier"), group_id=self.group,
                                        enable_auto_commit=False)
            await consumer.start()
            self.consumer = consumer
        return self.consumer

    def _tps(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for partition in range(self.partitions)]

    async def ends(self, topic: str) -> dict[TopicPartition, int]:
        """The offset after the last record of each partition of `topic`."""
        consumer = await self._client()
        reported = await consumer.end_offsets(self._tps(topic))
        if not self.tansu:
            return dict(reported)
        servers = list(client_config(self.broker_url).servers)
        return await exact_end_offsets(servers, reported)

    async def cluster_id(self) -> str | None:
        """The cluster id the broker reports (Metadata v2 and later). It changes only when the cluster is a new
        one: a Kafka cluster created again, or the embedded broker started again (it keeps nothing)."""
        client = (await self._client())._client  # aiokafka's client of this consumer: one Metadata request
        response = await client.send(client.get_random_node(), MetadataRequest([]))
        return getattr(response, "cluster_id", None)

    async def committed_past(self, marks: dict[TopicPartition, int]) -> bool:
        """Whether the group has committed up to `marks` on every one of those partitions."""
        consumer = await self._client()
        for tp, mark in marks.items():
            if mark and (await consumer.committed(tp) or 0) < mark:
                return False
        return True

    async def first_offset_from(self, topic: str, partition: int, offset: int, timeout_ms: int = 3000) -> int | None:
        """The offset of the first record the log of topic[partition] holds at or after `offset` (None: none
        came within the timeout, as when the log ends there)."""
        if self.reader is None:
            reader = AIOKafkaConsumer(**client_config(self.broker_url).aiokafka("offset-check"),
                                      enable_auto_commit=False, max_partition_fetch_bytes=1_048_576)
            await reader.start()
            self.reader = reader
        tp = TopicPartition(topic, partition)
        self.reader.assign([tp])
        self.reader.seek(tp, offset)
        batches = await self.reader.getmany(tp, timeout_ms=timeout_ms, max_records=1)
        records = batches.get(tp) or []
        return records[0].offset if records else None

    async def close(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()
        if self.reader is not None:
            reader, self.reader = self.reader, None
            await reader.stop()
