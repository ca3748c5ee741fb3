"""The Kafka side of every connector: confluent-kafka's Producer, at least once, one acknowledged chunk at a time.

Records are keyed as the contract says and partitioned by librdkafka's `murmur2_random` partitioner:
murmur2 of the key exactly as the Java client (and kafka-python, and Faust) compute it, so a person
lands on the partition every other client expects; records without a key go to a random partition.
Acks come from all in-sync replicas; librdkafka batches, retries retriable errors (leader moves,
timeouts, lost connections) and refreshes metadata itself. One request per broker connection is in
flight, so a retry cannot reorder a partition; no idempotence or transactions are used (the
embedded tansu broker has neither).

Records are gathered into chunks and handed to the producer a chunk at a time (one chunk in the
producer at once); a chunk is settled when the producer has nothing outstanding, and delivery
reports come for failed records only. `barrier()` sends what is gathered and returns when every
record is acknowledged, or raises `SendFailed`. `pipeline()` does the same one chunk behind: it
waits for the chunk sent by its previous call and sends the new one without waiting, so that the
broker stores a chunk while the connector reads the next. A connector moves its durable cursor only
over acknowledged chunks, so a crash resends at most the one chunk in flight (the chunk being
gathered was never handed to the producer).
"""

from __future__ import annotations

import json
import logging
import threading
import time

from streams.kafka_client import KafkaClientConfig, client_config

log = logging.getLogger(__name__)

POLL_EVERY = 1000  # records between two polls that serve delivery callbacks while a chunk is handed over


class SendFailed(RuntimeError):
    """The broker did not acknowledge a chunk after the retries; the cursor was not advanced."""


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def encode(value: object) -> bytes:
    """Compact UTF-8 JSON (Chinese stays readable on the topic)."""
    return _ENCODER.encode(value).encode("utf-8")


class _Chunk:
    """Records handed to the producer together, and the broker's refusals of them.

    Only one chunk is ever in the producer (the next is handed over once it is settled), so the
    producer's outstanding count says when it is settled, and delivery reports are asked for
    failures only (`delivery.report.only.error`): no Python call per acknowledged record.
    """

    __slots__ = ("sent", "failed", "errors")

    def __init__(self, sent: int = 0) -> None:
        self.sent = sent
        self.failed = 0
        self.errors: list[str] = []

    def delivered(self, error, message) -> None:  # noqa: ANN001 - confluent_kafka.KafkaError, Message
        if error is None:
            return
        self.failed += 1
        if len(self.errors) < 4:
            self.errors.append(f"{message.topic()}[{message.partition()}]: {error.str()}")


