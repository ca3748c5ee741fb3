"""Durable connector state: cursors and the ledger of files, written atomically (write, fsync, rename).

A file's ledger entry is keyed by the SHA-256 of its content, so the same export dropped twice,
under any name, is recognised; it holds the cursor (how far the broker has acknowledged) and the
counts so far, so a restart after a crash resumes from the cursor with correct totals.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write_json(path: Path, value: object) -> None:
    """Replace `path` with `value` as JSON so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, ensure_ascii=False, indent=1, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_json(path: Path) -> dict | None:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


class FileLedger:
    """state_dir/<connector>/<source>/files/<sha256>.json, one small file per dropped file."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.directory / f"{sha256}.json"

    def get(self, sha256: str) -> dict | None:
        return read_json(self.path(sha256))

    def put(self, entry: dict) -> None:
        entry["updated_at"] = now_iso()
        atomic_write_json(self.path(entry["sha256"]), entry)


class Cursor:
    """A single durable value (the SQL poller's last cursor column value) with its type."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict | None:
        return read_json(self.path)

    def save(self, value: dict) -> None:
        value["updated_at"] = now_iso()
        atomic_write_json(self.path, value)


class StateLocked(RuntimeError):
    """Another connector process already works on this state folder."""


class StateLock:
    """An exclusive lock (flock) on a state folder, so two processes never ship the same files.

    The kernel releases it when the process dies, even by SIGKILL.
    """

    def __init__(self, directory: Path) -> None:
        import fcntl

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / ".lock"
        self._handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the connector
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._handle.close()
            raise StateLocked(f"another connector is running on {directory}; stop it or use another --state-dir") from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"{os.getpid()}\n")
        self._handle.flush()

    def release(self) -> None:
        if not self._handle.closed:
            self._handle.close()
