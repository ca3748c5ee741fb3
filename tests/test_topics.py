"""The topic plan (issue 15): partitions and replication from settings, compaction where records are latest-per-key.

Unit: the plan for a 3-broker cluster. Broker: `hardship topics` against the embedded tansu broker
creates the topics and says which settings that broker does not support.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.config import CONTRACT_TOPICS, FILINGS_TOPIC, REGISTRY_TOPIC
from streams.topics import DAY_MS, changelog_topic, topic_plan

HARDSHIP = str(Path(sys.executable).with_name("hardship"))


def test_plan_for_a_three_broker_cluster():
    plan = {spec.name: spec for spec in topic_plan(partitions=12, replication=3)}
    changelogs = {changelog_topic(t) for t in ("households", "persons", "filings")}
    assert set(plan) == {*CONTRACT_TOPICS, "hardship-households", "hardship-persons", *changelogs}
    for name, spec in plan.items():
        assert spec.partitions == 12 and spec.replication_factor == 3, name
        assert spec.configs["min.insync.replicas"] == "2", name  # an acknowledged record is on two brokers
    compacted = {name for name, spec in plan.items() if spec.compacted}
    assert compacted == {REGISTRY_TOPIC, FILINGS_TOPIC, *changelogs}  # latest per key: never deleted by age
    for name in set(plan) - compacted:
        assert plan[name].configs["cleanup.policy"] == "delete"
        assert plan[name].configs["retention.ms"] == str(90 * DAY_MS)
    for name in compacted:
        assert "retention.ms" not in plan[name].configs


def test_single_broker_plan_asks_for_no_second_copy():
    for spec in topic_plan(partitions=8, replication=1, retention_days=30):
        assert spec.replication_factor == 1 and "min.insync.replicas" not in spec.configs
        if not spec.compacted:
            assert spec.configs["retention.ms"] == str(30 * DAY_MS)


def test_plan_names_the_topics_of_the_faust_app(tmp_path):
    """The changelogs and internal topics of the plan are those the app declares (names drift otherwise)."""
    from streams.app import APP_ID, HOUSEHOLDS_TOPIC, PERSONS_TOPIC, StreamSettings, create_app
    from streams.topics import APP_ID as PLAN_APP_ID
    from streams.topics import INTERNAL_TOPICS

    assert PLAN_APP_ID == APP_ID and set(INTERNAL_TOPICS) == {HOUSEHOLDS_TOPIC, PERSONS_TOPIC}
    app = create_app(StreamSettings(broker_url="kafka://127.0.0.1:9", data_dir=tmp_path))
    declared = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    assert declared == {spec.name for spec in topic_plan(4, 1) if spec.name.endswith("-changelog")}


def test_topics_help_and_plan_without_a_broker():
    result = subprocess.run([HARDSHIP, "topics", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--check" in result.stdout and "--replication-factor" in result.stdout
    result = subprocess.run([HARDSHIP, "topics", "--plan", "--replication-factor", "3"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hardship.registry" in result.stdout and "cleanup.policy=compact" in result.stdout
    result = subprocess.run([HARDSHIP, "topics"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "--broker" in result.stderr  # says what to do


@pytest.mark.broker
def test_hardship_topics_on_the_embedded_broker(broker):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([HARDSHIP, "topics", "--broker", broker.url, *args], capture_output=True, text=True,
                              timeout=120)

    created = run("--partitions", "4", "--replication-factor", "1")
    assert created.returncode == 0, created.stdout + created.stderr
    lines = created.stdout.splitlines()
    for name in CONTRACT_TOPICS:  # the fixture created the contract's topics
        assert any(line.startswith("present") and f" {name} " in line for line in lines), name
    for name in ("hardship-households", changelog_topic("households"), changelog_topic("filings")):
        assert any(line.startswith("created") and f" {name} " in line for line in lines), name
    unsupported = [line for line in lines if line.startswith("NOT SUPPORTED")]
    assert any("no log compaction" in line and REGISTRY_TOPIC in line for line in unsupported), created.stdout
    assert any("topic configs" in line and "retention.ms" in line for line in unsupported), created.stdout

    check = run("--check", "--partitions", "4", "--replication-factor", "1")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "missing" not in check.stdout and "DIFFERS" not in check.stdout

    differs = run("--check", "--partitions", "8", "--replication-factor", "1")
    assert differs.returncode == 1
    assert f"DIFFERS  {REGISTRY_TOPIC}: 4 partitions, the plan says 8" in differs.stdout
    assert "kafka-reassign-partitions" in differs.stderr  # what to do next
