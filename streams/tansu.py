"""A Faust transport for the embedded tansu broker: exact end offsets, so table recovery reads everything.

tansu answers ListOffsets "latest" with the base offset + 1 of the newest record batch, not the true
end (DESIGN.md, "The embedded broker"). Faust reads a changelog only up to that offset when it
restores a table, so after a restart it would lose the rest of the newest batch. Making every record
its own batch (producer_max_batch_size=1) fixes recovery but cuts throughput twenty-fold, so instead
this transport asks for the reported end, fetches the batch that holds the offset before it (the
newest batch, returned whole) and answers the offset after its last record. It also shortens the
fetch wait, which tansu always sits out in full. Used for the consumer
side only (`broker_consumer = tansu://host:port`); the scheme is registered as a Faust transport
entry point in pyproject.toml. Against Apache Kafka the ordinary `kafka://` transport is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aiokafka
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 5.0


async def exact_end_offsets(bootstrap_servers: list[str], reported: Mapping[TP, int]) -> dict[TP, int]:
    """The true end of each partition, given tansu's reported end (base offset + 1 of the newest batch)."""
    wanted = {tp: end for tp, end in reported.items() if end and end > 0}
    result = dict(reported)
    if not wanted:
        return result
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                         group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = {tp: TopicPartition(tp.topic, tp.partition) for tp in wanted}
        consumer.assign(list(partitions.values()))
        for tp, end in wanted.items():
            consumer.seek(partitions[tp], end - 1)
        pending = set(wanted)
        deadline = asyncio.get_running_loop().time() + FETCH_TIMEOUT_SECONDS
        while pending and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for tp in list(pending):
                messages = batches.get(partitions[tp])
                if messages:
                    last = messages[-1].offset + 1
                    if last > result[tp]:
                        result[tp] = last
                    pending.discard(tp)
        if pending:
            log.warning("could not confirm the end of %d partitions; using the broker's answer", len(pending))
    finally:
        await consumer.stop()
    corrected = {tp: (reported[tp], result[tp]) for tp in wanted if result[tp] != reported[tp]}
    if corrected:
        log.info("tansu end offsets corrected for recovery: %s", corrected)
    return result


FETCH_MAX_WAIT_MS = 100


class ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):  # type: ignore[override]
        """tansu answers a fetch only when its wait runs out, and Faust asks to wait 1.5 s: per hop
        that is 1.5 s of latency. A short wait trades a few empty fetches for sub-second alerts."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self, partitions):  # type: ignore[override]
        reported = await super()._highwaters(partitions)
        transport = self.transport
        servers = driver.server_list(transport.url, transport.default_port)
        return await exact_end_offsets(servers, reported)


class Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = Consumer
