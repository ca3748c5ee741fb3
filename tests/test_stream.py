"""The Faust agents on the real embedded broker: the same alerts as replay, restarts, duplicates, poison."""

from __future__ import annotations

import json
import urllib.request
from datetime import date

import pytest

from connectors.simulator import generate
from models.resident_id import make_resident_id
from tests.stream_helpers import (
    INTERNAL_TOPICS,
    WorkerProcess,
    assert_nothing_lost,
    key_partitions,
    messages_in,
    outcome_of,
    producer,
    read_topic,
    replay_alerts,
    send_all,
    wait_until_settled,
)

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CHANGELOGS = {  # a table's changelog and the topic whose messages write it
    "hardship-monitor-households-changelog": "hardship-households",
    "hardship-monitor-persons-changelog": "hardship-persons",
    "hardship-monitor-filings-changelog": "hardship.filings",
}


@pytest.fixture(autouse=True)
def short_provisional_hold(monkeypatch):
    """Alerts of persons on no roster wait 2 s (not a minute) for a roster record on its way."""
    monkeypatch.setenv("HARDSHIP_PROVISIONAL_HOLD_SECONDS", "2")


def load_roster(worker: WorkerProcess, prod, sim) -> None:
    send_all(prod, "hardship.registry", sim.registry, "household_id")
    send_all(prod, "hardship.filings", sim.filings, "staff_id")
    worker.wait_for("hardship_registry_records_total", len(sim.registry))
    members = sum(len(record["members"]) for record in sim.registry)
    worker.wait_for("hardship_person_updates_total", members)


