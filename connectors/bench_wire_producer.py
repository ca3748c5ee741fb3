"""The connectors' former hand-written producer, kept only as the baseline of `hardship bench connector`.

No connector uses it: they produce with confluent-kafka (connectors/kafka_out.py). What follows is
its original description, for the record.

Records are keyed as the contract says and partitioned as Kafka's default partitioner does
(murmur2 of the key, so every client puts a person on the same partition). They are gathered
per partition into record batches (message format v2: the bytes kafka-python's
DefaultRecordBatchBuilder writes, CRC-32C by the crc32c package) and sent as ProduceRequests,
acks from all in-sync replicas (-1), through kafka-python's network client.

`barrier()` sends what is gathered and waits for every partition's acknowledgement, retrying
retriable errors (leader moves, timeouts, lost connections) after a metadata refresh, and raises
`SendFailed` otherwise. `pipeline()` does the same one chunk behind: it waits for the chunk sent
by its previous call and sends the new one without waiting, so that the broker stores a chunk
while the connector reads the next. A connector moves its durable cursor only over acknowledged
chunks, so a crash resends at most the one chunk in flight. One request per broker is in flight
at a time, so a partition's records stay in order; no idempotence or transactions are used (the
embedded tansu broker has neither).

Why not KafkaProducer.send per record: its per-record Python path (futures, accumulator locks,
its sender thread contending for the GIL) measured 8,000-10,000 records/s here, a fifth of the
rate of merely parsing a file; building the batches here reaches about 150,000 records/s.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from itertools import count

from connectors.kafka_out import SendFailed, encode  # noqa: F401 - the same error and encoding as the connectors
from streams.config import bootstrap_servers

log = logging.getLogger(__name__)

ACKS_ALL = -1
MAX_BATCH_BYTES = 512 * 1024  # per partition and request; brokers refuse batches over message.max.bytes (1 MB)


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (as the Java client and kafka-python compute it), with struct for the blocks."""
    length = len(data)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    blocks = length // 4
    for (k,) in _BLOCKS.iter_unpack(data[: blocks * 4]):
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length & 3
    if tail:
        rest = data[blocks * 4:]
        if tail == 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


_BLOCKS = struct.Struct("<I")


def _zigzag_varint(value: int) -> bytes:
    """Kafka's signed varint (zigzag, then LEB128)."""
    v = (value << 1) ^ (value >> 63)
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


_VARINTS = [_zigzag_varint(i) for i in range(1 << 14)]
_NULL_KEY = _zigzag_varint(-1)
_HEADER = struct.Struct(">qiibI")  # base offset, batch length, partition leader epoch, magic, crc
_AFTER_CRC = struct.Struct(">hiqqqhii")  # attributes ... record count


def _varint(value: int) -> bytes:
    return _VARINTS[value] if value < 16384 else _zigzag_varint(value)


class _Batch:
    """One record batch (message format v2, uncompressed, no producer id) being gathered for a partition.

    The same bytes kafka-python's DefaultRecordBatchBuilder writes, without its per-record generality:
    every record of the batch shares the batch's timestamp and has no headers.
    """

    __slots__ = ("records", "count", "size", "timestamp")

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.count = 0
        self.size = 61
        self.timestamp = int(time.time() * 1000)

    def append(self, key: bytes | None, value: bytes) -> None:
        key_part = _NULL_KEY if key is None else _varint(len(key)) + key
        body = b"\x00\x00" + _varint(self.count) + key_part + _varint(len(value)) + value + b"\x00"
        record = _varint(len(body)) + body
        self.records.append(record)
        self.count += 1
        self.size += len(record)

    def build(self) -> bytes:
        from kafka.record.util import calc_crc32c

        tail = _AFTER_CRC.pack(0, self.count - 1, self.timestamp, self.timestamp, -1, -1, -1, self.count)
        body = tail + b"".join(self.records)
        crc = calc_crc32c(body)
        return _HEADER.pack(0, len(body) + 9, -1, 2, crc) + body


class _Flight:
    """Record batches sent and not yet acknowledged: kept until acknowledged, for a resend."""

    __slots__ = ("built", "requests", "failures")

    def __init__(self, built: dict[tuple[str, int], bytes]) -> None:
        self.built = built
        self.requests: list = []
        self.failures: dict[tuple[str, int], tuple[str, bool]] = {}


