"""OffsetGuard over a consumer with Faust's own bookkeeping (faust.transport.consumer.Consumer's methods):
no commit passes a message its agent was not given, and a missing message is read again or found absent."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP

from streams.offset_guard import GRACE_SECONDS, IDLE_REREAD_SECONDS, OffsetGuard, OffsetWatch

INPUT = TP("hardship.registry", 0)
OTHER = TP("hardship-monitor-households-changelog", 0)


class Consumer:
    """Faust's acknowledgement bookkeeping and its own `_new_offset`/`_add_gap`, without a broker."""

    _new_offset = FaustConsumer._new_offset
    _add_gap = FaustConsumer._add_gap

    def __init__(self) -> None:
        from intervaltree import IntervalTree

        self._acked = defaultdict(list)
        self._acked_index = defaultdict(set)
        self._committed_offset = defaultdict(lambda: None)
        self._gap = defaultdict(IntervalTree)
        self.sought: list[dict] = []
        self.high = {INPUT: 10}

    def ack(self, tp: TP, *offsets: int) -> None:
        for offset in offsets:
            self._acked_index[tp].add(offset)
            self._acked[tp].append(offset)

    def commit(self, tp: TP) -> int | None:
        """What Faust's commit tick would commit for tp (and records it as committed)."""
        offset = self._new_offset(tp)
        if offset is not None:
            self._committed_offset[tp] = offset
        return offset

    async def seek_wait(self, partitions) -> None:
        self.sought.append(dict(partitions))

    def assignment(self):
        return {INPUT}

    def highwater(self, tp):
        return self.high.get(tp)


def guarded(log_holds=lambda offset: offset):
    consumer = Consumer()

    async def read_log(topic: str, partition: int, offset: int) -> int | None:
        return log_holds(offset)

    guard = OffsetGuard(consumer, {INPUT.topic}, read_log).install()
    return consumer, guard


def test_faust_alone_commits_past_a_single_message_never_acknowledged():
    consumer = Consumer()
    consumer._committed_offset[INPUT] = 5
    consumer.ack(INPUT, 6, 7)  # offset 5 never reached the agent
    assert consumer.commit(INPUT) == 8  # Faust's head check is one short: 5 is lost


def test_no_commit_past_a_message_never_acknowledged():
    consumer, guard = guarded()
    consumer._committed_offset[INPUT] = 5
    consumer.ack(INPUT, 6, 7)
    assert consumer.commit(INPUT) is None
    assert INPUT in guard.holes
    consumer.ack(INPUT, 5)  # read again and applied
    assert consumer.commit(INPUT) == 8
    assert INPUT not in guard.holes


def test_a_gap_of_the_fetch_loop_is_not_counted_as_done():
    consumer, guard = guarded()
    consumer._committed_offset[INPUT] = 3
    asyncio.run(consumer._add_gap(INPUT, 4, 6))  # the fetch loop saw 3 then 6
    consumer.ack(INPUT, 3, 6)
    assert consumer.commit(INPUT) == 4  # up to the hole, not past it
    assert consumer.commit(INPUT) is None


def test_other_topics_keep_faust_behaviour():
    consumer, _ = guarded()
    consumer._committed_offset[OTHER] = 5
    consumer.ack(OTHER, 6, 7)
    assert consumer.commit(OTHER) == 8


def test_a_hole_the_log_holds_is_read_again_after_the_grace_period():
    consumer, guard = guarded()
    watch = OffsetWatch()
    guard.watch = watch
    consumer._committed_offset[INPUT] = 5
    consumer.ack(INPUT, 6, 7)
    consumer.commit(INPUT)
    since = guard.holes[INPUT][1]
    asyncio.run(guard.resolve(now=since + GRACE_SECONDS / 2))
    assert consumer.sought == []  # an ack in flight may still close it
    asyncio.run(guard.resolve(now=since + GRACE_SECONDS))
    assert consumer.sought == [{INPUT: 5}]
    asyncio.run(guard.resolve(now=since + GRACE_SECONDS + 1))
    assert consumer.sought == [{INPUT: 5}], "a re-read is not repeated at once"


def test_offsets_the_log_does_not_hold_are_counted_as_done():
    consumer, guard = guarded(log_holds=lambda offset: 7)  # the log goes from 4 straight to 7
    consumer._committed_offset[INPUT] = 5
    consumer.ack(INPUT, 7, 8)
    consumer.commit(INPUT)
    asyncio.run(guard.resolve(now=guard.holes[INPUT][1] + GRACE_SECONDS))
    assert consumer.sought == []
    assert consumer.commit(INPUT) == 9


def test_a_partition_whose_last_message_was_lost_is_read_again_when_idle():
    consumer, guard = guarded()
    consumer._committed_offset[INPUT] = 9  # high water 10: offset 9 never acknowledged, nothing after it
    asyncio.run(guard.resolve(now=100.0))
    asyncio.run(guard.resolve(now=100.0 + IDLE_REREAD_SECONDS / 2))
    assert consumer.sought == []
    asyncio.run(guard.resolve(now=100.0 + IDLE_REREAD_SECONDS))
    assert consumer.sought == [{INPUT: 9}]


def event_at(offset: int, topic: str = INPUT.topic, partition: int = 0):
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset,
                                                   tp=TP(topic, partition)))


def test_the_watch_counts_missing_given_after_all_and_reread_apart_from_repeats():
    from streams import metrics

    def value(metric) -> float:
        return metric.labels(INPUT.topic)._value.get()

    watch = OffsetWatch()
    before = {name: value(getattr(metrics, name)) for name in
              ("OFFSETS_MISSING", "OFFSET_REPEATS", "OFFSETS_REREAD", "MESSAGES_TAKEN")}
    for offset in (0, 1, 3, 4):
        watch.see(event_at(offset))
    assert value(metrics.OFFSETS_MISSING) - before["OFFSETS_MISSING"] == 1
    watch.reread(INPUT.topic, 0, 2)
    for offset in (2, 3, 4):
        watch.see(event_at(offset))
    assert value(metrics.OFFSETS_MISSING) - before["OFFSETS_MISSING"] == 0
    assert value(metrics.MESSAGES_TAKEN) - before["MESSAGES_TAKEN"] == 5  # each offset once
    assert value(metrics.OFFSETS_REREAD) - before["OFFSETS_REREAD"] == 2
    assert value(metrics.OFFSET_REPEATS) - before["OFFSET_REPEATS"] == 0
    watch.see(event_at(1))  # given again with no re-read: a repeat
    assert value(metrics.OFFSET_REPEATS) - before["OFFSET_REPEATS"] == 1
