"""SQL polling: any SQLAlchemy URL, a query and an increasing cursor column, shipped in batches.

The query (or a table) is wrapped as `SELECT * FROM (<query>) AS q WHERE q.<cursor> > :cursor
ORDER BY q.<cursor> LIMIT :batch`; each batch goes through the department's mapping (or passes
through when the columns already have the contract's names) and the validators, then the broker's
acknowledgement, then the cursor (the last value) is written durably. Rows that share the last
cursor value of a full batch are left for the next poll, so a non-unique column such as an update
time loses no row; a unique increasing column (an id, a sequence) is best.

Rows the cursor can never reach are dead-lettered, not skipped in silence: a row whose cursor column is
NULL (`NULL_CURSOR`, once per row) and rows that appear at or below the cursor after it passed them
(`CURSOR_WENT_BACK`, one letter naming how many). Both are checked each time the poller has caught up.
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
from connectors.mapping import Mapping, row_digest
from connectors.state import Cursor, StateLock
from models.validation import Rejected

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_.\u4e00-\u9fff]*$")


MAX_NULL_REPORTED = 10_000


def _plain_text(value: object) -> object:
    return value if value is None or isinstance(value, int | float | str) else str(value)


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
        self._first = sqlalchemy.text(f"SELECT * FROM ({base}) AS q WHERE q.{column} IS NOT NULL "
                                      f"ORDER BY q.{column} LIMIT :limit")
        self._nulls = sqlalchemy.text(f"SELECT * FROM ({base}) AS q WHERE q.{column} IS NULL LIMIT :limit")
        self._count_upto = sqlalchemy.text(f"SELECT count(*) FROM ({base}) AS q WHERE q.{column} <= :cursor")
        self._next = sqlalchemy.text(f"SELECT * FROM ({base}) AS q WHERE q.{column} > :cursor "
                                     f"ORDER BY q.{column} LIMIT :limit")
        self._count_all = sqlalchemy.text(f"SELECT count(*) FROM ({base}) AS q WHERE q.{column} IS NOT NULL")
        self._count_after = sqlalchemy.text(f"SELECT count(*) FROM ({base}) AS q WHERE q.{column} > :cursor")
        self.lock = StateLock(Path(state_dir) / "sql" / self.name)
        self.cursor_store = Cursor(Path(state_dir) / "sql" / self.name / "cursor.json")
        saved = self.cursor_store.load()
        self.cursor = _load_cursor(saved)
        # rows at or below the cursor that the poller has read (to notice rows slipped in under it)
        self._below: int | None = (saved or {}).get("below")
        self._null_reported: list[str] = list((saved or {}).get("null_reported", []))
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
            self._strays()
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
        if self._below is not None:
            self._below += len(rows)
        self._save()
        M.CURSOR_AGE.labels("sql", self.name).set(time.time())
        self._update_lag()
        return len(rows)

    def _save(self) -> None:
        state = {"value": None} if self.cursor is None else _dump_cursor(self.cursor)
        self.cursor_store.save({**state, "column": self.cursor_column, "counts": self.shipper.counts.as_dict(),
                                "below": self._below, "null_reported": self._null_reported[-MAX_NULL_REPORTED:]})

    def _strays(self) -> None:
        """Dead-letter the rows the cursor can never reach; called when the poller has caught up."""
        letters = 0
        with self.engine.connect() as connection:
            nulls = [dict(row._mapping) for row in connection.execute(self._nulls, {"limit": MAX_NULL_REPORTED})]
            below = None if self.cursor is None else connection.execute(
                self._count_upto, {"cursor": self.cursor}).scalar_one()
        reported = set(self._null_reported)
        for row in nulls:
            digest = row_digest(self.name, {k: _plain_text(v) for k, v in row.items()})
            if digest in reported:
                continue
            reported.add(digest)
            self._null_reported.append(digest)
            self.shipper.reject(row, Rejected(
                "NULL_CURSOR", f"the cursor column {self.cursor_column} is empty in this row, so the poller can never "
                "read it; fill it at the source (the row is then sent when its value is above the cursor)",
                self.cursor_column), {"query": self.name, "cursor": None})
            letters += 1
        if below is not None:
            if self._below is not None and below > self._below:
                missed = below - self._below
                self.shipper.reject({"cursor": _dump_cursor(self.cursor)["value"], "rows_below_before": self._below,
                                     "rows_below_now": below}, Rejected(
                    "CURSOR_WENT_BACK", f"{missed} row(s) appeared with {self.cursor_column} at or below the cursor "
                    f"{self.cursor!s:.40}, which the poller has passed; give them new, higher values at the source",
                    self.cursor_column), {"query": self.name, "cursor": _dump_cursor(self.cursor)["value"]})
                log.warning("%s: %d row(s) appeared at or below the cursor; dead-lettered (CURSOR_WENT_BACK)",
                            self.name, missed)
                letters += 1
            self._below = below
        if letters or below is not None:
            self.shipper.barrier()
            self._save()

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
