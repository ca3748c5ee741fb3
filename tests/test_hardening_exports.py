"""Excel exports carry no live formula: every cell is a text cell, from the queue, the task list and the audit log.

Issue 13, must fix 4: a failed sign-in with the username `=cmd|' /C calc'!A0` (no sign-in needed to cause it)
landed as a formula in the auditor's audit.xlsx; reasons, household ids and officer names starting with `=`
did the same in the queue and task exports.
"""

from __future__ import annotations

import io
import re
import zipfile

from openpyxl import load_workbook

from tests.workbench_fixtures import DIVISION, PASSWORD, env_on, make_alert

PAYLOADS = ("=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example/","点此")', "+1+cmd|' /C calc'!A0", "-2+3",
            "@SUM(1+1)")


def _cells(content: bytes) -> list:
    book = load_workbook(io.BytesIO(content))
    return [cell for sheet in book for row in sheet.iter_rows() for cell in row if cell.value is not None]


def _no_formula(content: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", archive.read(name)), name  # no formula element anywhere
    for cell in _cells(content):
        assert cell.data_type == "s", (cell.coordinate, cell.value, cell.data_type)


def test_every_exported_cell_is_text_and_formula_payloads_stay_inert(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        client = env.client
        # no sign-in needed: a failed login's username goes into the audit log
        for payload in PAYLOADS:
            assert client.post("/api/v1/token", json={"username": payload, "password": "wrong-password"}).status_code == 401
        created = env.call("POST", "/api/v1/users", "admin", json={
            "username": "officer_eq", "display_name": PAYLOADS[0], "role": "officer", "scopes": [DIVISION],
            "password": PASSWORD, "staff_id": "S-EQ"})
        assert created.status_code == 201, created.text
        env.ingest(make_alert("x-1", household=PAYLOADS[1], reason_text=PAYLOADS[2]), make_alert("x-2"))
        assert env.call("POST", env.alert_url("x-1", "confirm"), "bureau").status_code == 200
        task_id = env.call("GET", "/api/v1/tasks", "bureau").json()["items"][0]["task_id"]
        assert env.call("POST", f"/api/v1/tasks/{task_id}/assign", "bureau", json={"assignee": "officer_eq"}).status_code == 200
        assert env.call("POST", env.alert_url("x-2", "dismiss"), "bureau", json={"reason": PAYLOADS[4] + " 已核实"}).status_code == 200

        exports = {
            "queue": env.call("GET", "/api/v1/exports/queue.xlsx?status=all", "bureau").content,
            "tasks": env.call("GET", "/api/v1/exports/tasks.xlsx", "bureau").content,
            "audit": env.call("GET", "/api/v1/audit.xlsx", "auditor").content,
        }
        for content in exports.values():
            _no_formula(content)
        texts = {name: [c.value for c in _cells(content)] for name, content in exports.items()}
        assert PAYLOADS[1] in texts["queue"] and any(PAYLOADS[2] in v for v in texts["queue"])
        assert PAYLOADS[0] in texts["tasks"]  # the officer's name, as typed
        for payload in PAYLOADS:
            assert payload in texts["audit"], payload  # the failed sign-ins, as typed, inert
        quoted = [c for c in _cells(exports["audit"]) if c.value in PAYLOADS]
        assert quoted and all(c.quotePrefix for c in quoted)  # stays text even after the cell is edited

        # the page route of the auditor gives the same inert workbook
        page = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        client.post("/login", data={"username": "auditor", "password": PASSWORD, "csrf": page, "next": "/"})
        _no_formula(client.get("/audit.xlsx").content)
