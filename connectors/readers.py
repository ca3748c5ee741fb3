"""Readers of exported files: CSV, XLSX and JSON Lines, with UTF-8 / GBK / GB18030 detection.

Each reader yields `(row, cells)` where `row` is the spreadsheet row number (the header is row 1,
the first record row 2; for JSON Lines the line number) and `cells` maps the header (or JSON key)
to the cell value. A file that cannot be read at all raises `FileRejected` with a reason code.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".jsonl", ".ndjson", ".json")
IGNORED_PREFIXES = (".", "~$", "~")
IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", ".lock")


class FileRejected(Exception):  # noqa: N818 - the domain word
    """A whole file refused: unreadable encoding, unknown format, missing columns."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def detect_encoding(data: bytes) -> str:
    """'utf-8-sig', 'utf-8', 'gbk', 'gb18030' or 'utf-16' for the bytes of a whole text file.

    UTF-8 is tried first and strictly: GBK text is practically never valid UTF-8, while the other
    way round often decodes to nonsense. GBK is a subset of GB18030; GB18030 is named only when a
    character outside GBK (rare names, 𠀀-plane characters) is present.
    """
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gbk")
        return "gbk"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "UNKNOWN_ENCODING",
            f"the file is neither UTF-8 nor GBK/GB18030 (byte {exc.start}); export it again as UTF-8 or GBK",
        ) from None


def decode_text(data: bytes) -> tuple[str, str]:
    encoding = detect_encoding(data)
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise FileRejected("UNKNOWN_ENCODING", f"the file claims {encoding} but byte {exc.start} does not decode; "
                           "export it again as UTF-8 or GBK") from None


@dataclass
class OpenedFile:
    """A file ready to read: its format, encoding, header, a row estimate and the row iterator."""

    path: Path
    format: str
    encoding: str | None
    header: list[str]
    estimated_rows: int | None
    rows: Iterator[tuple[int, dict]] = field(repr=False)


def open_csv(path: Path, data: bytes | None = None) -> OpenedFile:
    data = path.read_bytes() if data is None else data
    text, encoding = decode_text(data)
    del data
    first_line = text[: text.find("\n") + 1 or len(text)]
    dialect = csv.excel_tab if first_line.count("\t") > first_line.count(",") else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise FileRejected("EMPTY_FILE", "the file is empty; it needs a header row and records") from None
    estimated = max(text.count("\n") - 1, 0)

    def records() -> Iterator[list[str] | dict]:
        """The reader's rows; a row the csv module refuses (a field over its 128 KiB limit) becomes a refusal and
        the reader goes on with the next line, so the rest of the file is read and nothing is read twice."""
        while True:
            try:
                yield next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield refused("FIELD_TOO_LARGE" if "field limit" in str(exc) else "BAD_CSV_ROW",
                              f"line {reader.line_num}: {exc}; split the cell or export it as a separate file")

    def rows() -> Iterator[tuple[int, dict]]:
        width = len(header)
        for number, cells in enumerate(records(), start=2):
            if isinstance(cells, dict):
                yield number, cells
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank line
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield number, dict(zip(header, cells, strict=False)) if len(cells) == width else _wide(header, cells)

    return OpenedFile(path, "csv", encoding, header, estimated, rows())


def refused(code: str, message: str) -> dict:
    """The cells of a row that could not be read: the mapper raises Rejected(code, message) for it."""
    return {"__refused__": [code, message]}


def _wide(header: list[str], cells: list[str]) -> dict:
    record = dict(zip(header, cells, strict=False))
    record["__extra_cells__"] = cells[len(header):]
    return record


def open_xlsx(path: Path) -> OpenedFile:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise FileRejected("BAD_XLSX", f"the Excel file cannot be opened ({type(exc).__name__}); save it again as .xlsx") from None
    sheet = book.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header = ["" if h is None else str(h).strip() for h in next(iterator)]
    except StopIteration:
        book.close()
        raise FileRejected("EMPTY_FILE", "the first sheet is empty; it needs a header row and records") from None
    estimated = (sheet.max_row - 1) if sheet.max_row else None

    def rows() -> Iterator[tuple[int, dict]]:
        try:
            for number, cells in enumerate(iterator, start=2):
                if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                    continue
                yield number, {h: c for h, c in zip(header, cells, strict=False) if h}
        finally:
            book.close()

    return OpenedFile(path, "xlsx", None, header, estimated, rows())


def open_jsonl(path: Path, data: bytes | None = None) -> OpenedFile:
    data = path.read_bytes() if data is None else data
    text, encoding = decode_text(data)
    lines = text.splitlines()

    def rows() -> Iterator[tuple[int, dict]]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                yield number, {"__malformed__": line, "__error__": str(exc)}
                continue
            except RecursionError:  # nested deeper than the parser goes: a dead letter, and the file goes on
                yield number, refused("TOO_DEEP", "the line nests deeper than any record of the contract; send flat "
                                      "JSON objects, one per line")
                continue
            yield number, value if isinstance(value, dict) else {"__not_object__": value}

    return OpenedFile(path, "jsonl", encoding, [], len(lines), rows())


def open_file(path: Path, data: bytes | None = None) -> OpenedFile:
    """Open a dropped file by its suffix."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return open_csv(path, data)
    if suffix in (".xlsx", ".xlsm"):
        return open_xlsx(path)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return open_jsonl(path, data)
    if suffix == ".xls":
        raise FileRejected("XLS_NOT_SUPPORTED", "old .xls workbooks are not read; save the sheet as .xlsx or CSV")
    raise FileRejected("UNSUPPORTED_FORMAT", f"{suffix or 'no suffix'} is not CSV, XLSX or JSON Lines")


def is_candidate(path: Path) -> bool:
    """A file the watcher should look at (not a lock, partial or hidden file)."""
    name = path.name
    if name.startswith(IGNORED_PREFIXES) or name.lower().endswith(IGNORED_SUFFIXES):
        return False
    return path.is_file()
