"""The `hardship connector` command line: help texts, the missing-broker message, the bench command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from connectors.cli import connector

SUBCOMMANDS = ("file", "http", "sql", "roster", "filings", "mappings", "hash-token")


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name):
    result = CliRunner().invoke(connector, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if name not in ("mappings", "hash-token"):
        assert "--broker" in result.output and "--state-dir" in result.output and "--metrics-port" in result.output


def test_the_hardship_entry_point_mounts_the_group():
    from streams.cli import main

    result = CliRunner().invoke(main, ["connector", "--help"])
    assert result.exit_code == 0 and "file" in result.output and "roster" in result.output


@pytest.mark.parametrize("args", [["file", "--root", "{tmp}"], ["roster", "--root", "{tmp}"],
                                  ["sql", "--url", "sqlite://", "--table", "t", "--cursor-column", "id",
                                   "--source", "tax"]])
def test_a_missing_broker_is_explained(args, tmp_path, monkeypatch):
    monkeypatch.delenv("HARDSHIP_BROKER", raising=False)
    result = CliRunner().invoke(connector, [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--once"])
    assert result.exit_code != 0
    assert "HARDSHIP_BROKER" in result.output and "hardship demo" in result.output


def test_http_needs_its_tokens_file(tmp_path, monkeypatch):
    monkeypatch.delenv("HARDSHIP_BROKER", raising=False)
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("medical_insurance: abc\n", encoding="utf-8")
    result = CliRunner().invoke(connector, ["http", "--tokens", str(tokens)])
    assert result.exit_code != 0 and "HARDSHIP_BROKER" in result.output


def test_mappings_are_listed_with_chinese_labels():
    result = CliRunner().invoke(connector, ["mappings"])
    assert "medical_insurance" in result.output and "医疗保障局" in result.output


def test_hash_token():
    result = CliRunner().invoke(connector, ["hash-token", "abc"])
    assert result.output.strip().startswith("sha256:")


@pytest.mark.broker
def test_bench_runs_on_a_small_file():
    from connectors.bench import bench_file

    result = CliRunner().invoke(bench_file, ["--rows", "3000", "--commit-every", "1000", "--rounds", "1"])
    assert result.exit_code == 0, result.output
    assert "floor" in result.output and "rows/s" in result.output and "ratio" in result.output


@pytest.mark.broker
def test_http_server_and_metrics_end_to_end(broker, tmp_path):
    """The real `hardship connector http` process: push a batch, read /metrics, stop it with SIGTERM."""
    import subprocess
    import sys
    import time

    import httpx

    from streams.broker import free_port
    from tests.builders import event
    from tests.connector_fixtures import distinct_person

    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n  medical_insurance: t0ken-yb\n", encoding="utf-8")
    port, metrics_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "connector", "http", "--tokens", str(tokens), "--port", str(port),
         "--broker", broker.url, "--metrics-port", str(metrics_port), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the push connector did not start"
            time.sleep(0.2)
        batch = [event("medical_bill", distinct_person(), when="2026-11-01", source="medical_insurance",
                       out_of_pocket_yuan=100.0) for _ in range(3)]
        answer = httpx.post(f"{base}/v1/events/medical_insurance", json=batch,
                            headers={"Authorization": "Bearer t0ken-yb"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["accepted"] == 3
        assert httpx.post(f"{base}/v1/events/medical_insurance", json=batch, timeout=30).status_code == 401
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'hardship_connector_records_sent_total{connector="http",source="medical_insurance",' \
               'topic="hardship.events"} 3.0' in metrics
        assert 'hardship_connector_http_requests_total{source="medical_insurance",status="401"} 1.0' in metrics
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()
        process.stderr.close()


def test_one_process_per_state_folder(tmp_path):
    from connectors.filedrop import FileDrop
    from connectors.mapping import load_mapping
    from connectors.state import StateLocked

    first = FileDrop(tmp_path / "drop", [load_mapping("courts")], None, tmp_path / "state")
    with pytest.raises(StateLocked, match="another connector is running"):
        FileDrop(tmp_path / "drop", [load_mapping("courts")], None, tmp_path / "state")
    first.close()
    FileDrop(tmp_path / "drop", [load_mapping("courts")], None, tmp_path / "state").close()
