"""The learned model end to end on a small simulated district: simulated visit findings, training,
evaluation on another seed, scoring in replay, and the guardrails (the model never changes which
alerts exist; bad model files are refused at start)."""

from __future__ import annotations

import json
import pickle

import jsonschema
import pytest
from click.testing import CliRunner

from connectors.visits import simulated_outcomes
from models.validation import VALIDATORS
from scoring.model.features import FEATURE_NAMES, features_of
from scoring.model.store import MODEL_FILE, ModelError, load_model
from scoring.monitor import Monitor
from streams.cli import main
from tests.test_contract import schema

MODEL_FIELDS = ("model_score", "model_reasons", "model_version", "model_features", "emitted_at")


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def simulate(out, seed: int) -> None:
    run("simulate", "--households", "1500", "--seed", str(seed), "--out", str(out), "--files-only", "--quiet")


def replay(district, out_name: str, *extra: str):
    out = district / out_name
    run("replay", "--registry", str(district / "registry.jsonl"), "--filings", str(district / "filings.jsonl"),
        "--events", str(district / "events.jsonl"), "--alerts-out", str(out), "--deadletter-out",
        str(district / "dead.jsonl"), "--no-progress", *extra)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """seed 31 to train on, seed 32 to evaluate on; a model trained on the first."""
    base = tmp_path_factory.mktemp("model-loop")
    train_dir, test_dir, model_dir = base / "s31", base / "s32", base / "model"
    simulate(train_dir, 31)
    simulate(test_dir, 32)
    replay(train_dir, "alerts.jsonl", "--features")
    output = run("model", "train", "--alerts", str(train_dir / "alerts.jsonl"), "--outcomes",
                 str(train_dir / "outcomes.jsonl"), "--out", str(model_dir), "--min-labels", "60")
    return {"train": train_dir, "test": test_dir, "model": model_dir, "train_output": output}


