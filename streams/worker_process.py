"""A stream worker as a child process, and producing with kafka-python: used by the bench and the tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from kafka import KafkaProducer

from streams.broker import free_port
from streams.kafka_client import client_config

HARDSHIP = str(Path(sys.executable).with_name("hardship"))


class WorkerProcess:
    """`hardship worker` in its own process group, with its metrics port."""

    def __init__(self, broker_url: str, data_dir: Path, log_path: Path, loglevel: str = "warning",
                 store: str = "memory://", extra_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = dict(os.environ, HARDSHIP_DATA_DIR=str(data_dir))
        self.process = subprocess.Popen(
            [HARDSHIP, "worker", "--broker", broker_url, "--tansu", "--metrics-port", str(self.port),
             "--loglevel", loglevel, "--store", store, *extra_args],
            env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
        )

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of a metric with these label values (0 while the worker is not up yet)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if re.match(rf"^{re.escape(name)}(\{{|\s)", line) and all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_for(self, name: str, at_least: float, timeout: float = 120.0, **labels: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}; see {self.log_path}")
            if self.metric(name, **labels) >= at_least:
                return
            time.sleep(0.3)
        raise AssertionError(f"{name}{labels or ''} stayed under {at_least} (now {self.metric(name, **labels)}); "
                             f"see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no last commit."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def producer(bootstrap: str, max_request_size: int = 1_048_576) -> KafkaProducer:
    return KafkaProducer(**client_config(bootstrap).kafka_python("bench-producer"), acks="all", retries=5,
                         enable_idempotence=False, max_in_flight_requests_per_connection=1,
                         max_request_size=max_request_size)


def send_all(prod: KafkaProducer, topic: str, records, key_field: str) -> int:
    count = 0
    for record in records:
        if isinstance(record, bytes | str):
            key, value = b"poison", record.encode() if isinstance(record, str) else record
        else:
            key, value = record[key_field].encode(), json.dumps(record, ensure_ascii=False).encode()
        prod.send(topic, key=key, value=value)
        count += 1
    prod.flush()
    return count
