"""A file connector killed with SIGKILL mid-file and restarted: no row lost, at most one chunk resent
per kill, and the streaming core raises no duplicate alert for the resent rows."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from models.validation import validate_event
from scoring.monitor import Monitor
from streams.config import EVENTS_TOPIC
from tests.connector_fixtures import MEDICAL_HEADER, medical_rows, read_topic, settle, write_csv

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROWS = 60_000
COMMIT_EVERY = 1_000
BIG_EVERY = 500
KILL_AT = (ROWS // 5, ROWS * 2 // 5, ROWS * 3 // 5)  # three kills, then a run to the end


def _ledger(state):
    files = list((state / "file" / "medical_insurance" / "files").glob("*.json"))
    if not files:
        return None
    return json.loads(files[0].read_text(encoding="utf-8"))  # replaced atomically: never half-written


def _kill_when_past(command, state, position):
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            entry = _ledger(state)
            if entry and entry["position"] >= position:
                time.sleep(random.uniform(0, 0.08))  # somewhere in the next chunk, at times in its barrier
                break
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:  # pragma: no cover
            process.kill()
            process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_mid_file_loses_nothing_and_resends_at_most_one_chunk(broker, tmp_path):
    root, state = tmp_path / "drop", tmp_path / "state"
    path = write_csv(root / "medical_insurance" / "big.csv", MEDICAL_HEADER, medical_rows(ROWS, big_every=BIG_EVERY))
    settle(path)
    command = [sys.executable, "-m", "streams.cli", "connector", "file", "--root", str(root), "--state-dir",
               str(state), "--broker", broker.url, "--mapping", "medical_insurance", "--once", "--settle", "0",
               "--commit-every", str(COMMIT_EVERY), "--no-progress", "--log-level", "WARNING"]
    in_flight: list[int] = []
    on_topic = 0
    for position in KILL_AT:
        _kill_when_past(command, state, position)
        entry = _ledger(state)
        assert entry["status"] == "in_progress" and 0 < entry["position"] < ROWS
        before = on_topic
        on_topic = len(read_topic(broker.bootstrap, EVENTS_TOPIC, expect=before + 1, idle=1.5))
        # rows the broker holds beyond the cursor: sent, but the cursor did not record them before the kill
        in_flight.append(on_topic - entry["position"] - sum(in_flight))

    finished = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr
    final = _ledger(state)
    assert final["status"] == "done"
    assert (final["counts"]["read"], final["counts"]["sent"]) == (ROWS, ROWS)  # totals survive the restarts

    records = read_topic(broker.bootstrap, EVENTS_TOPIC, expect=ROWS + sum(in_flight), idle=2.0, timeout=120)
    ids = Counter(r["value"]["event_id"] for r in records)
    resent = len(records) - len(ids)
    print(f"\n{len(KILL_AT)} SIGKILLs; rows in flight at each kill (sent again after the restart): {in_flight}; "
          f"resent in all: {resent}; chunk: {COMMIT_EVERY} rows")
    assert len(ids) == ROWS  # no row lost
    assert resent == sum(in_flight)  # exactly the rows past the cursor were sent again
    assert all(0 <= n <= COMMIT_EVERY for n in in_flight)  # at most one chunk per kill

    monitor = Monitor()
    alerts = [a for r in records for a in monitor.event(validate_event(r["value"]))]
    alert_ids = [a["alert_id"] for a in alerts]
    assert len(alert_ids) == len(set(alert_ids)), "a resent row raised a duplicate alert"
    assert len(alert_ids) == ROWS // BIG_EVERY  # one missed_coverage alert per person with a big bill


def test_sigterm_stops_after_an_acknowledged_chunk_and_resends_nothing(broker, tmp_path):
    rows = 30_000
    root, state = tmp_path / "drop", tmp_path / "state"
    path = write_csv(root / "medical_insurance" / "big.csv", MEDICAL_HEADER, medical_rows(rows))
    settle(path)
    command = [sys.executable, "-m", "streams.cli", "connector", "file", "--root", str(root), "--state-dir",
               str(state), "--broker", broker.url, "--mapping", "medical_insurance", "--settle", "0",
               "--commit-every", str(COMMIT_EVERY), "--no-progress", "--log-level", "WARNING"]  # watching, not --once
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            entry = _ledger(state)
            if entry and entry["position"] >= rows // 4:
                break
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.005)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:  # pragma: no cover
            process.kill()
            process.wait()
        process.stderr.close()
    entry = _ledger(state)
    assert entry["status"] == "in_progress" and entry["position"] % COMMIT_EVERY == 0 and entry["position"] < rows
    assert len(read_topic(broker.bootstrap, EVENTS_TOPIC, expect=entry["position"], idle=1.5)) == entry["position"]
    finished = subprocess.run(command + ["--once"], capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr
    records = read_topic(broker.bootstrap, EVENTS_TOPIC, expect=rows, idle=2.0)
    assert len(records) == rows == len({r["value"]["event_id"] for r in records})
