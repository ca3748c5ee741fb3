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
            for role in ("officer", "street", "auditor"):  # the district bureau only (training.export)
                with pytest.raises(Exception, match="只有区民政局可以导出模型训练数据"):
                    training_set(session, Actor("someone", role, ("420106002003",), "S-OFF-A"))
            far = visit_confirmation(session, Actor("bureau_far", "bureau", ("420111000000",), "S-FAR"))
        assert dict((k, (c, n)) for k, c, n in figures["kind"]) == {"missed_coverage": (2, 3), "missed_assistance": (0, 1)}
        assert dict((k, (c, n)) for k, c, n in figures["level"]) == {"1": (0, 1), "2": (0, 1), "3": (2, 2)}
        assert dict((k, (c, n)) for k, c, n in figures["score_band"]) == {
            "0.8–1.0": (2, 2), "0.0–0.2": (0, 1), "无模型评分": (0, 1)}
        assert far == {"kind": [], "level": [], "score_band": []}
        api = env.call("GET", "/api/v1/stats", "bureau").json()["confirmation"]
        assert {r["key"]: (r["confirmed"], r["visits"]) for r in api["score_band"]} == {
            "0.8–1.0": (2, 2), "0.0–0.2": (0, 1), "无模型评分": (0, 1)}
        assert env.call("GET", "/api/v1/stats", "bureau_far").json()["confirmation"]["level"] == []
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_api_sorts_by_model_score_and_the_excel_export_carries_it(backend, tmp_path):
    import io

    from openpyxl import load_workbook

    with env_on(backend, tmp_path) as env:
        env.ingest(scored("s1", 0.30, level=4), scored("s2", 0.95, level=1), scored("s3", None, level=3))
        by_level = env.call("GET", "/api/v1/alerts", "bureau", params={"status": "all"}).json()["items"]
        by_model = env.call("GET", "/api/v1/alerts", "bureau", params={"status": "all", "sort": "model_score"})
        assert by_model.status_code == 200, by_model.text
        assert [a["alert_id"] for a in by_level] == ["s1", "s3", "s2"]
        assert [a["alert_id"] for a in by_model.json()["items"]] == ["s2", "s1", "s3"]
        assert env.call("GET", "/api/v1/alerts", "bureau", params={"sort": "favourite"}).status_code == 422
        workbook = env.call("GET", "/api/v1/exports/queue.xlsx", "bureau", params={"status": "all", "sort": "model_score"})
        assert workbook.status_code == 200, workbook.text
        rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(workbook.content)).active.iter_rows()]
        header = rows[0]
        score, reasons, version = header.index("模型核实概率"), header.index("模型理由"), header.index("模型版本")
        assert [r[header.index("预警编号")] for r in rows[1:]] == ["s2", "s1", "s3"]
        assert [r[score] for r in rows[1:]] == ["0.95", "0.3", None]
        assert rows[1][reasons] == "人均收入与低保标准之比为0.4，提高核实可能" and rows[1][version] == "model-test"
        page = env.client
        from tests.test_workbench_pages import login

        login(page, "bureau")
        sheet = page.get("/queue.xlsx?status=all&sort=model_score")
        rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(sheet.content)).active.iter_rows()]
        assert [r[header.index("预警编号")] for r in rows[1:]] == ["s2", "s1", "s3"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_training_set_download_is_for_the_bureau_masked_and_audited(backend, tmp_path):
    import io
    import json
    import zipfile

    from sqlalchemy import select

    from tests.test_workbench_pages import login
    from tests.workbench_fixtures import resident
    from workbench.tables import AuditEntry

    person = resident(41)
    with env_on(backend, tmp_path) as env:
        provisional = scored(f"person:{person}/missed_coverage/1", 0.8, household=f"person:{person}")
        env.ingest(scored("t1", 0.9), scored("t2", 0.2), provisional)
        visit(env, "t1", "confirmed")
        visit(env, "t2", "refuted")
        visit(env, provisional["alert_id"], "confirmed")
        for user in ("street", "auditor", "officer_a", "admin"):
            assert env.call("GET", "/api/v1/exports/training.zip", user).status_code == 403, user
        response = env.call("GET", "/api/v1/exports/training.zip", "bureau")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"].startswith('attachment; filename="training-')
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            assert sorted(archive.namelist()) == ["README.txt", "alerts.jsonl", "outcomes.jsonl"]
            text = archive.read("alerts.jsonl").decode() + archive.read("outcomes.jsonl").decode()
            alerts = [json.loads(line) for line in archive.read("alerts.jsonl").decode().splitlines()]
            outcomes = [json.loads(line) for line in archive.read("outcomes.jsonl").decode().splitlines()]
        assert person not in text and person[6:14] not in text  # neither the ID nor its date of birth
        assert len(alerts) == len(outcomes) == 3
        assert {o["alert_id"] for o in outcomes} == {a["alert_id"] for a in alerts}
        pseudonym = next(a for a in alerts if a["household_id"].startswith("person:"))
        assert pseudonym["alert_id"].startswith(pseudonym["household_id"] + "/")
        with env.wb.sessions() as session:
            audited = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "training_exported")))
        assert [(e.actor, e.target_type) for e in audited] == [("bureau", "training_set")]
        assert json.loads(audited[0].detail)["rows"] == 3
        # the page: a button on the statistics page for the bureau only, the same download
        client = env.client
        login(client, "bureau")
        assert 'href="/training.zip"' in client.get("/stats").text
        download = client.get("/training.zip")
        assert download.status_code == 200 and zipfile.is_zipfile(io.BytesIO(download.content))
        from fastapi.testclient import TestClient

        with TestClient(env.app) as street:
            login(street, "street")
            assert 'href="/training.zip"' not in street.get("/stats").text
            assert street.get("/training.zip").status_code == 403
