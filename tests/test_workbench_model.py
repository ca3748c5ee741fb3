"""The learned model in the workbench: sort by model_score, confirmation by kind, level and score band, the
training-set export; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from models.validation import VALIDATORS
from tests.workbench_fixtures import env_on, make_alert
from workbench.access import Actor
from workbench.queue import Filters, list_alerts
from workbench.stats import score_band, visit_confirmation
from workbench.training import training_set

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
BUREAU = Actor("bureau", "bureau", ("420106000000",), "S-BUREAU")


def scored(alert_id: str, score: float | None, **kwargs) -> dict:
    alert = make_alert(alert_id, **kwargs)
    if score is not None:
        alert.update(model_score=score, model_version="model-test", model_reasons=["人均收入与低保标准之比为0.4，提高核实可能"],
                     model_features={"level": float(alert["level"]), "u_income_over_standard": 0.4})
    return alert


def visit(env, alert_id: str, result: str, review: bool = True) -> None:
    task = env.call("POST", env.alert_url(alert_id, "confirm"), "bureau").json()["task"]
    officer = task["assignee"] or "officer_a"
    if task["assignee"] is None:
        assert env.call("POST", f"/api/v1/tasks/{task['task_id']}/assign", "street",
                        json={"assignee": officer}).status_code == 200
    body = {"method": "home_visit", "finding": "入户核查", "result": result}
    if result != "confirmed":
        body["reason"] = "收入高于标准"
    response = env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", officer, json=body)
    assert response.status_code == 200, response.text
    if not review:
        return
    # the street office's review (复核) sends the outcome
    approved = env.call("POST", f"/api/v1/tasks/{task['task_id']}/review", "street", json={"decision": "approve"})
    assert approved.status_code == 200, approved.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_queue_sorts_by_model_score_with_unscored_last(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        env.ingest(scored("a", 0.30, level=4), scored("b", 0.95, level=1), scored("c", None, level=3),
                   scored("d", 0.60, level=2), scored("e", None, level=4))
        with env.wb.sessions() as session:
            by_level, total = list_alerts(session, BUREAU, Filters())
            by_model, _ = list_alerts(session, BUREAU, Filters(), sort="model_score")
            with pytest.raises(ValueError, match="sort must be one of"):
                list_alerts(session, BUREAU, Filters(), sort="favourite")
        assert total == 5
        assert [a.alert_id for a in by_level] == ["a", "e", "c", "d", "b"]
        assert [a.alert_id for a in by_model] == ["b", "d", "a", "e", "c"]
        assert by_model[0].model_reasons == ["人均收入与低保标准之比为0.4，提高核实可能"]
        assert by_model[0].model_version == "model-test"


@pytest.mark.parametrize("backend", BACKENDS)
def test_confirmation_by_kind_level_and_score_band_and_the_training_export(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        env.ingest(scored("h1", 0.91, level=3), scored("h2", 0.85, level=3), scored("h3", 0.15, level=1),
                   scored("h4", None, level=2, kind="missed_assistance"), scored("h5", 0.5, level=2))
        visit(env, "h1", "confirmed")
        visit(env, "h2", "confirmed")
        visit(env, "h3", "refuted")
        visit(env, "h4", "refuted")
        visit(env, "h5", "confirmed", review=False)  # waits for the street's review (复核): not counted, no label
        with env.wb.sessions() as session:
            figures = visit_confirmation(session, BUREAU)
            alerts, outcomes = training_set(session, BUREAU)
            with pytest.raises(Exception, match="不能导出"):
                training_set(session, Actor("officer_a", "officer", ("420106002003",), "S-OFF-A"))
            far = visit_confirmation(session, Actor("bureau_far", "bureau", ("420111000000",), "S-FAR"))
        assert dict((k, (c, n)) for k, c, n in figures["kind"]) == {"missed_coverage": (2, 3), "missed_assistance": (0, 1)}
        assert dict((k, (c, n)) for k, c, n in figures["level"]) == {"1": (0, 1), "2": (0, 1), "3": (2, 2)}
        assert dict((k, (c, n)) for k, c, n in figures["score_band"]) == {
            "0.8–1.0": (2, 2), "0.0–0.2": (0, 1), "无模型评分": (0, 1)}
        assert far == {"kind": [], "level": [], "score_band": []}
        assert sorted(a["alert_id"] for a in alerts) == ["h1", "h2", "h3", "h4"]
        findings = {o["alert_id"]: o["visit_finding"] for o in outcomes}
        assert findings == {"h1": "confirmed", "h2": "confirmed", "h3": "not_confirmed", "h4": "not_confirmed"}
        for outcome in outcomes:
            VALIDATORS["outcomes"](outcome)
        assert next(a for a in alerts if a["alert_id"] == "h1")["model_features"]["u_income_over_standard"] == 0.4


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_visit_outcome_carries_its_finding(backend, tmp_path):
    from sqlalchemy import select

    from workbench.tables import OutboxOutcome

    with env_on(backend, tmp_path) as env:
        env.ingest(scored("v1", 0.7), scored("v2", 0.2))
        visit(env, "v1", "confirmed")
        visit(env, "v2", "refuted")
        with env.wb.sessions() as session:
            payloads = {row.alert_id: row.payload for row in session.scalars(select(OutboxOutcome))}
        assert payloads["v1"]["visit_finding"] == "confirmed"
        assert payloads["v2"]["visit_finding"] == "not_confirmed"


def test_score_bands():
    assert [score_band(s) for s in (None, 0.0, 0.19, 0.2, 0.79, 0.8, 1.0)] == [
        "无模型评分", "0.0–0.2", "0.0–0.2", "0.2–0.4", "0.6–0.8", "0.8–1.0", "0.8–1.0"]


def test_a_bad_model_score_is_refused():
    from models.validation import Rejected
    from workbench.alerts import validate_alert

    with pytest.raises(Rejected, match="model_score"):
        validate_alert({**scored("x", 0.5), "model_score": 1.5})
    with pytest.raises(Rejected, match="model_reasons"):
        validate_alert({**scored("x", 0.5), "model_reasons": "not a list"})
    assert validate_alert(make_alert("y"))["model_score"] is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_pages_show_the_score_its_reasons_and_confirmation_by_band(backend, tmp_path):
    from tests.test_workbench_pages import login

    with env_on(backend, tmp_path) as env:
        env.ingest(scored("p1", 0.87, level=1), scored("p2", None, level=4))
        visit(env, "p1", "confirmed")
        client = env.client
        login(client, "bureau")
        queue = client.get("/queue?status=all&sort=model_score").text
        assert "按模型核实概率" in queue and "87%" in queue
        assert queue.index(f"/alerts/{env.number('p1')}\"") < queue.index(f"/alerts/{env.number('p2')}\"")
        page = client.get(f"/alerts/{env.number('p1')}").text
        assert "模型核实概率" in page and "人均收入与低保标准之比为0.4，提高核实可能" in page
        assert "模型核实概率" not in client.get(f"/alerts/{env.number('p2')}").text.split("基本情况")[1].split("</dl>")[0]
        stats = client.get("/stats").text
        assert "按模型核实概率分段" in stats and "0.8–1.0" in stats