def test_simulated_visit_findings_fit_the_contract_and_are_deterministic(loop):
    lines = (loop["train"] / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    findings = {"confirmed": 0, "not_confirmed": 0, None: 0}
    for line in lines:
        record = json.loads(line)
        jsonschema.validate(record, schema("outcome"))
        VALIDATORS["outcomes"](record)
        findings[record.get("visit_finding")] += 1
    assert findings["confirmed"] > 0 and findings["not_confirmed"] > 0
    assert findings[None] > 0  # dismissed at triage: no visit, no label
    rows = [{"household_id": "hh-1", "coverage": "none", "latent": {"missed_coverage"}, "since": {},
             "income_ratio": 0.95, "wage_evidence": False},
            {"household_id": "hh-2", "coverage": "dibao", "latent": set(), "since": {}}]
    first = list(simulated_outcomes(rows, 7, 1_790_000_000))
    assert first == list(simulated_outcomes(rows, 7, 1_790_000_000))
    assert first != list(simulated_outcomes(rows, 8, 1_790_000_000))


def test_training_writes_a_skops_model_and_a_card(loop):
    model_dir = loop["model"]
    assert (model_dir / MODEL_FILE).is_file()
    assert (model_dir / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = json.loads((model_dir / "card.json").read_text(encoding="utf-8"))
    assert [f["name"] for f in card["features"]] == list(FEATURE_NAMES)
    held = card["held_out"]
    assert held["count"] == card["held_out_rows"] > 0
    assert 0.5 < held["auc"] <= 1.0
    assert held["top_quarter_confirmed_rules"] is not None
    assert len(held["calibration"]) == 10
    assert held["by_street"]
    assert set(card["candidates"]) == {"linear", "boosting"}
    text = (model_dir / "card.md").read_text(encoding="utf-8")
    assert "never raises, suppresses or closes an alert" in text
    assert "AUC" in loop["train_output"]


def test_evaluation_on_another_seed_and_replay_with_the_model(loop, tmp_path):
    test_dir = loop["test"]
    scored = replay(test_dir, "alerts-model.jsonl", "--model", str(loop["model"]))
    version = load_model(loop["model"]).version
    assert scored
    for alert in scored:
        if alert.get("superseded_by"):
            continue
        assert alert["model_version"] == version
        assert 0.0 <= alert["model_score"] <= 1.0
        assert isinstance(alert["model_reasons"], list) and len(alert["model_reasons"]) <= 3
        assert all("核实可能" in reason for reason in alert["model_reasons"])
        jsonschema.validate({**alert, "emitted_at": "2026-11-23T10:00:00+08:00"}, schema("alert"))
    assert any(alert["model_reasons"] for alert in scored)
    output = run("model", "evaluate", "--model", str(loop["model"]), "--alerts", str(test_dir / "alerts-model.jsonl"),
                 "--outcomes", str(test_dir / "outcomes.jsonl"), "--out", str(tmp_path))
    report = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert report["model_version"] == version
    assert report["figures"]["count"] > 0 and report["figures"]["auc"] is not None
    assert (tmp_path / "calibration.png").stat().st_size > 1000
    assert "top quarter" in output


def test_the_model_never_raises_suppresses_or_closes_an_alert(loop):
    """Guardrail: the same alerts, in the same order, with and without a model, but for the model's fields."""
    test_dir = loop["test"]
    plain = replay(test_dir, "alerts-plain.jsonl")
    scored = replay(test_dir, "alerts-scored.jsonl", "--model", str(loop["model"]))
    assert all("model_score" not in alert and alert["model_version"] == "rules-only" for alert in plain)

    def strip(alert: dict) -> dict:
        return {key: value for key, value in alert.items() if key not in MODEL_FIELDS}

    assert [strip(a) for a in scored] == [strip(a) for a in plain]


def test_the_household_state_is_the_same_with_and_without_a_model(loop):
    test_dir = loop["test"]
    scorer = load_model(loop["model"])
    monitors = [Monitor(), Monitor(model=scorer)]
    for stream, name in (("registry", "registry"), ("filings", "filings"), ("events", "events")):
        lines = (test_dir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:20_000]
        for line in lines:
            record = VALIDATORS[stream](json.loads(line))
            for monitor in monitors:
                monitor.feed(stream, record)
    assert monitors[0].tables == monitors[1].tables


def test_features_are_the_fixed_list_and_read_the_public_state(loop):
    monitor = Monitor(features=True)
    test_dir = loop["test"]
    alerts = []
    for line in (test_dir / "registry.jsonl").read_text(encoding="utf-8").splitlines():
        alerts += monitor.registry(VALIDATORS["registry"](json.loads(line)))
    assert alerts
    for alert in alerts[:50]:
        assert list(alert["model_features"]) == list(FEATURE_NAMES)
        again = features_of(alert, monitor.households[alert["household_id"]], monitor.policy)
        assert again == alert["model_features"]
        features = alert["model_features"]
        codes = {reason["code"] for reason in alert["reasons"]}
        assert {name[7:] for name, value in features.items() if name.startswith("reason_") and value} == codes
        block = "u_" if alert["kind"] in ("missed_coverage", "missed_assistance") else "c_"
        bands = [features[f"{block}income_zero"], *(features[f"{block}ratio_band_{i}"] for i in range(9))]
        assert sum(bands) == (0 if features[f"{block}income_unknown"] else 1)


def test_income_bands_and_nearness_to_the_standard():
    from scoring.model.features import _ratio_bands

    def on(ratio):
        return [name for name, value in _ratio_bands(ratio).items() if value and name != "near_standard"]

    assert on(None) == [] and _ratio_bands(None)["near_standard"] == 0
    assert on(0.0) == ["income_zero"]
    assert on(0.3) == ["ratio_band_0"] and on(0.31) == ["ratio_band_1"]
    assert on(1.0) == ["ratio_band_4"] and on(1.01) == ["ratio_band_5"]
    assert on(2.0) == ["ratio_band_7"] and on(7.5) == ["ratio_band_8"]
    assert [_ratio_bands(r)["near_standard"] for r in (0.4, 0.5, 0.75, 1.0, 3.0)] == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_training_and_evaluation_on_several_sources(loop, tmp_path):
    """Two districts (seeds) in one training: each alerts file joins its own outcomes only; their sizes add up."""
    from scoring.model.train import join

    replay(loop["test"], "alerts-features.jsonl", "--features")
    sources = [(loop["train"] / "alerts.jsonl", loop["train"] / "outcomes.jsonl"),
               (loop["test"] / "alerts-features.jsonl", loop["test"] / "outcomes.jsonl")]
    sizes = [len(join(a, o)) for a, o in sources]
    args = [arg for a, o in sources for arg in ("--alerts", str(a), "--outcomes", str(o))]
    run("model", "train", *args, "--out", str(tmp_path / "m"), "--min-labels", "60")
    card = json.loads((tmp_path / "m" / "card.json").read_text(encoding="utf-8"))
    assert card["training_rows"] + card["held_out_rows"] == sum(sizes)
    assert [entry["alerts"] for entry in card["inputs"]] == [str(a) for a, _ in sources]
    output = run("model", "evaluate", "--model", str(tmp_path / "m"), *args, "--out", str(tmp_path / "e"))
    figures = json.loads((tmp_path / "e" / "evaluation.json").read_text(encoding="utf-8"))["figures"]
    assert figures["count"] == sum(sizes)
    for decile in figures["calibration"]:
        p, n = decile["predicted"], decile["count"]
        assert decile["se"] == pytest.approx((p * (1 - p) / n) ** 0.5, abs=1e-4)
        assert decile["gap"] == pytest.approx(abs(p - decile["confirmed"]), abs=1e-4)
    assert "standard error" in output
    unpaired = CliRunner().invoke(main, ["model", "train", *args[:4], "--alerts", str(sources[1][0]),
                                         "--out", str(tmp_path / "x")])
    assert unpaired.exit_code == 2 and "one outcomes file per alerts file" in unpaired.output


def test_the_ceiling_of_simulated_findings(loop):
    """The diagnostic: visits ordered by the simulator's own chance of confirmation (never a model input)."""
    from connectors.visit_ceiling import confirm_chance

    assert confirm_chance("missed_coverage", {"latent": {"missed_coverage"}, "income_ratio": 0.2}) == pytest.approx(0.97)
    assert confirm_chance("missed_coverage", {"latent": {"missed_coverage"}, "income_ratio": 1.0}) == pytest.approx(0.42)
    assert confirm_chance("missed_coverage", {"latent": set(), "income_ratio": 1.0}) == pytest.approx(0.03)
    assert confirm_chance("should_exit", {"latent": {"should_exit"}, "wage_evidence": True}) == pytest.approx(0.62)
    # the rows it rebuilds are those the simulator drew its findings from: the same findings again
    from connectors import simulator
    from connectors.visit_ceiling import visit_rows

    spec = simulator.generate(households=1500, seed=31).spec
    rows = visit_rows(1500, 31)
    again = list(simulated_outcomes(rows.values(), 31, spec.start_epoch + spec.days * 86_400))
    written = [json.loads(line) for line in (loop["train"] / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(again, key=lambda r: r["outcome_id"]) == sorted(written, key=lambda r: r["outcome_id"])
    output = run("model", "ceiling", "--alerts", str(loop["train"] / "alerts.jsonl"), "--outcomes",
                 str(loop["train"] / "outcomes.jsonl"), "--seed", "31", "--households", "1500", "--json")
    figures = json.loads(output[output.index("{"):])
    assert figures["confirmed_share"] < figures["expected_top_quarter"] <= 0.97
    assert figures["auc"] > 0.6


def test_the_demo_refuses_a_bad_model_before_starting_anything(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / MODEL_FILE).write_bytes(pickle.dumps({"estimator": None}))
    result = CliRunner().invoke(main, ["demo", "--model", str(folder), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and "not a skops file" in result.output
    assert "running" not in result.output and not (tmp_path / "data").exists()


def test_the_demo_console_shows_the_model_score():
    from streams.demo import console_line

    alert = {"household_id": "hh-1", "kind": "missed_coverage", "level": 3, "hardship_score": 71.0,
             "removal_score": 5.0, "reasons": [{"code": "X", "text": "收入低于标准"}]}
    assert "模型核实概率" not in console_line(1.0, alert)
    assert "模型核实概率 87%" in console_line(1.0, {**alert, "model_score": 0.87})


def test_too_few_labels_is_refused_with_a_clear_message(loop, tmp_path):
    outcomes = tmp_path / "few.jsonl"
    lines = (loop["train"] / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    outcomes.write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["model", "train", "--alerts", str(loop["train"] / "alerts.jsonl"),
                                       "--outcomes", str(outcomes), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "too few labels to train" in result.output
    assert not (tmp_path / "m" / MODEL_FILE).exists()


def test_alerts_without_features_are_refused_with_what_to_do(loop, tmp_path):
    plain = tmp_path / "plain.jsonl"
    with plain.open("w", encoding="utf-8") as handle:
        for line in (loop["train"] / "alerts.jsonl").read_text(encoding="utf-8").splitlines():
            alert = json.loads(line)
            alert.pop("model_features", None)
            handle.write(json.dumps(alert, ensure_ascii=False) + "\n")
    result = CliRunner().invoke(main, ["model", "train", "--alerts", str(plain), "--outcomes",
                                       str(loop["train"] / "outcomes.jsonl"), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "hardship replay --features" in result.output


def test_a_pickle_file_is_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / MODEL_FILE).write_bytes(pickle.dumps({"estimator": None, "features": list(FEATURE_NAMES)}))
    with pytest.raises(ModelError, match="not a skops file"):
        load_model(folder)
    result = CliRunner().invoke(main, ["replay", "--registry", __file__, "--alerts-out", str(tmp_path / "a"),
                                       "--deadletter-out", str(tmp_path / "d"), "--model", str(folder)])
    assert result.exit_code == 1 and "not a skops file" in result.output
    assert not (tmp_path / "a").exists()  # refused at start, before any output


def test_a_model_of_other_features_is_refused(loop, tmp_path):
    import skops.io as sio

    payload = sio.load(loop["model"] / MODEL_FILE, trusted=sio.get_untrusted_types(file=loop["model"] / MODEL_FILE))
    payload["features"] = [*FEATURE_NAMES[:-1], "u_favourite_colour"]
    folder = tmp_path / "other"
    folder.mkdir()
    sio.dump(payload, folder / MODEL_FILE)
    with pytest.raises(ModelError, match="other features.*u_favourite_colour"):
        load_model(folder)
    result = CliRunner().invoke(main, ["worker", "--model", str(folder), "--broker", "kafka://127.0.0.1:1"])
    assert result.exit_code == 1 and "retrain" in result.output


def test_a_skops_file_that_is_not_a_model_is_refused(tmp_path):
    import skops.io as sio

    folder = tmp_path / "m"
    folder.mkdir()
    sio.dump({"hello": [1, 2, 3]}, folder / MODEL_FILE)
    with pytest.raises(ModelError, match="not a hardship model"):
        load_model(folder)
    with pytest.raises(ModelError, match="no model at"):
        load_model(tmp_path / "nothing-here")


def test_the_numpy_scoring_path_agrees_with_the_pipeline(loop):
    from scoring.model.train import join

    scorer = load_model(loop["model"])
    data = join(loop["train"] / "alerts.jsonl", loop["train"] / "outcomes.jsonl")
    x = data.x
    if scorer.kind == "linear":
        assert scorer._linear is not None
    import numpy as np

    assert np.allclose(scorer.scores(x), scorer.estimator.predict_proba(x)[:, 1], atol=1e-9)


def test_backtest_with_a_model_measures_its_ranking_under_each_policy(loop, tmp_path):
    from importlib import resources

    from tests.test_backtest import raised_policy

    district = loop["test"]
    bundled = str(resources.files("scoring").joinpath("policy.yaml"))
    policy = raised_policy(tmp_path)
    out = tmp_path / "bt"
    output = run("backtest", "--registry", str(district / "registry.jsonl"), "--filings", str(district / "filings.jsonl"),
                 "--events", str(district / "events.jsonl"), "--policy", bundled, "--policy", str(policy),
                 "--outcomes", str(district / "outcomes.jsonl"), "--model", str(loop["model"]), "--out", str(out))
    report = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
    version = load_model(loop["model"]).version
    assert report["model"]["version"] == version
    assert len(report["model"]["policies"]) == 2
    for figures in report["model"]["policies"].values():
        assert figures["count"] > 0 and figures["auc"] is not None and figures["auc_rules"] is not None
    assert f"model {version} under" in output
    for path in out.glob("alerts-*.jsonl"):
        first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
        assert first["model_version"] == version


@pytest.mark.broker
@pytest.mark.slow
def test_a_worker_with_a_model_scores_the_alerts_replay_scores(loop, broker, tmp_path, monkeypatch):
    """`hardship worker --model` on the real embedded broker: the alerts the rules raise in replay, no more and
    no fewer, each with the model's score, reasons and version (the stream may interleave a household's
    members' events otherwise than the file, so the scores themselves are not compared)."""
    from connectors.simulator import generate
    from tests.stream_helpers import (
        WorkerProcess,
        outcome_of,
        producer,
        read_topic,
        send_all,
        wait_until_settled,
    )

    monkeypatch.setenv("HARDSHIP_PROVISIONAL_HOLD_SECONDS", "2")
    sim = generate(households=200, days=120, seed=13)
    events = list(sim.events)
    worker = WorkerProcess(broker.url, tmp_path / "worker", tmp_path / "worker.log",
                           extra_args=("--model", str(loop["model"])))
    try:
        prod = producer(broker.bootstrap)
        send_all(prod, "hardship.registry", sim.registry, "household_id")
        send_all(prod, "hardship.filings", sim.filings, "staff_id")
        worker.wait_for("hardship_registry_records_total", len(sim.registry))
        worker.wait_for("hardship_person_updates_total", sum(len(r["members"]) for r in sim.registry))
        send_all(prod, "hardship.events", events, "person_id")
        worker.wait_for("hardship_events_total", len(events))
        wait_until_settled(worker, broker.bootstrap)
        streamed = read_topic(broker.bootstrap, "hardship.alerts", idle_seconds=6)
    finally:
        worker.stop()
    scorer = load_model(loop["model"])
    expected = []
    plain = Monitor()  # the rules alone: the worker with a model raises exactly these
    for stream, records in (("registry", sim.registry), ("filings", sim.filings), ("events", events)):
        for record in records:
            expected.extend(plain.feed(stream, VALIDATORS[stream](record)))
    assert expected
    assert outcome_of(streamed) == outcome_of(expected)
    for alert in streamed:
        if alert.get("superseded_by"):
            continue
        assert alert["model_version"] == scorer.version
        assert 0.0 <= alert["model_score"] <= 1.0
        assert isinstance(alert["model_reasons"], list)
        assert list(alert["model_features"]) == list(FEATURE_NAMES)