class KafkaOut:
    """Produce records and wait for their acknowledgement; thread-safe through `lock` (hold it across send+barrier)."""

    def __init__(self, broker_url: str, client_id: str = "connector", request_timeout_ms: int = 30_000,
                 retries: int = 10, retry_backoff_s: float = 0.5, connect_timeout_s: float = 30.0,
                 delivery_timeout_s: float = 120.0, linger_ms: int = 5, config: KafkaClientConfig | None = None) -> None:
        from confluent_kafka import KafkaException, Producer

        self.broker_url = broker_url
        self.delivery_timeout_s = delivery_timeout_s
        self.lock = threading.RLock()
        self._config = config or client_config(broker_url)
        self._errors: list[str] = []
        options = self._config.confluent(
            client_id.removeprefix("hardship-"),
            **{
                "acks": "all",
                "partitioner": "murmur2_random",  # the Java client's partitioner: keys land where Faust expects
                "enable.idempotence": False,
                "max.in.flight.requests.per.connection": 1,  # a retry cannot reorder a partition
                "linger.ms": linger_ms,
                "batch.size": 1_000_000,
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "retries": retries,
                "retry.backoff.ms": int(retry_backoff_s * 1000),
                "request.timeout.ms": request_timeout_ms,
                "message.timeout.ms": int(delivery_timeout_s * 1000),
                "socket.connection.setup.timeout.ms": int(connect_timeout_s * 1000),
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
                "error_cb": self._on_error,
                "logger": log,  # librdkafka's own log lines through logging, not raw stderr
            },
        )
        self._producer = Producer(options)
        try:
            self._producer.list_topics(timeout=connect_timeout_s)
        except KafkaException as exc:
            raise SendFailed(f"cannot reach the broker at {broker_url}: {exc.args[0].str()}") from None
        self._produce = self._producer.produce
        self._poll = self._producer.poll
        self._gathered: list[tuple[str, bytes, str | None]] = []
        self._in_flight: _Chunk | None = None
        self._current = _Chunk()  # the chunk whose delivery reports arrive
        self._since_barrier = 0
        self._partitions: dict[str, list[int]] = {}
        self.acknowledged = 0

    def _on_delivery(self, error, message) -> None:  # noqa: ANN001
        self._current.delivered(error, message)

    def _on_error(self, error) -> None:  # noqa: ANN001 - confluent_kafka.KafkaError
        """Client-wide errors (all brokers down, authentication): logged; the chunk's deliveries decide."""
        log.warning("Kafka client: %s", error.str())
        if len(self._errors) < 4:
            self._errors.append(error.str())

    # -- metadata ---------------------------------------------------------------------------------

    def partitions(self, topic: str, timeout_s: float = 30.0) -> list[int]:
        """The topic's partitions (and a check that it exists: brokers do not auto-create topics)."""
        known = self._partitions.get(topic)
        if known is not None:
            return known
        from confluent_kafka import KafkaException

        try:
            metadata = self._producer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise SendFailed(f"no metadata for topic {topic} from {self.broker_url}: {exc.args[0].str()}") from None
        if metadata is None or metadata.error is not None or not metadata.partitions:
            reason = metadata.error.str() if metadata is not None and metadata.error else "no partitions"
            raise SendFailed(f"topic {topic} is not on {self.broker_url} ({reason}); create it with `hardship topics`")
        self._partitions[topic] = sorted(metadata.partitions)
        return self._partitions[topic]

    # -- gathering ------------------------------------------------------------------------------

    def send(self, topic: str, key: str | None, value: bytes) -> None:
        """Gather one record; it goes to the producer at the next `pipeline()` or `barrier()`.

        Gathering first (rather than handing each record to librdkafka at once, which sends as it
        goes) keeps the promise of the cursor: a crash resends at most the one chunk in flight.
        """
        self._gathered.append((topic, value, key))

    @property
    def pending(self) -> int:
        """Records gathered since the last barrier/pipeline, not yet handed to the producer."""
        return len(self._gathered)

    def _hand_over(self) -> _Chunk:
        """Produce the gathered records as one chunk; its delivery callbacks settle it."""
        gathered, self._gathered = self._gathered, []
        chunk = self._current = _Chunk(len(gathered))
        produce, poll = self._produce, self._poll
        for n, (topic, value, key) in enumerate(gathered, 1):
            try:
                produce(topic, value, key)
            except BufferError:  # the local queue is full: let deliveries drain it
                while True:
                    poll(0.05)
                    try:
                        produce(topic, value, key)
                        break
                    except BufferError:
                        continue
            if not n % POLL_EVERY:
                poll(0)
        poll(0)
        self._since_barrier += len(gathered)
        return chunk

    # -- acknowledgement ------------------------------------------------------------------------

    def _wait(self, chunk: _Chunk) -> None:
        """Serve delivery callbacks until `chunk` is settled; SendFailed unless every record was acknowledged."""
        deadline = time.monotonic() + self.delivery_timeout_s + 30
        self._poll(0)
        while len(self._producer):  # records queued, in flight, or reports not yet served
            if time.monotonic() > deadline:
                raise SendFailed(f"the broker at {self.broker_url} did not answer for {len(self._producer)} "
                                 f"records ({'; '.join(self._errors) or 'no delivery report'})")
            self._poll(0.05)
        if chunk.failed:
            reasons = "; ".join(chunk.errors)
            raise SendFailed(f"the broker at {self.broker_url} did not take the records ({chunk.failed} of "
                             f"{chunk.sent}: {reasons})")

    def barrier(self) -> int:
        """Send everything gathered and wait until the broker acknowledged all of it.

        Returns how many records were sent since the previous barrier (all now acknowledged).
        """
        flight, self._in_flight = self._in_flight, None
        try:
            if flight is not None:
                self._wait(flight)
            if self._gathered:
                chunk = self._hand_over()
                self._producer.flush(self.delivery_timeout_s + 30)
                self._wait(chunk)
        except BaseException:
            self._gathered = []
            self._since_barrier = 0
            raise
        done, self._since_barrier = self._since_barrier, 0
        self.acknowledged += done
        return done

    def pipeline(self) -> None:
        """Wait for the chunk sent by the previous call, then send what is gathered without waiting.

        When it returns, every record given to `send` before the previous `pipeline()` is
        acknowledged; the broker stores the newest chunk while the caller reads the next one.
        """
        flight, self._in_flight = self._in_flight, None
        try:
            if flight is not None:
                self._wait(flight)
            if self._gathered:
                self._in_flight = self._hand_over()
        except BaseException:
            self._gathered = []
            self._since_barrier = 0
            raise

    def close(self, timeout: float = 10.0) -> None:
        """Wait for what was sent (SendFailed if the broker does not take it), then let the producer go."""
        try:
            if self._gathered or self._in_flight is not None:
                self.barrier()
        finally:
            self._producer.flush(timeout)
