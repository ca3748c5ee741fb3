"""`hardship replay --jobs N`: households partitioned over processes give exactly the alerts of one process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from connectors.simulator import write_files
from scoring.monitor import Monitor
from scoring.policy import load_policy
from streams.replay import replay_files, replay_parallel
from tests.test_idempotence import inputs_with_redeliveries


def _without_stamps(text: str) -> list[dict]:
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        row.pop("emitted_at", None)
    return rows


def _replay(inputs: list[tuple[str, Path]], jobs: int) -> tuple[list[dict], list[dict]]:
    alerts, dead = io.StringIO(), io.StringIO()
    if jobs == 1:
        replay_files(inputs, alerts, dead, Monitor(load_policy()))
    else:
        replay_parallel(inputs, alerts, dead, load_policy(), jobs)
    return _without_stamps(alerts.getvalue()), _without_stamps(dead.getvalue())


def _objects(path: Path):
    """The JSON objects of a file that also holds the simulator's invalid lines."""
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


@pytest.fixture(scope="module")
def moving_district(tmp_path_factory) -> list[tuple[str, Path]]:
    """A small simulated district with invalid lines, plus roster records that move people between
    households and give people of no roster a household, so the person index changes under the partitions."""
    out = tmp_path_factory.mktemp("moves")
    write_files(out, households=400, days=120, seed=5, bad_fraction=0.01)
    registry = list(_objects(out / "registry.jsonl"))
    valid = [r for r in registry if isinstance(r.get("members"), list) and r.get("coverage") in ("none", "dibao", "tekun", "edge")]
    moves = []
    for first, second in zip(valid[0:60:2], valid[1:60:2], strict=False):
        mover = second["members"][0]
        moves.append({**first, "members": [*first["members"], mover], "recorded_at": "2026-01-02T00:00:00+08:00"})
    events = list(_objects(out / "events.jsonl"))
    rostered = {m["person_id"] for r in valid for m in r["members"]}
    outsiders = sorted({e["person_id"] for e in events if isinstance(e.get("person_id"), str)
                        and e["person_id"] not in rostered})[:5]
    for number, person_id in enumerate(outsiders):
        moves.append({"household_id": f"hh-new-{number}", "division_code": "420106001001", "coverage": "none",
                      "members": [{"person_id": person_id, "relation": "head"}], "monthly_income_yuan": 800,
                      "recorded_at": "2026-01-03T00:00:00+08:00"})
    with open(out / "registry.jsonl", "a", encoding="utf-8") as handle:
        for record in moves:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return [("registry", out / "registry.jsonl"), ("filings", out / "filings.jsonl"), ("events", out / "events.jsonl")]


@pytest.mark.slow
def test_three_processes_give_the_alerts_and_dead_letters_of_one(moving_district):
    one_alerts, one_dead = _replay(moving_district, 1)
    three_alerts, three_dead = _replay(moving_district, 3)
    assert one_alerts and one_dead  # the district has both
    assert three_alerts == one_alerts  # the same alerts in the same order
    assert three_dead == one_dead
    assert _replay(moving_district, 2)[0] == one_alerts


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pair=inputs_with_redeliveries())
def test_any_input_gives_the_same_alerts_over_processes(pair, tmp_path_factory):
    _, inputs = pair
    folder = tmp_path_factory.mktemp("hyp")
    files = {}
    for stream in ("registry", "filings", "events"):
        files[stream] = folder / f"{stream}.jsonl"
        files[stream].write_text("".join(json.dumps(r) + "\n" for s, r in inputs if s == stream), encoding="utf-8")
    ordered = [(stream, files[stream]) for stream in ("registry", "filings", "events")]
    assert _replay(ordered, 3) == _replay(ordered, 1)
