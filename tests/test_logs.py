"""JSON logs on request (issue 15): HARDSHIP_LOG_FORMAT=json gives one JSON object per line in every command."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from streams.logs import JsonFormatter, configure_logging, faust_logging_config, uvicorn_log_config


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_on_request(monkeypatch, restore_logging):
    monkeypatch.setenv("HARDSHIP_LOG_FORMAT", "json")
    out = io.StringIO()
    configure_logging("info", stream=out)
    log = logging.getLogger("connectors.filedrop")
    log.info("已读取 %d 行", 3, extra={"source": "medical_insurance"})
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "已读取 3 行" and first["level"] == "INFO" and first["logger"] == "connectors.filedrop"
    assert first["source"] == "medical_insurance" and first["time"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: bad row" in second["exception"]


def test_text_by_default(monkeypatch, restore_logging):
    monkeypatch.delenv("HARDSHIP_LOG_FORMAT", raising=False)
    out = io.StringIO()
    configure_logging("info", stream=out)
    logging.getLogger("x").info("plain")
    assert out.getvalue().rstrip().endswith("INFO x: plain")
    assert faust_logging_config("info") is None


def test_an_unknown_format_says_what_to_use(monkeypatch):
    monkeypatch.setenv("HARDSHIP_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit, match="use text or json"):
        configure_logging("info")


def test_faust_and_uvicorn_configurations_load(monkeypatch, restore_logging):
    monkeypatch.setenv("HARDSHIP_LOG_FORMAT", "json")
    for config in (faust_logging_config("warning"), uvicorn_log_config()):
        logging.config.dictConfig(config)
    handler = logging.getLogger("uvicorn.access").handlers[0]
    assert isinstance(handler.formatter, JsonFormatter)
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn").handlers.clear()
    logging.getLogger("uvicorn.error").handlers.clear()
