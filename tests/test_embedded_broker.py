"""The embedded broker's start: a listening port no outgoing connection can take, and a cluster id per start."""

from __future__ import annotations

import asyncio
import socket

import pytest

from streams.broker import EmbeddedBroker, _listen_port_range, free_port
from streams.config import TANSU_CLUSTER_ID
from streams.group_offsets import GroupOffsets


def test_free_ports_lie_below_the_range_of_outgoing_connections_and_can_be_bound():
    low, high = _listen_port_range()
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        first_ephemeral = int(ranges.read().split()[0])
    assert high < first_ephemeral
    ports = {free_port() for _ in range(20)}
    assert all(low <= port <= high for port in ports)
    assert len(ports) > 1  # chosen at random: two servers starting together rarely pick the same
    port = ports.pop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_passed_over(monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        used = taken.getsockname()[1]
        other = free_port()
        picks = iter([used, used, other])
        monkeypatch.setattr("streams.broker.random.randint", lambda low, high: next(picks))
        assert free_port() == other


async def _cluster_id(url: str) -> str | None:
    group = GroupOffsets(url, "cluster-id-test", 4, tansu=True)
    try:
        return await group.cluster_id()
    finally:
        await group.close()


@pytest.mark.broker
def test_the_embedded_broker_started_again_on_its_port_is_a_new_cluster():
    """tansu keeps nothing, so a start is a new cluster; its id is what a worker watches (streams/app.py)."""
    broker = EmbeddedBroker().start()
    try:
        first = asyncio.run(_cluster_id(broker.url))
        port = broker.port
    finally:
        broker.stop()
    again = EmbeddedBroker(port=port).start()
    try:
        second = asyncio.run(_cluster_id(again.url))
    finally:
        again.stop()
    assert first == broker.cluster_id and second == again.cluster_id
    assert first and second and first != second
    assert first.startswith(TANSU_CLUSTER_ID)  # `hardship topics` knows tansu by it (no compaction)
