"""The shipping core shared by every source: validate with the contract, produce, dead-letter, count.

`Shipper.ship` takes one input (a mapped record, or the Rejected that mapping raised) with where
it came from; a valid record goes to its contract topic keyed as the contract says (events by
person_id, registry by household_id, filings by staff_id), anything else to hardship.deadletter
with the source, the file and row (or request and item) and the reason. `Shipper.barrier` waits
for the broker's acknowledgement, `Shipper.pipeline` hands back the previous chunk once it is
acknowledged; only over acknowledged records may a source advance its durable cursor.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field

from connectors import metrics as M
from connectors.kafka_out import KafkaOut, encode
from models.validation import VALIDATORS, Rejected, dead_letter
from streams.config import DEADLETTER_TOPIC, EVENTS_TOPIC, FILINGS_TOPIC, REGISTRY_TOPIC

log = logging.getLogger(__name__)

TOPICS = {"events": EVENTS_TOPIC, "registry": REGISTRY_TOPIC, "filings": FILINGS_TOPIC}
KEYS = {"events": "person_id", "registry": "household_id", "filings": "staff_id"}
MAX_LISTED_REJECTIONS = 1000


def contract_record(validated: dict) -> dict:
    """The validator's normalised dict without its helper key `t` and without empty optionals."""
    return {k: v for k, v in validated.items() if k != "t" and v is not None}


@dataclass
class Counts:
    """What a source did: rows read, sent, rejected by reason (and the first rejections, with rows)."""

    read: int = 0
    sent: int = 0
    rejected: Tally = field(default_factory=Tally)
    rejections: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"read": self.read, "sent": self.sent, "rejected": sum(self.rejected.values()),
                "rejected_by_reason": dict(self.rejected), "rejections": list(self.rejections)}

    @classmethod
    def from_dict(cls, data: dict | None) -> Counts:
        if not data:
            return cls()
        return cls(data.get("read", 0), data.get("sent", 0), Tally(data.get("rejected_by_reason", {})),
                   list(data.get("rejections", [])))


class Shipper:
    """Validate and produce records of one stream for one source; count what happened."""

    def __init__(self, out: KafkaOut, stream: str, connector: str, source: str) -> None:
        self.out = out
        self.stream = stream
        self.topic = TOPICS[stream]
        self.key_field = KEYS[stream]
        self.validate = VALIDATORS[stream]
        self.connector = connector
        self.source = source
        self.counts = Counts()
        self._chunk_read = 0
        self._chunk_sent = 0
        self._chunk_rejected: Tally = Tally()
        self._flight: tuple[int, dict, tuple] | None = None
        self._read_metric = M.RECORDS_READ.labels(connector, source)
        self._encode = encode
        self._drop_none = stream != "events"
        self._send = out.send

    def check(self, record: object) -> dict:
        """The contract record to produce, or raise Rejected."""
        return contract_record(self.validate(record))

    def ship(self, raw: object, record: object, where: dict | Callable[[], dict], error: Rejected | None = None,
             read: int = 1, row: int | None = None) -> Rejected | None:
        """Send one input; returns the rejection if it went to the dead letters.

        `where` (file, or request and item) may be a function, called only for a rejection; `row`
        is added to it (a file's row number).
        """
        self.counts.read += read
        self._chunk_read += read
        if error is None:
            try:
                clean = self.validate(record)
                del clean["t"]
                if self._drop_none:  # registry and filings have optional fields the validator sets to None
                    clean = {k: v for k, v in clean.items() if v is not None}
            except Rejected as exc:
                error = exc
            else:
                self._send(self.topic, clean[self.key_field], self._encode(clean))
                self.counts.sent += 1
                self._chunk_sent += 1
                return None
        where = where() if callable(where) else where
        self.reject(raw, error, where if row is None else dict(where, row=row))
        return error

    def send_valid(self, clean: dict) -> None:
        """Produce a record already checked with `check` (the HTTP push answers per item first)."""
        self.out.send(self.topic, clean[self.key_field], encode(clean))
        self.counts.sent += 1
        self._chunk_sent += 1

    def reject(self, raw: object, error: Rejected, where: dict) -> None:
        letter = dead_letter(self.stream, raw, error, source=self.source, connector=self.connector, **where)
        self.out.send(DEADLETTER_TOPIC, self.source, encode(letter))
        self.counts.rejected[error.code] += 1
        self._chunk_rejected[error.code] += 1
        if len(self.counts.rejections) < MAX_LISTED_REJECTIONS:
            listed = {k: v for k, v in where.items() if k in ("row", "rows", "line", "index", "request", "cursor")}
            listed.update(reason=error.code, field=error.field, message=error.message)
            self.counts.rejections.append(listed)

    def _take_chunk(self) -> tuple[int, int, Tally]:
        chunk = (self._chunk_read, self._chunk_sent, self._chunk_rejected)
        self._chunk_read, self._chunk_sent, self._chunk_rejected = 0, 0, Tally()
        return chunk

    def _count_acknowledged(self, chunk: tuple[int, int, Tally]) -> None:
        read, sent, rejected = chunk
        if read:
            self._read_metric.inc(read)
        if sent:
            M.RECORDS_SENT.labels(self.connector, self.source, self.topic).inc(sent)
        for reason, count in rejected.items():
            M.RECORDS_REJECTED.labels(self.connector, self.source, reason).inc(count)
        if rejected:
            M.RECORDS_SENT.labels(self.connector, self.source, DEADLETTER_TOPIC).inc(sum(rejected.values()))

    def barrier(self) -> None:
        """Block until the broker acknowledged everything shipped; then count it as sent."""
        started = time.perf_counter()
        self.out.barrier()
        if self._flight is not None:
            self._count_acknowledged(self._flight[2])
            self._flight = None
        self._count_acknowledged(self._take_chunk())
        M.COMMIT_SECONDS.labels(self.connector).observe(time.perf_counter() - started)

    def pipeline(self, position: int) -> tuple[int, dict] | None:
        """Send the chunk that ends at `position` without waiting; return (position, counts) of the
        previous chunk, now acknowledged (None for the first), for the caller's cursor."""
        started = time.perf_counter()
        snapshot = (position, self.counts.as_dict(), self._take_chunk())
        self.out.pipeline()
        previous, self._flight = self._flight, snapshot
        M.COMMIT_SECONDS.labels(self.connector).observe(time.perf_counter() - started)
        if previous is None:
            return None
        self._count_acknowledged(previous[2])
        return previous[0], previous[1]
