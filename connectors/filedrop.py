"""File drop: a folder per department; CSV, XLSX and JSON Lines exports become contract records.

ROOT/<mapping name>/ is watched for each mapping (medical_insurance/, courts/, ...). A file is
taken once its size and time have settled; its SHA-256 names its ledger entry, so the same export
dropped twice (under any name) is not sent twice. Rows go through the department's mapping and
the contract's validators; good rows go to the stream's topic, bad rows to hardship.deadletter
with the file, row number and reason. The cursor (rows acknowledged by the broker) is written
after every chunk, so a connector killed mid-file resumes where the broker's acknowledgement
stopped. Each file gets a report (rows read, sent, rejected by reason) under the state folder.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from connectors import metrics as M
from connectors.core import Counts, Shipper
from connectors.kafka_out import KafkaOut, SendFailed
from connectors.mapping import Mapping, RowMapper, contract_mapping
from connectors.readers import FileRejected, OpenedFile, is_candidate, open_file
from connectors.state import FileLedger, StateLock, atomic_write_json, now_iso
from models.validation import EVENT_FIELDS, FILING_FIELDS, REGISTRY_FIELDS, Rejected

log = logging.getLogger(__name__)

CONTRACT_KEYS = {
    "events": set(EVENT_FIELDS[:-1]) - {"source"},
    "registry": set(REGISTRY_FIELDS),
    "filings": set(FILING_FIELDS),
}
Progress = Callable[[str, int | None, int], None]  # (file name, total positions, positions done)


@dataclass
class Unit:
    """One thing to ship: a row, or a group of rows (a household, a staff member's relatives)."""

    rows: list[int]
    raw: object
    record: dict | None = None
    error: Rejected | None = None
    items: list = field(default_factory=list)


@dataclass
class FileResult:
    path: Path
    status: str  # done, duplicate, refused
    report: dict
    report_path: Path | None = None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _looks_like_contract(first: dict | None, stream: str) -> bool:
    return isinstance(first, dict) and CONTRACT_KEYS[stream] <= set(first)


def choose_mapper(opened: OpenedFile, mapping: Mapping) -> tuple[RowMapper, Iterator[tuple[int, dict]]]:
    """The row mapper for this file; JSON Lines already in the contract's shape pass through."""
    rows = opened.rows
    if opened.format == "jsonl":
        first = next(rows, None)
        rows = itertools.chain([first], rows) if first is not None else iter(())
        if mapping.passthrough or _looks_like_contract(first[1] if first else None, mapping.stream):
            return contract_mapping(mapping.stream, mapping.source).dynamic(), rows
        return mapping.dynamic(), rows
    if mapping.passthrough:
        return mapping.dynamic(), rows
    return mapping.bind(opened.header), rows


def row_units(mapper: RowMapper, rows: Iterator[tuple[int, dict]], start: int) -> Iterator[tuple]:
    """(position, row, cells, record, error, None) per row; rows before the cursor are skipped unmapped."""
    map_row = mapper.map_row
    for position, (row, cells) in enumerate(rows):
        if position < start:
            continue
        try:
            yield position, row, cells, map_row(cells), None, None
        except Rejected as exc:
            yield position, row, cells, None, exc, None


def group_units(mapper: RowMapper, rows: Iterator[tuple[int, dict]]) -> list[Unit]:
    """Rows gathered into records by the mapping's group_by field, in order of first appearance."""
    mapping = mapper.mapping
    key_spec = next(spec for spec in mapping.fields if spec.path == mapping.group_by)
    units: list[Unit] = []
    by_key: dict[object, Unit] = {}
    for row, cells in rows:
        try:
            if "__malformed__" in cells or "__not_object__" in cells or "__refused__" in cells:
                mapper.map_row(cells)  # raises the reason
            key = mapper._value(key_spec, cells)
        except Rejected as exc:
            units.append(Unit([row], [cells], error=exc))
            continue
        if key is None:
            units.append(Unit([row], [cells], error=Rejected(
                "MISSING_FIELD", f"row {row} has no {' / '.join(key_spec.columns)}", mapping.group_by)))
            continue
        unit = by_key.get(key)
        if unit is None:
            unit = by_key[key] = Unit([], [])
            units.append(unit)
        unit.rows.append(row)
        unit.raw.append(cells)
        if unit.error is not None:
            continue
        try:
            record = mapper.map_row(cells)
            item = mapper.map_item(cells)
        except Rejected as exc:
            unit.error = Rejected(exc.code, f"row {row}: {exc.message}", exc.field)
            continue
        if unit.record is None:
            unit.record = record
        else:
            for name, value in record.items():
                earlier = unit.record.get(name)
                if value is not None and earlier is not None and earlier != value:
                    unit.error = Rejected(
                        "INCONSISTENT_ROWS",
                        f"row {row} gives {name} {value!r} but an earlier row of the same {mapping.group_by} "
                        f"gives {earlier!r}; correct the export",
                        name,
                    )
                    break
                unit.record.setdefault(name, value)
        if item is not None:
            unit.items.append(item)
    for unit in units:
        if unit.error is None and unit.record is not None:
            unit.record[mapping.items_into] = unit.items
    return units


class FileDrop:
    """Watch ROOT/<mapping name>/ for each mapping and ship every new file once."""

    def __init__(self, root: Path, mappings: list[Mapping], out: KafkaOut, state_dir: Path,
                 connector: str = "file", commit_every: int = 2000, settle_seconds: float = 2.0,
                 progress: Progress | None = None, stop: threading.Event | None = None) -> None:
        self.root = Path(root)
        self.stop = stop or threading.Event()
        self.mappings = mappings
        self.out = out
        self.state_dir = Path(state_dir) / connector
        self.connector = connector
        self.commit_every = max(1, commit_every)
        self.settle_seconds = settle_seconds
        self.progress = progress
        self.lock = StateLock(self.state_dir)
        self._checksums: dict[Path, tuple[int, int, str]] = {}
        self._reported: set[tuple[Path, str]] = set()
        for mapping in mappings:
            self.folder(mapping).mkdir(parents=True, exist_ok=True)

    def folder(self, mapping: Mapping) -> Path:
        return self.root / mapping.name

    def ledger(self, mapping: Mapping) -> FileLedger:
        return FileLedger(self.state_dir / mapping.name / "files")

    def report_dir(self, mapping: Mapping) -> Path:
        return self.state_dir / mapping.name / "reports"

    # -- the loop ---------------------------------------------------------------------------------

    def scan_once(self) -> list[FileResult]:
        """Ship every settled file not yet in the ledger; returns what was done this pass."""
        results: list[FileResult] = []
        now = time.time()
        for mapping in self.mappings:
            for path in sorted(self.folder(mapping).iterdir()):
                if self.stop.is_set():
                    return results
                if not is_candidate(path):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # taken away meanwhile
                if now - stat.st_mtime < self.settle_seconds:
                    continue  # still being copied in
                cached = self._checksums.get(path)
                if cached and cached[:2] == (stat.st_size, stat.st_mtime_ns) and (path, cached[2]) in self._reported:
                    continue
                try:
                    result = self.process(path, mapping)
                except SendFailed:
                    raise  # the broker: the caller waits and tries again from the cursor
                except Exception as exc:  # noqa: BLE001 - one broken file must not stop the others
                    # the type only: an exception's text may quote a cell, and logs carry no personal data
                    log.error("%s: %s could not be processed (%s); it stays at its cursor until restart",
                              mapping.name, path.name, type(exc).__name__)
                    log.debug("traceback of the failure", exc_info=True)
                    M.FILES.labels(mapping.name, "error").inc()
                    seen = self._checksums.get(path)
                    if seen is not None:
                        self._reported.add((path, seen[2]))
                    continue
                if result is not None:
                    results.append(result)
        return results

    def close(self) -> None:
        self.lock.release()

    def run(self, interval: float = 2.0, once: bool = False) -> None:
        while not self.stop.is_set():
            self.scan_once()
            if once:
                return
            self.stop.wait(interval)

    # -- one file ---------------------------------------------------------------------------------

    def process(self, path: Path, mapping: Mapping) -> FileResult | None:
        data = path.read_bytes()
        stat = path.stat()
        sha = sha256_of(data)
        self._checksums[path] = (stat.st_size, stat.st_mtime_ns, sha)
        ledger = self.ledger(mapping)
        entry = ledger.get(sha)
        if entry is not None and entry["status"] in ("done", "refused"):
            return self._duplicate(path, mapping, entry)
        resumed_from = 0
        if entry is None:
            entry = {"sha256": sha, "names": [path.name], "status": "in_progress", "position": 0,
                     "counts": {}, "started_at": now_iso(), "department": mapping.name}
        else:
            resumed_from = entry.get("position", 0)
            if path.name not in entry["names"]:
                entry["names"].append(path.name)
            log.info("%s: resuming %s after %d acknowledged positions", mapping.name, path.name, resumed_from)
        ledger.put(entry)
        started = time.perf_counter()
        shipper = Shipper(self.out, mapping.stream, self.connector, mapping.source or mapping.name)
        shipper.counts = Counts.from_dict(entry.get("counts"))
        where = {"file": path.name, "department": mapping.name}
        fmt = encoding = None
        try:
            opened = open_file(path, data)
            fmt, encoding = opened.format, opened.encoding
            mapper, rows = choose_mapper(opened, mapping)
        except FileRejected as exc:
            shipper.reject({"file": path.name, "sha256": sha}, Rejected(exc.code, exc.message), where)
            shipper.barrier()
            entry.update(status="refused", counts=shipper.counts.as_dict(), finished_at=now_iso(),
                         refusal={"reason": exc.code, "message": exc.message})
            ledger.put(entry)
            M.FILES.labels(mapping.name, "refused").inc()
            log.warning("%s: refused %s: %s %s", mapping.name, path.name, exc.code, exc.message)
            return self._finish(path, mapping, entry, fmt, encoding, started, resumed_from)
        del data
        lag = M.CURSOR_LAG.labels(self.connector, mapping.name)
        position = entry.get("position", 0)
        if mapping.grouped and not mapper.mapping.passthrough:
            units = group_units(mapper, rows)
            total: int | None = len(units)
            numbered = ((i, u.rows[0], u.raw, u.record, u.error, u.rows) for i, u in enumerate(units) if i >= position)
        else:
            total = opened.estimated_rows
            numbered = row_units(mapper, rows, position)
        done = position
        ship = shipper.ship
        for index, row, raw, record, error, rows_of_unit in numbered:
            done = index + 1
            if rows_of_unit is None:
                ship(raw, record, where, error, row=row)
            else:
                ship(raw, record, dict(where, rows=rows_of_unit), error, read=len(rows_of_unit), row=row)
            if done % self.commit_every == 0:
                acknowledged = shipper.pipeline(done)  # this chunk goes out; the previous one is now safe
                if acknowledged is not None:
                    self._save(ledger, entry, *acknowledged)
                    if total is not None:
                        lag.set(max(total - acknowledged[0], 0))
                    if self.progress:
                        self.progress(path.name, total, acknowledged[0])
                if self.stop.is_set():
                    self._commit(shipper, ledger, entry, done)
                    log.info("%s: stopped in %s after %d acknowledged positions; resumes there", mapping.name,
                             path.name, done)
                    return None
        self._commit(shipper, ledger, entry, done, status="done")
        lag.set(0)
        if self.progress:
            self.progress(path.name, done, done)
        M.FILES.labels(mapping.name, "done").inc()
        return self._finish(path, mapping, entry, fmt, encoding, started, resumed_from)

    def _commit(self, shipper: Shipper, ledger: FileLedger, entry: dict, position: int,
                status: str = "in_progress") -> None:
        shipper.barrier()  # the broker has every row up to `position`: now the cursor may move
        self._save(ledger, entry, position, shipper.counts.as_dict(), status)

    def _save(self, ledger: FileLedger, entry: dict, position: int, counts: dict, status: str = "in_progress") -> None:
        """The durable cursor: only ever a position whose rows the broker acknowledged."""
        entry.update(position=position, counts=counts, status=status)
        if status == "done":
            entry["finished_at"] = now_iso()
        ledger.put(entry)
        M.CURSOR_AGE.labels(self.connector, entry["department"]).set(time.time())

    def _duplicate(self, path: Path, mapping: Mapping, entry: dict) -> FileResult | None:
        key = (path, entry["sha256"])
        if key in self._reported:
            return None
        self._reported.add(key)
        M.FILES.labels(mapping.name, "duplicate").inc()
        report = {
            "file": path.name, "department": mapping.name, "sha256": entry["sha256"], "status": "duplicate",
            "duplicate_of": entry["names"][0], "first_shipped_at": entry.get("finished_at"),
            "read": 0, "sent": 0, "rejected": 0, "rejected_by_reason": {},
            "summary_zh": f"重复文件：内容与已处理的 {entry['names'][0]} 相同，未再次发送。",
        }
        report_path = self._write_report(path, mapping, entry["sha256"], report, suffix="duplicate")
        log.info("%s: %s is a duplicate of %s; nothing sent", mapping.name, path.name, entry["names"][0])
        return FileResult(path, "duplicate", report, report_path)

    def _finish(self, path: Path, mapping: Mapping, entry: dict, fmt: str | None, encoding: str | None,
                started: float, resumed_from: int) -> FileResult:
        counts = entry["counts"]
        reasons = counts.get("rejected_by_reason", {})
        summary = f"读取 {counts.get('read', 0)} 行，发送 {counts.get('sent', 0)} 条，拒收 {counts.get('rejected', 0)} 条"
        if reasons:
            summary += "（" + "，".join(f"{code} {n}" for code, n in sorted(reasons.items())) + "）"
        report = {
            "file": path.name, "department": mapping.name, "label": mapping.label, "stream": mapping.stream,
            "sha256": entry["sha256"], "format": fmt, "encoding": encoding, "status": entry["status"],
            "started_at": entry.get("started_at"), "finished_at": entry.get("finished_at"),
            "seconds_this_run": round(time.perf_counter() - started, 3), "resumed_from_position": resumed_from,
            **counts, "summary_zh": summary + "。",
        }
        if "refusal" in entry:
            report["refusal"] = entry["refusal"]
        self._reported.add((path, entry["sha256"]))
        report_path = self._write_report(path, mapping, entry["sha256"], report)
        log.info("%s: %s %s: read %d, sent %d, rejected %d", mapping.name, path.name, entry["status"],
                 counts.get("read", 0), counts.get("sent", 0), counts.get("rejected", 0))
        return FileResult(path, entry["status"], report, report_path)

    def _write_report(self, path: Path, mapping: Mapping, sha: str, report: dict, suffix: str = "report") -> Path:
        target = self.report_dir(mapping) / f"{path.name}.{sha[:12]}.{suffix}.json"
        atomic_write_json(target, report)
        return target