class WireKafkaOut:
    """Gather, send and acknowledge records; thread-safe through `lock` (hold it across send+barrier)."""

    def __init__(self, broker_url: str, client_id: str = "hardship-connector", request_timeout_ms: int = 30_000,
                 retries: int = 10, retry_backoff_s: float = 0.5, max_batch_bytes: int = MAX_BATCH_BYTES,
                 connect_timeout_s: float = 30.0) -> None:
        try:
            from kafka.net.compat import KafkaNetClient
        except ImportError:  # pragma: no cover - kafka-python 2.x
            raise SendFailed("the connectors need kafka-python 3.0 or newer: pip install 'kafka-python>=3.0'") from None

        self.broker_url = broker_url
        self.request_timeout_ms = request_timeout_ms
        self.retries = retries
        self.retry_backoff_s = retry_backoff_s
        self.max_batch_bytes = max_batch_bytes
        self.lock = threading.RLock()
        self._murmur2 = murmur2
        self._client = KafkaNetClient(
            bootstrap_servers=bootstrap_servers(broker_url), client_id=client_id,
            request_timeout_ms=request_timeout_ms, max_in_flight_requests_per_connection=1,
        )
        try:
            self._client.get_broker_version(int(connect_timeout_s * 1000))
        except Exception as exc:
            self._client.close()
            raise SendFailed(f"cannot reach the broker at {broker_url}: {exc}") from exc
        self._partitions: dict[str, list[int]] = {}
        self._batches: dict[tuple[str, int], _Batch] = {}
        self._pending = 0
        self._since_barrier = 0
        self._in_flight: _Flight | None = None
        self._until_poll = 0
        self._round_robin = count()
        self.acknowledged = 0

    # -- metadata ---------------------------------------------------------------------------------

    def partitions(self, topic: str, timeout_s: float = 30.0) -> list[int]:
        known = self._partitions.get(topic)
        if known is not None:
            return known
        cluster = self._client.cluster
        deadline = time.monotonic() + timeout_s
        future = cluster.add_topic(topic)
        while True:
            self._client.poll(timeout_ms=int(max(deadline - time.monotonic(), 0.1) * 1000), future=future)
            found = cluster.partitions_for_topic(topic)
            if found:
                self._partitions[topic] = sorted(found)
                return self._partitions[topic]
            if time.monotonic() > deadline:
                raise SendFailed(f"no metadata for topic {topic} from {self.broker_url}; is the topic created?")
            time.sleep(0.1)
            future = cluster.request_update()

    def _refresh_metadata(self) -> None:
        future = self._client.cluster.request_update()
        self._client.poll(timeout_ms=self.request_timeout_ms, future=future)
        self._partitions.clear()

    # -- gathering ------------------------------------------------------------------------------

    def send(self, topic: str, key: str | None, value: bytes) -> None:
        """Gather one record; it is on the broker only after the next `barrier()`."""
        partitions = self._partitions.get(topic) or self.partitions(topic)
        raw_key = key.encode("utf-8") if key is not None else None
        if raw_key is not None:
            partition = partitions[(self._murmur2(raw_key) & 0x7FFFFFFF) % len(partitions)]
        else:
            partition = partitions[next(self._round_robin) % len(partitions)]
        batch = self._batches.get((topic, partition))
        if batch is None:
            batch = self._batches[(topic, partition)] = _Batch()
        batch.append(raw_key, value)
        self._pending += 1
        self._since_barrier += 1
        if self._in_flight is not None:
            self._until_poll -= 1
            if self._until_poll <= 0:  # let the network client write the chunk in flight and read its answer
                self._until_poll = 200
                self._client.poll(timeout_ms=0)
        if batch.size >= self.max_batch_bytes:
            self._dispatch()  # a full batch goes out now; the caller's cursor still waits for barrier()

    @property
    def pending(self) -> int:
        return self._pending

    # -- sending ----------------------------------------------------------------------------------

    def barrier(self) -> int:
        """Send everything gathered and wait until the broker acknowledged all of it.

        Returns how many records were sent since the previous barrier (all now acknowledged).
        """
        try:
            self._await_in_flight()
            built = self._take()
            if built:
                self._complete(self._start(built))
        except BaseException:
            self._since_barrier = 0
            raise
        finally:
            self._batches = {}
            self._pending = 0
        done, self._since_barrier = self._since_barrier, 0
        self.acknowledged += done
        return done

    def pipeline(self) -> None:
        """Wait for the chunk sent by the previous call, then send what is gathered without waiting.

        When it returns, every record given to `send` before the previous `pipeline()` is
        acknowledged; the broker works on the newest chunk while the caller reads the next one.
        """
        try:
            self._await_in_flight()
            built = self._take()
            if built:
                self._in_flight = self._start(built)
                self._client.poll(timeout_ms=0)
        except BaseException:
            self._since_barrier = 0
            raise
        finally:
            self._batches = {}
            self._pending = 0

    def _take(self) -> dict[tuple[str, int], bytes]:
        built = {tp: batch.build() for tp, batch in self._batches.items()}
        self._batches = {}
        self._pending = 0
        return built

    def _await_in_flight(self) -> None:
        flight, self._in_flight = self._in_flight, None
        if flight is not None:
            self._complete(flight)

    def _dispatch(self) -> None:
        """A partition's batch is full in the middle of a chunk: send all gathered now, synchronously."""
        self._await_in_flight()
        built = self._take()
        if built:
            self._complete(self._start(built))

    def _start(self, built: dict[tuple[str, int], bytes]) -> _Flight:
        """One ProduceRequest per leader, sent without waiting for the answers."""
        from kafka.protocol.producer import ProduceRequest
        from kafka.structs import TopicPartition

        cluster = self._client.cluster
        flight = _Flight(built)
        by_leader: dict[int, dict[tuple[str, int], bytes]] = {}
        for tp, records in built.items():
            leader = cluster.leader_for_partition(TopicPartition(*tp))
            if leader is None or leader == -1:
                flight.failures[tp] = ("no leader known", True)
                continue
            by_leader.setdefault(leader, {})[tp] = records
        Topic = ProduceRequest.TopicProduceData
        Partition = Topic.PartitionProduceData
        for leader, batches in by_leader.items():
            per_topic: dict[str, list] = {}
            for (topic, partition), records in batches.items():
                per_topic.setdefault(topic, []).append(Partition(index=partition, records=records))
            request = ProduceRequest(
                transactional_id=None, acks=ACKS_ALL, timeout_ms=self.request_timeout_ms,
                topic_data=[Topic(name=t, partition_data=p) for t, p in per_topic.items()],
                min_version=0, max_version=9,
            )
            try:
                self._client.await_ready(leader, timeout_ms=self.request_timeout_ms)
                flight.requests.append((self._client.send(leader, request), list(batches)))
            except Exception as exc:  # noqa: BLE001 - connection trouble: retriable
                for tp in batches:
                    flight.failures[tp] = (f"{type(exc).__name__}: {exc}", True)
        return flight

    def _answers(self, flight: _Flight) -> dict[tuple[str, int], tuple[str, bool]]:
        """Wait for a flight's answers; the failed partitions with (reason, retriable)."""
        import kafka.errors as Errors

        failures = dict(flight.failures)
        for future, tps in flight.requests:
            try:
                if not future.is_done:
                    self._client.poll(timeout_ms=self.request_timeout_ms + 5000, future=future)
            except Exception as exc:  # noqa: BLE001 - connection trouble: retriable
                for tp in tps:
                    failures[tp] = (f"{type(exc).__name__}: {exc}", True)
                continue
            if not future.is_done or future.failed():
                error = future.exception if future.is_done else Errors.KafkaTimeoutError("no answer")
                for tp in tps:
                    failures[tp] = (f"{type(error).__name__}: {error}", bool(getattr(error, "retriable", True)))
                continue
            answered: set[tuple[str, int]] = set()
            for topic_response in future.value.responses:
                for part in topic_response.partition_responses:
                    tp = (topic_response.name, part.index)
                    answered.add(tp)
                    if part.error_code:
                        error = Errors.for_code(part.error_code)
                        failures[tp] = (error.__name__, bool(getattr(error, "retriable", False)))
            for tp in tps:
                if tp not in answered:
                    failures[tp] = ("no answer for the partition", True)
        return failures

    def _complete(self, flight: _Flight) -> None:
        """Wait for a flight; resend failed partitions (retriable errors) until acknowledged."""
        attempt = 0
        while True:
            failures = self._answers(flight)
            if not failures:
                return
            attempt += 1
            retriable = all(retry for _reason, retry in failures.values())
            reasons = "; ".join(f"{tp[0]}[{tp[1]}]: {reason}" for tp, (reason, _r) in list(failures.items())[:4])
            if not retriable or attempt > self.retries:
                raise SendFailed(f"the broker at {self.broker_url} did not take the records ({reasons})")
            log.warning("retrying %d partition batches (attempt %d): %s", len(failures), attempt, reasons)
            time.sleep(min(self.retry_backoff_s * 2 ** (attempt - 1), 5.0))
            try:
                self._refresh_metadata()
            except Exception as exc:  # noqa: BLE001 - the next attempt reports it
                log.warning("metadata refresh failed: %s", exc)
            flight = self._start({tp: flight.built[tp] for tp in failures})

    def close(self, timeout: float = 10.0) -> None:
        try:
            if self._batches or self._in_flight is not None:
                self.barrier()
        finally:
            self._client.close()
