"""Personal numbers out of sight (脱敏): mask resident IDs, phones and bank cards in any text, in every log line, and
derive pseudonymous ids (假名化) that carry no personal number.

`mask_personal` finds numbers by their digits, whatever they are written in: ASCII or full-width digits
(０-９), with or without single spaces or hyphens between groups. It masks 18-digit resident IDs
(420106********1234), old 15-digit IDs (420106******123), mobile and landline phones (138****5678) and
bank cards of 16-19 digits (6222 **** **** 1234). Twelve-digit division codes, dates, amounts and
short numbers stay as they are.

`install_log_masking()` makes every log record of the process masked before any handler sees it
(message, arguments, traceback and stack text), so an exception that carries SQL parameters cannot put a
resident ID into a log file. `MaskingFilter` is the same as a `logging.Filter` for a handler of one's own.

`pseudonym(value, purpose)` is a keyed hash (HMAC-SHA-256): the same value gives the same pseudonym under
one key, so replays stay idempotent, and without the key nobody can go back from it to the number.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import unicodedata
from pathlib import Path

PSEUDONYM_KEY_ENV = "HARDSHIP_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE = "pseudonym.key"

# Numbers by their digits (\d is Unicode-aware: full-width ０-９ count), contiguous or in the usual groups.
_NUMBER_RUN_RE = re.compile(
    r"(?<!\d)(?:"
    r"\d{6}[ \-]\d{8}[ \-]\d{3}[\dXxＸｘ]"  # a resident ID in groups 6-8-4
    r"|(?:\+?86[ \-]?)?1[3-9]\d[ \-]\d{4}[ \-]\d{4}"  # a mobile phone 138 1234 5678
    r"|\d{4}(?:[ \-]\d{4}){3}(?:[ \-]?\d{1,3})?"  # a bank card in groups of four
    r"|0\d{2,3}-\d{7,8}"  # a landline 027-87654321
    r"|\d{10,23}[XxＸｘ]?"  # any long run of digits
    r")(?!\d)"
)
_MOBILE_RE = re.compile(r"^(?:86)?1[3-9]\d{9}$")


def _digits(run: str) -> str:
    """The run's digits as ASCII (full-width and other scripts' digits through their numeric value)."""
    out = []
    for ch in run:
        if ch in " -+\u3000":
            continue
        if ch in "XxＸｘ":
            out.append("X")
            continue
        out.append(str(unicodedata.digit(ch, 0)))
    return "".join(out)


def _mask_run(match: re.Match) -> str:
    run = match.group(0)
    digits = _digits(run)
    n = len(digits)
    if digits.endswith("X"):
        if n == 18:
            return digits[:6] + "*" * 8 + digits[-4:]
        return run
    if _MOBILE_RE.match(digits):
        country = ("+" if run.startswith("+") else "") + digits[:-11] + (" " if len(digits) > 11 else "")
        return country + digits[-11:-8] + "****" + digits[-4:]
    if digits.startswith("0") and 10 <= n <= 12:  # a landline with its area code (027-87654321)
        return digits[:3] + "*" * (n - 5) + digits[-2:]
    if n == 15:  # a first-generation resident ID
        return digits[:6] + "*" * 6 + digits[-3:]
    if n == 18:  # a resident ID (or an 18-digit card: masked all the same)
        return digits[:6] + "*" * 8 + digits[-4:]
    if 16 <= n <= 19:  # a bank card
        return f"{digits[:4]} **** **** {digits[-4:]}"
    if n >= 20:  # longer than any card: mask all but the ends, something is hiding in there
        return digits[:4] + "*" * (n - 8) + digits[-4:]
    return run  # 10-14 digits: division codes, timestamps, amounts


def mask_personal(text: str | None) -> str | None:
    """The text with every resident ID, phone number and bank card masked (None stays None)."""
    if not text:
        return text
    if not any(ch.isdigit() for ch in text):
        return text
    return _NUMBER_RUN_RE.sub(_mask_run, text)


def find_unmasked(text: str) -> list[str]:
    """The personal numbers a text shows in full (what `mask_personal` would change): for leak scans."""
    found = []
    for match in _NUMBER_RUN_RE.finditer(text or ""):
        if _mask_run(match) != match.group(0):
            found.append(match.group(0))
    return found


# --- logs --------------------------------------------------------------------------------------


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask a log record in place: the formatted message, the traceback text and the stack text."""
    if getattr(record, "_hardship_masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken format string: keep what there is
        message = str(record.msg)
    record.msg = mask_personal(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_personal(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_personal(record.stack_info)
    record._hardship_masked = True
    return record


class MaskingFilter(logging.Filter):
    """A logging filter that masks resident IDs, phones and bank cards in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_installed = False
_install_lock = threading.Lock()


def install_log_masking() -> None:
    """Mask every log record created in this process, whichever logger or handler it goes to (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:  # noqa: ANN002, ANN003
            return mask_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True


# --- pseudonyms --------------------------------------------------------------------------------

_key_cache: dict[str, bytes] = {}


def pseudonym_key(data_dir: str | os.PathLike | None = None) -> bytes:
    """HARDSHIP_PSEUDONYM_KEY, else a key kept in DATA_DIR/pseudonym.key (created once, mode 0600).

    Keep this key (and back it up): a new key gives new pseudonyms, so replays of old files would no
    longer match the events already sent.
    """
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env:
        return env.encode()
    folder = Path(data_dir or os.environ.get("HARDSHIP_DATA_DIR") or "data")
    path = folder / PSEUDONYM_KEY_FILE
    cached = _key_cache.get(str(path.resolve()))
    if cached is not None:
        return cached
    if path.exists():
        key = path.read_text(encoding="ascii").strip().encode()
    else:
        folder.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32).encode()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key.decode())
    _key_cache[str(path.resolve())] = key
    return key


def pseudonym(value: str, purpose: str, key: bytes | None = None, length: int = 24) -> str:
    """A stable keyed hash of `value` for `purpose` (e.g. the source), written in `length` lower-case letters.

    Letters only, so no run of digits in it can ever be taken for (or be) a personal number.
    """
    digest = hmac.new(key or pseudonym_key(), f"{purpose}\x1f{value}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    letters = []
    for _ in range(length):
        number, index = divmod(number, 26)
        letters.append(chr(97 + index))
    return "".join(letters)


__all__ = ["MaskingFilter", "find_unmasked", "install_log_masking", "mask_personal", "mask_record", "pseudonym",
           "pseudonym_key"]
