"""The statistics page's charts (server-side matplotlib SVG, inline): the expected series, the counts beside each
precision, the tables kept beneath; on SQLite and PostgreSQL through the page."""

from __future__ import annotations

import re

import pytest

from tests.workbench_fixtures import NEIGHBOUR, env_on, make_alert

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def bar_ids(svg: str) -> list[str]:
    return re.findall(r'<g id="((?:alerts|confirmed|days)-[^"]+)"', svg)


def test_charts_draw_the_series_of_the_rows():
    from workbench.charts import charts

    months = [{"key": "2026-08", "alerts": 3, "visits": 0, "confirmed": 0},
              {"key": "2026-09", "alerts": 7, "visits": 4, "confirmed": 3},
              {"key": "2026-10", "alerts": 12, "visits": 6, "confirmed": 4}]
    streets = [{"key": "420106002000", "median_days_to_visit": 4.5, "visits": 3},
               {"key": "420106005000", "median_days_to_visit": None, "visits": 0}]
    drawn = charts({"months": months, "streets": streets}, {"420106002000": "积玉桥街道"})
    alerts = drawn["alerts_per_month"]
    assert alerts.startswith('<svg id="chart-alerts-month"') and "<?xml" not in alerts and "<title>每月预警数</title>" in alerts
    assert bar_ids(alerts) == ["alerts-2026-08", "alerts-2026-09", "alerts-2026-10"]
    assert all(f">{n}<" in alerts for n in ("3", "7", "12"))  # each bar's count written as text
    share = drawn["confirmed_per_month"]
    assert bar_ids(share) == ["confirmed-2026-09", "confirmed-2026-10"]  # no bar of 0 % for a month without visits
    assert ">3/4<" in share and ">4/6<" in share and "无走访" in share
    days = drawn["days_per_street"]
    assert bar_ids(days) == ["days-420106002000"] and "积玉桥街道" in days and "4.5 天（3 次走访）" in days
    # bar heights follow the figures: October's alerts bar is four times August's
    heights = {}
    for key, path in re.findall(r'<g id="(alerts-[^"]+)">\s*<path d="([^"]+)"', alerts):
        ys = [float(y) for y in re.findall(r"[ML] [\d.]+ ([\d.]+)", path)]
        heights[key] = max(ys) - min(ys)
    assert heights["alerts-2026-10"] / heights["alerts-2026-08"] == pytest.approx(4, rel=0.01)
    empty = charts({"months": [], "streets": []}, {})
    assert "尚无预警" in empty["alerts_per_month"] and bar_ids(empty["confirmed_per_month"]) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_stats_page_shows_the_charts_above_the_tables(backend, tmp_path):
    from tests.test_workbench_bureau import load_divisions, page_login

    with env_on(backend, tmp_path) as env:
        load_divisions(env)
        env.ingest(make_alert("c1"), make_alert("c2", household="hh-c2"), make_alert("c3", division=NEIGHBOUR))
        task = env.call("POST", env.alert_url("c1", "confirm"), "street").json()["task"]
        env.call("POST", f"/api/v1/tasks/{task['task_id']}/visit", task["assignee"], json={
            "method": "home_visit", "finding": "入户核实情况属实", "result": "confirmed"})
        env.call("POST", f"/api/v1/tasks/{task['task_id']}/review", "street", json={"decision": "approve"})
        page_login(env, "street")
        page = env.client.get("/stats")
        assert page.status_code == 200
        html = page.text
        assert 'id="chart-alerts-month"' in html and 'id="chart-confirmed-month"' in html and 'id="chart-days-street"' in html
        assert bar_ids(html) == ["alerts-2026-09", "confirmed-2026-09", "days-420106002000"]
        assert ">1/1<" in html and "积玉桥街道" in html
        assert html.index('id="charts"') < html.index('id="stats-months"')  # the exact numbers stay beneath
        assert "1/1（100%）" in html
        # the charts follow the reader's divisions: the other street office sees none of these bars
        page_login(env, "street_other")
        assert bar_ids(env.client.get("/stats").text) == []