def test_stream_gives_the_alerts_of_replay_with_duplicates_and_poison(broker, tmp_path):
    sim = generate(households=250, days=150, seed=11)
    events = list(sim.events)
    broken_check_digit = dict(events[0], event_id="bad-1", person_id=events[0]["person_id"][:17] + (
        "0" if events[0]["person_id"][17] != "0" else "1"))
    # a valid event of 5 MB: more than the broker takes from the worker's producer when forwarded
    huge = dict(events[2], event_id="huge-1", attributes={**events[2]["attributes"], "note": "x" * 5_000_000})
    poison = ["{this is not json", json.dumps(broken_check_digit), json.dumps(dict(events[1], type="lottery_win")),
              json.dumps(huge)]
    worker = WorkerProcess(broker.url, tmp_path / "worker", tmp_path / "worker.log", loglevel="info")
    try:
        prod = producer(broker.bootstrap, max_request_size=6_000_000)
        load_roster(worker, prod, sim)
        sent = send_all(prod, "hardship.events", events[: len(events) // 2], "person_id")
        sent += send_all(prod, "hardship.events", poison, "person_id")
        # the first half again (a connector resending), then the rest
        sent += send_all(prod, "hardship.events", events[: len(events) // 2], "person_id")
        sent += send_all(prod, "hardship.events", events[len(events) // 2:], "person_id")
        worker.wait_for("hardship_events_total", 2 * (len(events) // 2) + (len(events) - len(events) // 2))
        worker.wait_for("hardship_deadletters_total", len(poison))
        wait_until_settled(worker, broker.bootstrap)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/healthz", timeout=5) as response:
            health = json.load(response)
        # the garbage collector: what recovery loaded is frozen, and its pauses are counted (streams/collector.py)
        frozen, pauses = worker.metric("hardship_gc_frozen_objects"), worker.metric("hardship_gc_pause_seconds_count")
        streamed = read_topic(broker.bootstrap, "hardship.alerts", idle_seconds=6)
        letters = read_topic(broker.bootstrap, "hardship.deadletter", idle_seconds=2)
        placed = {topic: key_partitions(broker.bootstrap, topic) for topic in (*CHANGELOGS, *CHANGELOGS.values())}
        assert_nothing_lost(worker, {"hardship.registry": len(sim.registry), "hardship.filings": len(sim.filings),
                                     "hardship.events": sent,
                                     **{topic: messages_in(broker.bootstrap, topic) for topic in INTERNAL_TOPICS}})
    finally:
        worker.stop()
    expected = replay_alerts(("registry", sim.registry), ("filings", sim.filings), ("events", events))
    assert expected, "the simulated district should raise alerts"
    assert outcome_of(streamed) == outcome_of(expected)
    assert sorted(letter["reason"] for letter in letters) == [
        "MALFORMED_JSON", "MESSAGE_TOO_LARGE", "RESIDENT_ID_CHECK_DIGIT", "UNKNOWN_EVENT_TYPE"]
    assert all(letter["topic"] == "hardship.events" and "offset" in letter for letter in letters)
    # liveness: every partition the worker holds, with its lag and time since progress; none stalled
    assert health["status"] == "ok" and not health["stalled"]
    assert frozen > 10_000 and pauses > 0, (frozen, pauses)
    assert {p["topic"] for p in health["partitions"]} >= {"hardship.events", "hardship-households", "hardship-persons"}
    assert max(len(json.dumps(letter)) for letter in letters) < 100_000, "a dead letter carries the head of a huge input"
    # every changelog record sits on the partition of its key's messages (co-partitioned tables); a
    # forwarded message carries the ops of one batch for one partition: fewer messages than ops
    assert messages_in(broker.bootstrap, "hardship-households") < len(placed["hardship-households"]) / 5
    for changelog, source in CHANGELOGS.items():
        source_partition = dict(placed[source])
        assert placed[changelog], changelog
        misplaced = [key for key, partition in placed[changelog] if source_partition.get(key) != partition]
        assert not misplaced, f"{len(misplaced)} of {len(placed[changelog])} records of {changelog} on another partition"


def test_killed_worker_resumes_with_its_tables_and_raises_no_duplicate(broker, tmp_path):
    sim = generate(households=250, days=150, seed=12)
    events = list(sim.events)
    half = len(events) // 2
    worker = WorkerProcess(broker.url, tmp_path / "w1", tmp_path / "worker1.log", loglevel="info")
    try:
        prod = producer(broker.bootstrap)
        load_roster(worker, prod, sim)
        send_all(prod, "hardship.events", events[:half], "person_id")
        worker.wait_for("hardship_events_total", half)
        wait_until_settled(worker, broker.bootstrap)
        before_kill = read_topic(broker.bootstrap, "hardship.alerts", idle_seconds=4)
    finally:
        worker.kill()
    restarted = WorkerProcess(broker.url, tmp_path / "w2", tmp_path / "worker2.log", loglevel="info")
    try:
        # after the restart, an event for a person outside the roster proves the index survived too
        outsider = make_resident_id("420106", date(1951, 5, 5), 901)
        late = {"event_id": "late-1", "source": "medical_insurance", "type": "medical_bill", "person_id": outsider,
                "occurred_at": "2026-05-20T09:00:00+08:00", "attributes": {"out_of_pocket_yuan": 32000}}
        send_all(prod, "hardship.events", [*events[half:], late], "person_id")
        restarted.wait_for("hardship_events_total", len(events) - half + 1, timeout=300)
        wait_until_settled(restarted, broker.bootstrap)
        streamed = read_topic(broker.bootstrap, "hardship.alerts", idle_seconds=6)
    finally:
        restarted.stop()
    expected = replay_alerts(("registry", sim.registry), ("filings", sim.filings), ("events", [*events, late]))
    assert before_kill, "the first half should already raise alerts"
    assert outcome_of(streamed) == outcome_of(expected)
    # no alert sent twice at the same level: the restored tables knew what was already raised
    pairs = [(alert["alert_id"], alert["level"]) for alert in streamed if "superseded_by" not in alert]
    assert len(pairs) == len(set(pairs))


def test_rocksdb_store_gives_the_same_alerts_and_keeps_state_on_disk(broker, tmp_path):
    sim = generate(households=120, days=90, seed=13)
    events = list(sim.events)
    data_dir = tmp_path / "worker"
    worker = WorkerProcess(broker.url, data_dir, tmp_path / "worker.log", store="rocksdb://")
    try:
        prod = producer(broker.bootstrap)
        load_roster(worker, prod, sim)
        send_all(prod, "hardship.events", events, "person_id")
        worker.wait_for("hardship_events_total", len(events))
        wait_until_settled(worker, broker.bootstrap)
        streamed = read_topic(broker.bootstrap, "hardship.alerts", idle_seconds=5)
    finally:
        worker.stop()
    expected = replay_alerts(("registry", sim.registry), ("filings", sim.filings), ("events", events))
    assert outcome_of(streamed) == outcome_of(expected)
    assert any(path.is_dir() and "households" in path.name for path in (data_dir / "faust").rglob("*"))



def test_group_offsets_see_every_partition_of_the_group_not_only_one_workers(broker):
    """The barrier of held alerts reads the group's committed offsets and the true ends of every partition
    of a topic (tansu reports the end of a partition short): one message left uncommitted anywhere holds it."""
    import asyncio

    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata, TopicPartition

    from streams.group_offsets import GroupOffsets

    prod = producer(broker.bootstrap)
    for partition in range(4):
        for n in range(3):  # one batch of three records each: tansu would report the end as 1
            prod.send("hardship.registry", key=b"k", value=json.dumps({"n": n}).encode(), partition=partition)
    prod.flush()

    async def check() -> list[bool]:
        group = GroupOffsets(broker.url, "barrier-test", 4, tansu=True)
        committer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="barrier-test", enable_auto_commit=False)
        await committer.start()
        seen = []
        try:
            ends = await group.ends("hardship.registry")
            seen.append(sorted(ends.values()) == [3, 3, 3, 3])
            seen.append(await group.committed_past(ends))  # nothing committed yet
            tps = [TopicPartition("hardship.registry", p) for p in range(4)]
            committer.assign(tps)  # commits as the group without joining it, like a worker that left
            await committer.commit({tp: OffsetAndMetadata(3 if tp.partition < 3 else 2, "") for tp in tps})
            seen.append(await group.committed_past(ends))  # one record of partition 3 left
            await committer.commit({tps[3]: OffsetAndMetadata(3, "")})
            seen.append(await group.committed_past(ends))
        finally:
            await committer.stop()
            await group.close()
        return seen

    assert asyncio.run(check()) == [True, False, False, True]
