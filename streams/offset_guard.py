"""No offset is committed past a message its agent was not given; a message lost on the way is read again.

Faust (faust-streaming 0.15.3) has two ways of committing past a message that never reached an agent:

  1. `Consumer._add_gap`: when the fetch loop sees offset n + 2 right after n, it files n + 1 as a gap
     (meant for compacted topics) and later counts it as acknowledged;
  2. `Consumer._new_offset`: its check for a hole at the head of the acknowledged offsets is one short
     (`min(acked) - committed > 1`), so when the first message after a commit is dropped and the next
     is acknowledged, the commit passes it.

Either way the message is never read again, not even after a restart. Seen on the embedded broker after
a rebalance: the survivor of two workers, having taken over a partition and sought to its committed
offset, was given offset n and then n + 2 (`tests/test_stream_faults.py`, about one run in twenty; the
race inside Faust's fetch loop was not pinned down). The input topics and the internal hops are never
compacted, so an offset missing between two others is either a message lost on the way or, rarely, an
offset the log itself does not hold. `OffsetGuard` wraps both methods on the worker's consumer (wrapped,
not patched: nothing installed is changed):

  - a gap is not filed; commits stop at the first offset not acknowledged (Faust's consecutive-run rule
    then holds at the head too);
  - a hole that stays for `GRACE_SECONDS` is checked against the broker's log with a consumer of its own:
    offsets the log does not hold are counted as done; a message the log holds is read again by seeking
    the partition back to it (the router applies a message once, so what is read twice changes nothing).

`OffsetWatch` is the agents' side of it: which offsets each agent was given, so that the tests (and
`/metrics`) can tell a message given once, given again, or still missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from streams import metrics

log = logging.getLogger(__name__)

GRACE_SECONDS = 2.0  # a hole must outlast this before the log is read (an ack in flight closes it sooner)
RETRY_SECONDS = 5.0  # a re-read that did not close the hole is tried again after this
# A partition with messages past its committed offset, nothing acknowledged after it and no commit for this
# long lost its last message(s) on the way (nothing comes after them to show a hole): it is read again.
IDLE_REREAD_SECONDS = 20.0

# (topic, partition, offset) -> the offset of the first record the log holds at or after it (None: none yet)
ReadLog = Callable[[str, int, int], Awaitable[int | None]]


class OffsetGuard:
    """Guards the commits of one Faust consumer for `topics` (the agents' inputs and internal hops)."""

    def __init__(self, consumer, topics: set[str], read_log: ReadLog, watch: OffsetWatch | None = None) -> None:
        self.consumer = consumer
        self.topics = topics
        self.read_log = read_log
        self.watch = watch
        self.holes: dict[object, tuple[int, float]] = {}  # tp -> (first offset not acknowledged, seen since)
        self.reread_at: dict[object, tuple[int, float]] = {}  # tp -> (offset sought back to, when)
        self.progress: dict[object, tuple[int | None, float]] = {}  # tp -> (committed offset, unchanged since)
        self._faust_add_gap = consumer._add_gap
        self._faust_new_offset = consumer._new_offset

    def install(self) -> OffsetGuard:
        self.consumer._add_gap = self.add_gap
        self.consumer._new_offset = self.new_offset
        return self

    async def add_gap(self, tp, offset_from: int, offset_to: int) -> None:
        if tp.topic not in self.topics:
            await self._faust_add_gap(tp, offset_from, offset_to)
            return
        # not filed: the commit then stops at offset_from until the message is acknowledged or found absent
        log.warning("the fetch skipped offsets %d..%d of %s[%d]; nothing past them is committed until they are "
                    "read or found absent from the log", offset_from, offset_to - 1, tp.topic, tp.partition)

    def new_offset(self, tp) -> int | None:
        """Faust's next offset to commit, unless the acknowledged offsets do not start at the committed one."""
        if tp.topic in self.topics:
            acked = self.consumer._acked.get(tp)
            committed = self.consumer._committed_offset.get(tp)
            if acked and committed is not None:
                first = min(acked)
                if first > committed:
                    self._hole(tp, committed)
                    return None
            self.holes.pop(tp, None)
        return self._faust_new_offset(tp)

    def _hole(self, tp, offset: int) -> None:
        known = self.holes.get(tp)
        if known is None or known[0] != offset:
            self.holes[tp] = (offset, time.monotonic())

    def forget(self, tps) -> None:
        """Revoked partitions: their holes are the next owner's (who reads from the committed offset)."""
        for tp in tps:
            self.holes.pop(tp, None)
            self.reread_at.pop(tp, None)
            self.progress.pop(tp, None)

    async def resolve(self, now: float | None = None) -> None:
        """Check the holes that outlasted the grace period against the log: count absent offsets as done,
        read a held message again."""
        now = time.monotonic() if now is None else now
        await self._reread_idle(now)
        for tp, (offset, since) in list(self.holes.items()):
            if now - since < GRACE_SECONDS:
                continue
            acked = self.consumer._acked.get(tp)
            if not acked or self.consumer._committed_offset.get(tp) != offset:
                self.holes.pop(tp, None)  # closed meanwhile (acknowledged, committed or revoked)
                continue
            sought = self.reread_at.get(tp)
            if sought is not None and sought[0] == offset and now - sought[1] < RETRY_SECONDS:
                continue
            first_acked = min(acked)
            present = await self.read_log(tp.topic, tp.partition, offset)
            if present is None:
                log.warning("offset %d of %s[%d] is not acknowledged and the log shows nothing from there yet; "
                            "checking again", offset, tp.topic, tp.partition)
                continue
            if present > offset:  # the log holds no record at offset..present-1: nothing to read there
                absent = range(offset, min(present, first_acked))
                log.warning("offsets %d..%d of %s[%d] are not in the broker's log; counted as done",
                            absent.start, absent.stop - 1, tp.topic, tp.partition)
                metrics.OFFSETS_ABSENT.labels(tp.topic).inc(len(absent))
                index = self.consumer._acked_index[tp]
                for missing in absent:
                    if missing not in index:
                        index.add(missing)
                        acked.append(missing)
                acked.sort()
                self.holes.pop(tp, None)
                if self.watch is not None:
                    self.watch.absent(tp.topic, tp.partition, absent)
                if present >= first_acked:
                    continue
                offset = present
            log.error("offset %d of %s[%d] is in the log but was never given to its agent (Faust acknowledged "
                      "%d next); reading the partition again from %d", offset, tp.topic, tp.partition,
                      first_acked, offset)
            await self._reread(tp, offset, now)

    async def _reread_idle(self, now: float) -> None:
        try:
            assigned = self.consumer.assignment()
        except Exception:  # noqa: BLE001 - the consumer is not started yet
            return
        for tp in assigned:
            if tp.topic not in self.topics:
                continue
            committed = self.consumer._committed_offset.get(tp)
            known = self.progress.get(tp)
            if known is None or known[0] != committed:
                self.progress[tp] = (committed, now)
                continue
            high = self.consumer.highwater(tp)
            start = committed or 0  # Faust keeps a committed offset of 0, or none yet, as None
            if (high is None or high <= start or self.consumer._acked.get(tp) or tp in self.holes
                    or now - known[1] < IDLE_REREAD_SECONDS):
                continue
            sought = self.reread_at.get(tp)
            if sought is not None and sought[0] == start and now - sought[1] < IDLE_REREAD_SECONDS:
                continue
            log.error("%s[%d] has %d message(s) past its committed offset %d and nothing was acknowledged for %.0f s: "
                      "reading the partition again from %d", tp.topic, tp.partition, high - start, start,
                      now - known[1], start)
            await self._reread(tp, start, now)

    async def _reread(self, tp, offset: int, now: float) -> None:
        metrics.OFFSET_REREADS.labels(tp.topic).inc()
        if self.watch is not None:
            self.watch.reread(tp.topic, tp.partition, offset)
        self.reread_at[tp] = (offset, now)
        await self.consumer.seek_wait({tp: offset})


class OffsetWatch:
    """Counts, per partition an agent holds, the offsets it is given: first time, again, or still missing.

    Within one assignment a partition's offsets come one after another. A skipped offset is missing until
    it is given (OffsetGuard reads it again); an offset given a second time is a repeat, unless the guard
    sought the partition back over it. Cleared on every rebalance, when a partition may resume elsewhere.
    """

    def __init__(self, committed=None) -> None:
        self.last: dict[tuple[str, int], int] = {}
        self.missing: dict[tuple[str, int], set[int]] = {}
        self.rereading: dict[tuple[str, int], range] = {}  # tp -> the offsets a re-read gives again
        self.committed = committed  # tp -> the highest offset this worker saw its group commit there

    def clear(self) -> None:
        self.last.clear()
        self.rereading.clear()
        for (topic, _partition), offsets in self.missing.items():
            metrics.OFFSETS_MISSING.labels(topic).dec(len(offsets))
        self.missing.clear()

    def reread(self, topic: str, partition: int, offset: int) -> None:
        """The guard sought the partition back to `offset`: offsets up to the last given come again."""
        tp = (topic, partition)
        if tp in self.last:
            self.rereading[tp] = range(offset, self.last[tp] + 1)

    def absent(self, topic: str, partition: int, offsets: range) -> None:
        """Offsets the broker's log does not hold: no longer missing."""
        missing = self.missing.get((topic, partition))
        if missing:
            found = missing.intersection(offsets)
            missing.difference_update(found)
            metrics.OFFSETS_MISSING.labels(topic).dec(len(found))

    def see(self, event) -> int | None:
        """Count the message; the offset this worker committed on its partition when the message lies below
        it (redelivered in a rebalance, or the broker lost its data: `confirm_lost_data` tells which)."""
        message = event.message
        tp = (message.topic, message.partition)
        offset = message.offset
        committed = self.committed(message.tp) if self.committed else None
        below = committed if committed is not None and offset < committed - 1 else None
        last = self.last.get(tp)
        missing = self.missing.get(tp)
        if missing and offset in missing:
            missing.discard(offset)
            metrics.OFFSETS_MISSING.labels(message.topic).dec()
            metrics.labelled(metrics.MESSAGES_TAKEN, message.topic).inc()
            log.warning("offset %d of %s[%d] given after all", offset, message.topic, message.partition)
            return below
        if last is not None and offset <= last:
            if offset in self.rereading.get(tp, ()):
                metrics.OFFSETS_REREAD.labels(message.topic).inc()
            else:
                metrics.OFFSET_REPEATS.labels(message.topic).inc()
                log.warning("offset %d of %s[%d] given again (last %d)", offset, message.topic, message.partition, last)
            return below
        if last is not None and offset > last + 1:
            skipped = range(last + 1, offset)
            self.missing.setdefault(tp, set()).update(skipped)
            metrics.OFFSETS_MISSING.labels(message.topic).inc(len(skipped))
            log.error("offsets %d..%d of %s[%d] were skipped on the way to the agent (they are read again before "
                      "anything past them is committed)", skipped.start, skipped.stop - 1, message.topic,
                      message.partition)
        self.last[tp] = offset
        metrics.labelled(metrics.MESSAGES_TAKEN, message.topic).inc()
        return below


DROP_ENV = "HARDSHIP_FAULT_DROP_MESSAGES"  # tests only: "topic:partition:offset,..." never reach the agents once


def drop_once(consumer, spec: str) -> None:
    """Fault injection for the tests (never set in production): each listed message is dropped once on its
    way from the fetch loop to the agents, as Faust's own race drops one, so that the guard's work shows."""
    targets = set()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        topic, partition, offset = item.rsplit(":", 2)
        targets.add((topic, int(partition), int(offset)))
    pass_on = consumer.callback

    async def callback(message) -> None:
        where = (message.topic, message.partition, message.offset)
        if where in targets:
            targets.discard(where)
            log.warning("%s: dropped %s[%d] offset %d on purpose", DROP_ENV, *where)
            return
        await pass_on(message)

    consumer.callback = callback
