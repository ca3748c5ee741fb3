"""Log lines as text, or with HARDSHIP_LOG_FORMAT=json one JSON object per line (for a log stack), in every command."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO

LOG_FORMAT_ENV = "HARDSHIP_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", ...extra fields, "exception"} on one line, Chinese kept readable."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():  # `extra=` fields of the call
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_logs() -> bool:
    """True when HARDSHIP_LOG_FORMAT is json; text otherwise (an unknown value is an error that says so)."""
    value = (os.environ.get(LOG_FORMAT_ENV) or "text").strip().lower()
    if value not in ("text", "json"):
        raise SystemExit(f"{LOG_FORMAT_ENV}={value!r}: use text or json")
    return value == "json"


def configure_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> None:
    """The root logger of a command: one handler on stderr, text or JSON."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs() else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level, handlers=[handler], force=True)


def faust_logging_config(level: str) -> dict | None:
    """The `logging_config` of a Faust worker: None (Faust's own text lines) unless JSON logs are asked for."""
    if not json_logs():
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def uvicorn_log_config() -> dict:
    """uvicorn's `log_config`: its own (text) unless JSON logs are asked for, then every uvicorn logger in JSON."""
    from uvicorn.config import LOGGING_CONFIG

    if not json_logs():
        return LOGGING_CONFIG
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {name: {"handlers": ["default"], "level": "INFO", "propagate": False}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
