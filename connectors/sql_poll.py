"""SQL polling: any SQLAlchemy URL, a query and an increasing cursor column, shipped in batches.

The query (or a table) is wrapped as `SELECT * FROM (<query>) AS q WHERE q.<cursor> > :cursor
ORDER BY q.<cursor> LIMIT :batch`; each batch goes through the department's mapping (or passes
through when the columns already have the contract's names) and the validators, then the broker's
acknowledgement, then the cursor (the last value) is written durably. Rows that share the last
cursor value of a full batch are left for the next poll, so a non-unique column such as an update
time loses no row; a unique increasing column (an id, a sequence) is best.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
import threading
import time
from pathlib import Path

from connectors import metrics as M
from connectors.core import Shipper
from connectors.kafka_out import KafkaOut
from connectors.mapping import Mapping
from connectors.state import Cursor, StateLock
from models.validation import Rejected

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_.\u4e00-\u9fff]*$")


class SqlSourceError(RuntimeError):
    """The query or the cursor column cannot be used."""


def _dump_cursor(value: object) -> dict:
    if isinstance(value, bool):
        raise SqlSourceError("a boolean column cannot be a cursor")
    if isinstance(value, int):
        return {"kind": "int", "value": value}
    if isinstance(value, decimal.Decimal):
        return {"kind": "decimal", "value": str(value)}
    if isinstance(value, float):
        return {"kind": "float", "value": value}
    if isinstance(value, dt.datetime):
        return {"kind": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"kind": "date", "value": value.isoformat()}
    if isinstance(value, str):
        return {"kind": "str", "value": value}
    raise SqlSourceError(f"a {type(value).__name__} column cannot be a cursor; use a number, text or time")


def _load_cursor(saved: dict | None) -> object:
    if not saved or saved.get("value") is None:
        return None
    kind, value = saved["kind"], saved["value"]
    return {
        "int": int, "float": float, "str": str, "decimal": decimal.Decimal,
        "datetime": dt.datetime.fromisoformat, "date": dt.date.fromisoformat,
    }[kind](value)


class SqlPoller:
    def __init__(self, url: str, cursor_column: str, mapping: Mapping, out: KafkaOut, state_dir: Path,
                 query: str | None = None, table: str | None = None, name: str | None = None,
                 batch: int = 5000) -> None:
        import sqlalchemy

        if not (query or table) or (query and table):
            raise SqlSourceError("give either a query or a table")
        if not _NAME_RE.match(cursor_column):
            raise SqlSourceError(f"cursor column {cursor_column!r} is not a plain column name")
        self.engine = sqlalchemy.create_engine(url, pool_pre_ping=True, hide_parameters=True)  # no resident ID in error logs
        preparer = self.engine.dialect.identifier_preparer
        if table:
            if not _NAME_RE.match(table):
                raise SqlSourceError(f"table {table!r} is not a plain table name")
            base = "SELECT * FROM " + ".".join(preparer.quote(part) for part in table.split("."))
        else:
            base = query.strip().rstrip(";")
        column = preparer.quote(cursor_column)
        self.cursor_column = cursor_column
        self.mapping = mapping
        self.out = out
        self.batch = max(1, batch)
        self.name = name or mapping.source or mapping.name
        self.source = mapping.source or self.name
        self._first = sqlalchemy.text(f"SELECT * FROM ({base}) AS q ORDER BY q.{column} LIMIT :limit")
        self._next = sqlalchemy.text(f"SELECT * FROM ({base}) AS q WHERE q.{column} > :cursor "
                                     f"ORDER BY q.{column} LIMIT :limit")
        self._count_all = sqlalchemy.text(f"SELECT count(*) FROM ({base}) AS q")
        self._count_after = sqlalchemy.text(f"SELECT count(*) FROM ({base}) AS q WHERE q.{column} > :cursor")
        self.lock = StateLock(Path(state_dir) / "sql" / self.name)
        self.cursor_store = Cursor(Path(state_dir) / "sql" / self.name / "cursor.json")
        saved = self.cursor_store.load()
        self.cursor = _load_cursor(saved)
        self.mapper = mapping.dynamic()
        self.shipper = Shipper(out, mapping.stream, "sql", self.source)
        if saved and saved.get("counts"):
            from connectors.core import Counts

            self.shipper.counts = Counts.from_dict(saved["counts"])
        self._lag = M.CURSOR_LAG.labels("sql", self.name)

    def _fetch(self) -> list[dict]:
        with self.engine.connect() as connection:
            if self.cursor is None:
                result = connection.execute(self._first, {"limit": self.batch})
            else:
                result = connection.execute(self._next, {"cursor": self.cursor, "limit": self.batch})
            return [dict(row._mapping) for row in result]

    def poll_once(self) -> int:
        """Ship one batch; returns how many rows it held (0: nothing new)."""
        rows = self._fetch()
        if not rows:
            self._update_lag()
            return 0
        if self.cursor_column not in rows[0]:
            raise SqlSourceError(f"the query returns no column {self.cursor_column!r}")
        if len(rows) == self.batch:
            last = rows[-1][self.cursor_column]
            keep = [r for r in rows if r[self.cursor_column] != last]
            if not keep:
                raise SqlSourceError(f"more than {self.batch} rows share the cursor value {last!r}; raise --batch")
            rows = keep  # rows sharing the last value come whole in the next poll
        for row in rows:
            cursor_value = row[self.cursor_column]
            try:
                record = self.mapper.map_row(row)
                error = None
            except Rejected as exc:
                record, error = None, exc
            self.shipper.ship(row, record, lambda v=cursor_value: {"query": self.name, "cursor": v}, error)
        self.shipper.barrier()  # acknowledged: now the cursor may move
        self.cursor = rows[-1][self.cursor_column]
        self.cursor_store.save({**_dump_cursor(self.cursor), "column": self.cursor_column,
                                "counts": self.shipper.counts.as_dict()})
        M.CURSOR_AGE.labels("sql", self.name).set(time.time())
        self._update_lag()
        return len(rows)

    def _update_lag(self) -> None:
        try:
            with self.engine.connect() as connection:
                if self.cursor is None:
                    behind = connection.execute(self._count_all).scalar_one()
                else:
                    behind = connection.execute(self._count_after, {"cursor": self.cursor}).scalar_one()
            self._lag.set(behind)
        except Exception as exc:  # noqa: BLE001 - the lag is a convenience, never a failure
            log.debug("lag query failed: %s", exc)

    def drain(self) -> int:
        """Poll until the source has nothing new; returns the rows shipped."""
        total = 0
        while True:
            shipped = self.poll_once()
            total += shipped
            if shipped == 0:
                return total

    def run(self, interval: float = 5.0, stop: threading.Event | None = None, once: bool = False) -> None:
        stop = stop or threading.Event()
        while not stop.is_set():
            self.drain()
            if once:
                return
            stop.wait(interval)

    def close(self) -> None:
        self.engine.dispose()
        self.lock.release()
