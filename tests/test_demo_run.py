"""Issue 14, `hardship demo`: the simulator writes its truth when stopped by SIGTERM, each run keeps its own files,
logs start afresh (no stale demo passwords), the simulated year ends today, the console's columns are labelled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest


def test_the_simulated_year_ends_today():
    from streams.demo import simulated_year

    start, days = simulated_year(datetime(2026, 11, 26, 20, 0, tzinfo=UTC))  # 04:00 on the 27th in China
    assert (start, days) == (date(2025, 11, 28), 365)
    assert (start.toordinal() + days - 1) == date(2026, 11, 27).toordinal()


def test_a_second_run_gets_a_folder_of_its_own(tmp_path):
    from streams.demo import run_folder

    moment = datetime(2026, 11, 26, 8, 30, tzinfo=UTC).timestamp()
    first = run_folder(tmp_path, moment)
    assert first.name == "run-20261126-163000"
    first.mkdir()
    (first / "truth.jsonl").write_text("first\n")
    second = run_folder(tmp_path, moment)
    assert second != first and second.name == "run-20261126-163000-2"
    assert (first / "truth.jsonl").read_text() == "first\n"


def test_each_run_starts_its_logs_afresh(tmp_path):
    from streams.demo import Processes

    for password in ("old-password-1", "new-password-2"):
        processes = Processes(tmp_path)
        processes.start("workbench", [sys.executable, "-c", f"print('demo login {password}')"])
        processes.children[0][1].wait(timeout=30)
        processes.stop()
    log = (tmp_path / "workbench.log").read_text()
    assert "new-password-2" in log and "old-password-1" not in log


def test_console_columns_are_labelled():
    from streams.demo import CONSOLE_HEADER, console_line

    alert = {"household_id": "hh-1", "kind": "should_exit", "level": 3, "hardship_score": 9.6, "removal_score": 85.4,
             "reasons": [{"text": "家庭收入超过标准"}]}
    line = console_line(12.34, alert)
    assert "已运行（秒）" in CONSOLE_HEADER and line.startswith("    12.3 秒")
    assert "[应退 L3] hh-1 困难指数 10 退出指数 85" in line


@pytest.mark.broker
def test_simulator_writes_the_truth_when_stopped_by_sigterm(tmp_path):
    """`hardship demo` stops its children with SIGTERM: the truth of what was sent must still be written."""
    from streams.broker import embedded_broker

    hardship = str(Path(sys.executable).with_name("hardship"))
    out = tmp_path / "sim"
    with embedded_broker() as broker:
        child = subprocess.Popen([hardship, "simulate", "--broker", broker.url, "--out", str(out), "--households", "200",
                                  "--rate", "200", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            events = out / "events.jsonl"
            while not (events.exists() and events.stat().st_size > 2_000):
                assert child.poll() is None, child.stdout.read().decode()
                assert time.monotonic() < deadline, "the simulator sent no events"
                time.sleep(0.2)
            os.killpg(child.pid, signal.SIGTERM)
            output = child.communicate(timeout=60)[0].decode()
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
    assert child.returncode == 130, output
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(truth) >= 200 and all("label" in row for row in truth)
