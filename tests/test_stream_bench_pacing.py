"""`hardship bench stream`'s paced producer: never ahead of its rate by more than one tick, probes timed when sent."""

from __future__ import annotations

import sys
import time
import types

from connectors.simulator import PACE_TICK_SECONDS
from streams import stream_bench


class _RecordingProducer:
    def __init__(self, **_: object) -> None:
        self.sent: list[tuple[float, bytes]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((time.perf_counter(), key))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        _RecordingProducer.last = self


def test_the_paced_producer_keeps_its_rate_within_a_tick_and_times_each_probe_when_sent(monkeypatch):
    monkeypatch.setitem(sys.modules, "kafka", types.SimpleNamespace(KafkaProducer=_RecordingProducer))
    rate, count = 2000.0, 300
    records = [((b"429004" if i % 50 == 0 else b"420106") + str(i).encode(), b"{}") for i in range(count)]
    sent_at: dict[str, float] = {}
    started = time.perf_counter()
    stream_bench._produce("127.0.0.1:9", "hardship.events", records, rate=rate, sent_at=sent_at, probe_prefix=b"429004")
    sent = _RecordingProducer.last.sent
    assert [key for _, key in sent] == [key for key, _ in records]  # all of them, in order
    for index, (at, _) in enumerate(sent):  # never earlier than its schedule less one tick
        assert at - started >= index / rate - PACE_TICK_SECONDS - 1e-3, index
    assert sorted(sent_at) == sorted(key.decode() for key, _ in records if key.startswith(b"429004"))
