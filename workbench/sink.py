"""The alert sink (预警接收): reads hardship.alerts and upserts each alert, committing Kafka offsets after the database.

An alert that breaks the contract goes to hardship.deadletter with its reason, and so does an alert that
the database itself refuses (a value it cannot store, a constraint): each alert is written under its own
savepoint, so one refused alert never holds back the good ones behind it. Only a database that is away
(a lost connection, a missing table) stops the batch, which is then read again. A crash between the
database commit and the offset commit replays a few alerts, which the upsert absorbs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from models.privacy import install_log_masking, mask_personal
from models.validation import Rejected, dead_letter, decode_json
from streams.config import ALERTS_TOPIC, DEADLETTER_TOPIC
from streams.kafka_client import client_config
from workbench.alerts import upsert_alert
from workbench.timeutil import utcnow

log = logging.getLogger(__name__)
GROUP_ID = "hardship-workbench"
# Errors of the database about one record (its value, a constraint, a trigger refusing it), not about the
# database being away: OperationalError, InterfaceError and ProgrammingError (a missing table) are not here.
RECORD_REFUSALS = (sa_exc.DataError, sa_exc.IntegrityError, sa_exc.InternalError)
# The sinks of one process (alerts, roster) write one at a time on SQLite: two deferred transactions that both read and
# then write make SQLite answer "database is locked" at once, whatever its busy timeout (seen in `hardship demo`).
SQLITE_WRITE_LOCK = threading.Lock()


def refused_by_database(error: sa_exc.SQLAlchemyError) -> Rejected | None:
    """The dead-letter reason for a database error that concerns one record, else None (retry the batch)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated or not isinstance(error, RECORD_REFUSALS):
            return None
        first_line = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
        return Rejected("DATABASE_REFUSED", f"the workbench database refused the record ({type(error.orig).__name__}: "
                        f"{mask_personal(first_line)[:200]}); correct the record at its producer and send it again")
    if isinstance(error, sa_exc.StatementError):  # a value that could not be bound (before the database saw it)
        return Rejected("DATABASE_REFUSED", f"the record holds a value the database cannot take "
                        f"({type(error.orig).__name__}); correct the record at its producer and send it again")
    return None


class AlertSink:
    """A kafka-python consumer in a thread; `poll_once()` is one batch, used by `run()` and by tests.

    Subclasses (the roster sink, workbench/roster.py) name another stream and upsert: `stream` (the dead letter's
    stream name), `thread_name` and `upsert(session, obj, now) -> created?`."""

    stream = "alerts"
    thread_name = "alert-sink"

    def __init__(self, sessions: sessionmaker[Session], broker_url: str, *, group_id: str = GROUP_ID,
                 topic: str = ALERTS_TOPIC, metrics=None, clock=utcnow) -> None:  # noqa: ANN001
        install_log_masking()  # its refusals and retries are logged: never with a personal number in full
        self.sessions = sessions
        self.broker_url = broker_url
        self.group_id = group_id
        self.topic = topic
        self.metrics = metrics
        self.clock = clock
        self._consumer = None
        self._producer = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ingested = 0

    def _connect(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer

        kafka = client_config(self.broker_url)  # brokers, TLS/SASL, client id
        self._consumer = KafkaConsumer(
            **kafka.kafka_python("workbench-sink"), group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
            heartbeat_interval_ms=1000, max_poll_records=500,
        )
        self._consumer.subscribe([self.topic])
        self._producer = KafkaProducer(**kafka.kafka_python("workbench-deadletter"), acks="all")

    def upsert(self, session: Session, obj: object, now) -> bool:  # noqa: ANN001
        """Store one decoded record; True when it was new. Raises Rejected for a record that breaks the contract."""
        _alert, created = upsert_alert(session, obj, now)
        return created

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.alerts_ingested.labels(result).inc()

    def poll_once(self, timeout_ms: int = 1000) -> int:
        """Read one batch, upsert it in one transaction, commit it, then commit the offsets."""
        if self._consumer is None:
            self._connect()
        batch = self._consumer.poll(timeout_ms=timeout_ms)
        messages = [m for records in batch.values() for m in records]
        if not messages:
            return 0
        now = self.clock()
        results: list[str] = []
        dead: list[dict] = []
        bind = self.sessions.kw.get("bind")
        serial = SQLITE_WRITE_LOCK if bind is not None and bind.dialect.name == "sqlite" else contextlib.nullcontext()
        with serial, self.sessions() as session:
            for message in messages:
                try:
                    obj = decode_json(message.value)
                    with session.begin_nested():
                        created = self.upsert(session, obj, now)
                    results.append("created" if created else "updated")
                except Rejected as exc:
                    results.append("rejected")
                    dead.append(dead_letter(self.stream, message.value, exc, topic=message.topic,
                                            partition=message.partition, offset=message.offset))
                except sa_exc.SQLAlchemyError as exc:  # the savepoint is rolled back; the batch goes on
                    refusal = refused_by_database(exc)
                    if refusal is None:
                        raise
                    log.warning("%s record at %s[%d]@%d refused by the database: %s", self.stream, message.topic, message.partition,
                                message.offset, refusal.message)
                    results.append("rejected")
                    dead.append(dead_letter(self.stream, message.value, refusal, topic=message.topic,
                                            partition=message.partition, offset=message.offset))
            session.commit()
        for record in dead:  # before the offsets: a bad alert is never skipped silently
            self._producer.send(DEADLETTER_TOPIC, json.dumps(record, ensure_ascii=False).encode())
        if dead:
            self._producer.flush(timeout=30)
            log.warning("%d %s record(s) refused and sent to %s", len(dead), self.stream, DEADLETTER_TOPIC)
        self._consumer.commit()
        for result in results:
            self._count(result)
        self.ingested += len(messages)
        return len(messages)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - database or broker blinked: nothing committed, try again
                log.exception("%s sink: batch failed; retrying", self.stream)
                self._close()
                self._stop.wait(2.0)
        self._close()

    def start(self) -> AlertSink:
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
        else:
            self._close()

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:  # noqa: BLE001
                log.debug("closing the consumer failed", exc_info=True)
            self._consumer = None
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
