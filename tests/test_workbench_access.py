"""The access matrix: each role in each division against each endpoint; nothing outside a user's divisions, nothing unmasked.

Expectations are written out here by hand (the table below), not derived from workbench.access.
"""

from __future__ import annotations

import re

import pytest

from tests.workbench_fixtures import (
    DIVISION,
    NEIGHBOUR,
    OTHER_COUNTY,
    OTHER_STREET,
    USERS,
    env_on,
    make_alert,
    resident,
)

DIVISIONS = {"home": DIVISION, "neighbour": NEIGHBOUR, "other_street": OTHER_STREET, "other_county": OTHER_COUNTY}
# which of the divisions above each user covers
COVERS = {
    "bureau": {"home", "neighbour", "other_street"}, "street": {"home", "neighbour"}, "officer_a": {"home"},
    "officer_b": {"home"}, "verifier": {"home", "neighbour", "other_street"}, "auditor": {"home", "neighbour", "other_street"},
    "admin": {"home", "neighbour", "other_street"}, "street_other": {"other_street"}, "officer_other": {"other_street"},
    "bureau_far": {"other_county"}, "auditor_far": {"other_county"}, "officer_far": {"other_county"},
    "verifier_far": {"other_county"}, "admin_far": {"other_county"},
}
ROLE = {u[0]: u[1] for u in USERS}
READ_ALERT = {"bureau", "street", "officer", "verifier", "auditor"}
TRIAGE = {"bureau", "street"}
REVEAL = {"bureau", "street", "officer", "verifier"}
PHONE = "13912345678"
CARD = "6222021234567890001"
ROSTER_PHONE = "13700001234"  # the roster's contact phone (名册联系电话): revealed only to the bureau and the task holder
RID_RE = re.compile(r"420106\d{8}\d{3}[\dX]|420111\d{8}\d{3}[\dX]")


def household(place: str, user: str, n: int) -> str:
    return "person:" + resident(abs(hash((place, user, n))) % 1000, )


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def matrix(request, tmp_path_factory):
    with env_on(request.param, tmp_path_factory.mktemp("matrix")) as env:
        alerts = {}
        for place, code in DIVISIONS.items():
            area = code[:6]
            for user in COVERS:
                for action in ("confirm", "dismiss", "read"):
                    rid = resident(len(alerts) % 1000).replace("420106", area, 1)
                    from models.resident_id import check_digit

                    rid = rid[:17] + check_digit(rid[:17])
                    # alert ids as scoring/household.py makes them: they hold the resident ID
                    alert = make_alert(f"person:{rid}/missed_coverage/1", division=code, household="person:" + rid)
                    alerts[(action, user, place)] = (alert, rid)
                    env.ingest(alert)
        # one task per place, confirmed by the bureau of that county, visited with a phone and a card
        tasks = {}
        for place, code in DIVISIONS.items():
            rid = resident(900 + len(tasks)).replace("420106", code[:6], 1)
            from models.resident_id import check_digit

            rid = rid[:17] + check_digit(rid[:17])
            env.ingest(make_alert(f"task-{place}", division=code, household="person:" + rid))
            boss = "bureau" if place != "other_county" else "bureau_far"
            task = env.call("POST", env.alert_url(f"task-{place}", "confirm"), boss).json()["task"]
            tasks[place] = (task, rid)
        # a roster household per place (members, address, contact phone), with an alert and an open task
        from models.resident_id import check_digit
        from workbench.roster import upsert_roster

        with env.wb.sessions() as session:
            for n, (place, code) in enumerate(DIVISIONS.items()):
                ids = [resident(960 + 2 * n + k).replace("420106", code[:6], 1) for k in (0, 1)]
                ids = [i[:17] + check_digit(i[:17]) for i in ids]
                upsert_roster(session, {"household_id": f"hh-roster-{place}", "division_code": code, "coverage": "none",
                                        "monthly_income_yuan": 900, "address": f"{place}路 1 号", "contact_phone": ROSTER_PHONE,
                                        "members": [{"person_id": ids[0], "relation": "head"},
                                                    {"person_id": ids[1], "relation": "spouse"}]}, env.clock())
                tasks[f"roster-{place}"] = (None, ids[1])
                # and one with no alert at all: its file is the roster alone (/households/{id})
                alone = [resident(980 + n).replace("420106", code[:6], 1)]
                upsert_roster(session, {"household_id": f"hh-alone-{place}", "division_code": code, "coverage": "dibao",
                                        "monthly_income_yuan": 700, "address": f"{place}路 2 号", "contact_phone": ROSTER_PHONE,
                                        "members": [{"person_id": alone[0][:17] + check_digit(alone[0][:17]),
                                                     "relation": "head"}]}, env.clock())
            session.commit()
        for place, code in DIVISIONS.items():
            env.ingest(make_alert(f"roster-{place}", division=code, household=f"hh-roster-{place}"))
            boss = "bureau" if place != "other_county" else "bureau_far"
            task = env.call("POST", env.alert_url(f"roster-{place}", "confirm"), boss).json()["task"]
            tasks[f"roster-{place}"] = (task, tasks[f"roster-{place}"][1])
        from workbench.division_names import import_file

        with env.wb.sessions() as session:  # a name for every place and its street (filters and suggestions)
            import_file(session, "\n".join(f"{code},{place}社区\n{code[:9]}000,{place}街道"
                                            for place, code in DIVISIONS.items()), env.clock())
            session.commit()
        yield env, alerts, tasks


def leaks(body: str) -> list[str]:
    return RID_RE.findall(body) + [x for x in (PHONE, CARD, ROSTER_PHONE) if x in body]


@pytest.mark.parametrize("user", list(COVERS))
@pytest.mark.parametrize("place", list(DIVISIONS))
def test_roster_endpoints(matrix, user, place):
    """The roster in the household file (members, address, the phone masked) has the alert's scope; the phone in full
    only for the bureau and the officer holding the household's open task, audited; search by a member's ID."""
    env, _, tasks = matrix
    role, inside = ROLE[user], place in COVERS[user]
    task, member = tasks[f"roster-{place}"]
    readable = role in READ_ALERT and role != "verifier" and inside
    hidden = not inside or role == "verifier"
    file = env.call("GET", env.alert_url(f"roster-{place}", "household"), user)
    assert file.status_code == (200 if readable else 404 if hidden else 403), file.text
    assert not leaks(file.text)
    if readable:
        roster = file.json()["roster"]
        assert roster["address"] == f"{place}路 1 号" and roster["contact_phone"] == "137****1234"
        assert [m["relation_label"] for m in roster["members"]] == ["户主", "配偶"]
    found = env.call("POST", "/api/v1/households/search", user, json={"q": member})
    if role in READ_ALERT:
        assert found.status_code == 200 and len(found.json()["items"]) == (1 if readable else 0), found.text
    else:
        assert found.status_code == 403
    assert not leaks(found.text)
    # a roster household with no alert: the same scope, the roster alone
    alone = env.call("GET", f"/api/v1/households/hh-alone-{place}", user)
    assert alone.status_code == (200 if readable else 404 if hidden else 403), alone.text
    assert not leaks(alone.text)
    if readable:
        assert alone.json()["roster"]["address"] == f"{place}路 2 号" and alone.json()["alerts"] == []
    alone_found = env.call("POST", "/api/v1/households/search", user, json={"q": f"hh-alone-{place}"})
    assert alone_found.status_code == (200 if role in READ_ALERT else 403)
    if role in READ_ALERT:
        assert len(alone_found.json()["items"]) == (1 if readable else 0), alone_found.text
    revealed = env.call("POST", env.alert_url(f"roster-{place}", "household/reveal"), user)
    allowed = inside and (role == "bureau" or task["assignee"] == user)
    assert revealed.status_code == (200 if allowed else 404 if hidden else 403), revealed.text
    if allowed:
        assert revealed.json()["contact_phone"] == ROSTER_PHONE
    else:
        assert not leaks(revealed.text)


@pytest.mark.parametrize("user", list(COVERS))
@pytest.mark.parametrize("place", list(DIVISIONS))
def test_alert_endpoints(matrix, user, place):
    env, alerts, _ = matrix
    role, inside = ROLE[user], place in COVERS[user]
    alert, rid = alerts[("read", user, place)]
    got = env.call("GET", env.alert_url(alert['alert_id']), user)
    readable = role in READ_ALERT and role != "verifier" and inside  # a verifier reads filed-relative checks only
    hidden = not inside or role == "verifier"  # outside the divisions, or a kind the role never sees: 404
    assert got.status_code == (200 if readable else 404 if hidden else 403), got.text
    assert not leaks(got.text)
    listing = env.call("GET", "/api/v1/alerts?status=all&limit=1000", user)
    if role in {"bureau", "street", "verifier", "auditor"}:
        codes = {i["division_code"] for i in listing.json()["items"]}
        assert codes <= {DIVISIONS[p] for p in COVERS[user]}
        numbers = {i["number"] for i in listing.json()["items"]}
        assert (env.number(alert["alert_id"]) in numbers) == (readable and role != "verifier")
        assert not leaks(listing.text)
    else:
        assert listing.status_code == 403
    # the household file and the search by resident ID: the same scope as the alert
    file = env.call("GET", env.alert_url(alert['alert_id'], "household"), user)
    assert file.status_code == (200 if readable else 404 if hidden else 403), file.text
    assert not leaks(file.text)
    found = env.call("POST", "/api/v1/households/search", user, json={"q": rid})
    if role in READ_ALERT:
        assert found.status_code == 200 and len(found.json()["items"]) == (1 if readable else 0), found.text
    else:
        assert found.status_code == 403
    assert not leaks(found.text)
    # confirm
    conf = alerts[("confirm", user, place)][0]
    res = env.call("POST", env.alert_url(conf['alert_id'], "confirm"), user)
    expected = 200 if role in TRIAGE and inside else 404 if hidden else 403
    assert res.status_code == expected, (res.status_code, res.text)
    assert not leaks(res.text)
    # dismiss
    dis = alerts[("dismiss", user, place)][0]
    res = env.call("POST", env.alert_url(dis['alert_id'], "dismiss"), user, json={"reason": "经核实家庭收入未发生变化"})
    assert res.status_code == expected
    # reveal
    res = env.call("POST", env.alert_url(alert['alert_id'], "reveal"), user)
    if role in REVEAL and role != "verifier" and inside:
        assert res.status_code == 200 and res.json()["household_id"] == "person:" + rid
    else:
        assert res.status_code in (403, 404) and not leaks(res.text)


@pytest.mark.parametrize("user", list(COVERS))
@pytest.mark.parametrize("place", list(DIVISIONS))
def test_task_endpoints(matrix, user, place):
    env, _, tasks = matrix
    role, inside = ROLE[user], place in COVERS[user]
    task, rid = tasks[place]
    tid = task["task_id"]
    assigned_here = task["assignee"] == user
    read = env.call("GET", f"/api/v1/tasks/{tid}", user)
    may_read = inside and role in {"bureau", "street", "auditor"} or assigned_here
    assert read.status_code == (200 if may_read else 403 if role in {"admin"} and inside else 404), read.text
    assert not leaks(read.text)
    listing = env.call("GET", "/api/v1/tasks", user)
    if role == "admin":
        assert listing.status_code == 403
    else:
        assert (f'"task_id":{tid},' in listing.text) == may_read
        assert not leaks(listing.text)
    extend = env.call("POST", f"/api/v1/tasks/{tid}/extend", user, json={"reason": "有争议，需补充材料"})
    assert extend.status_code == (200 if inside and role in TRIAGE and not task.get("_extended") else
                                  409 if inside and role in TRIAGE else 403 if (inside and role in {"auditor", "admin"})
                                  or assigned_here else 404), extend.text
    if extend.status_code == 200:
        task["_extended"] = True
    place_it = env.call("POST", f"/api/v1/tasks/{tid}/place", user, json={"community": DIVISIONS[place]})
    assert place_it.status_code == (409 if inside and role in TRIAGE else 403 if (inside and role in {"auditor", "admin"})
                                    or assigned_here else 404), place_it.text
    visit = env.call("POST", f"/api/v1/tasks/{tid}/visit", user, json={
        "method": "letter_evidence", "finding": "经信函索证，情况属实", "result": "confirmed",
        "contact_phone": PHONE, "bank_card": CARD})
    if assigned_here and not task.get("_visited"):
        assert visit.status_code == 200, visit.text
        task["_visited"] = True
    else:
        assert visit.status_code in (403, 404, 409), visit.text
    assert not leaks(visit.text)
    for who in ("bureau", "street", "auditor", "officer_a", "officer_b"):  # masked for everyone afterwards
        assert not leaks(env.call("GET", "/api/v1/tasks", who).text)
        assert not leaks(env.call("GET", "/api/v1/exports/tasks.xlsx", who).text)


@pytest.mark.parametrize("user", list(COVERS))
def test_reports_audit_and_admin(matrix, user):
    env, _, _ = matrix
    role = ROLE[user]
    for path in ("/api/v1/stats", "/api/v1/stats/places", "/api/v1/exports/queue.xlsx", "/api/v1/exports/tasks.xlsx"):
        assert env.call("GET", path, user).status_code == (200 if role in {"bureau", "street", "auditor"} else 403)
    assert env.call("GET", "/api/v1/exports/training.zip", user).status_code == (200 if role == "bureau" else 403)
    places = env.call("GET", "/api/v1/stats/places", user)
    if places.status_code == 200:
        assert {r["key"] for r in places.json()["communities"]} <= {DIVISIONS[p] for p in COVERS[user]}
    register = env.call("GET", "/api/v1/filings", user)
    assert register.status_code == (200 if role in {"bureau", "street", "verifier", "auditor"} else 403)
    if register.status_code == 200:
        assert all(any(i["division_code"].startswith(DIVISIONS[p][:9]) for p in COVERS[user])
                   for i in register.json()["items"])
    filed = env.call("PUT", f"/api/v1/filings/F-{user}", user, json={
        "role": "social_assistance_staff", "division_code": DIVISION, "name": "备案人", "relatives": []})
    assert filed.status_code == (200 if role == "bureau" and "home" in COVERS[user] else 403), filed.text
    digest = env.call("GET", "/api/v1/digest", user)
    assert digest.status_code == (403 if role == "admin" else 200) and not leaks(digest.text)
    audit = env.call("GET", "/api/v1/audit", user)
    assert audit.status_code == (200 if role == "auditor" else 403)
    if role == "auditor":
        codes = {e["division_code"] for e in audit.json()["items"]} - {None}
        assert codes and all(any(c.startswith(DIVISIONS[p][:6]) for p in COVERS[user]) for c in codes)
        assert not leaks(audit.text)
        assert env.call("GET", "/api/v1/audit.xlsx", user).status_code == 200
    assert env.call("GET", "/api/v1/users", user).status_code == (200 if role == "admin" else 403)
    new = {"username": f"new-{user}", "display_name": "新用户", "role": "officer", "scopes": [DIVISION],
           "password": "a-long-password-1"}
    created = env.call("POST", "/api/v1/users", user, json=new)
    inside = "home" in COVERS[user]
    assert created.status_code == (201 if role == "admin" and inside else 403), created.text
    assert env.call("PUT", "/api/v1/calendar/2027-02-08", user,
                    json={"working": False, "note": "春节"}).status_code == (200 if role == "admin" else 403)
    # division names: each user sees (and may filter by) the names of their own divisions only
    named = env.call("GET", "/api/v1/divisions?level=community", user).json()["items"]
    assert {n["name"] for n in named} == {f"{p}社区" for p in COVERS[user]}
    for place, code in DIVISIONS.items():
        renamed = env.call("PUT", f"/api/v1/divisions/{code}", user, json={"name": f"{place}社区"})
        assert renamed.status_code == (200 if role == "admin" and place in COVERS[user] else 403), renamed.text
        if role in {"bureau", "street", "auditor"}:
            by_name = env.call("GET", "/api/v1/alerts", user, params={"community": f"{place}社区", "status": "all"})
            assert by_name.status_code == (200 if place in COVERS[user] else 422), by_name.text
            assert not leaks(by_name.text)


def test_no_token_no_data(matrix):
    env, _, _ = matrix
    for path in ("/api/v1/alerts", "/api/v1/tasks", "/api/v1/audit", "/api/v1/stats", "/api/v1/alerts/1"):
        assert env.client.get(path).status_code == 401
        assert env.client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 401


PAGE_ROLES = {
    "/queue": {"bureau", "street", "verifier", "auditor"},
    "/tasks": {"bureau", "street", "officer", "verifier", "auditor"},
    "/stats": {"bureau", "street", "auditor"},
    "/audit": {"auditor"},
    "/admin/users": {"admin"},
    "/admin/calendar": {"admin"},
    "/admin/divisions": {"admin"},
    "/households": {"bureau", "street", "officer", "verifier", "auditor"},
    "/digest": {"bureau", "street", "officer", "verifier", "auditor"},
    "/filings": {"bureau", "street", "verifier", "auditor"},
}


@pytest.mark.parametrize("user", list(COVERS))
def test_pages_matrix(matrix, user):
    """The same rules through the pages (session cookie): lists, alert and task pages, in and out of the divisions."""
    from fastapi.testclient import TestClient

    from tests.workbench_fixtures import PASSWORD

    env, alerts, tasks = matrix
    role = ROLE[user]
    with TestClient(env.app) as client:
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token},
                           follow_redirects=False).status_code == 303
        for path, roles in PAGE_ROLES.items():
            page = client.get(path)
            assert page.status_code == (200 if role in roles else 403), (path, page.status_code)
            assert not leaks(page.text)
        for place in DIVISIONS:
            inside = place in COVERS[user]
            alert, _ = alerts[("read", user, place)]
            page = client.get(env.page_url(alert['alert_id']))
            readable = role in READ_ALERT and role != "verifier" and inside
            assert page.status_code == (200 if readable else 404 if not inside or role == "verifier" else 403)
            assert not leaks(page.text)
            task, _ = tasks[place]
            page = client.get(f"/tasks/{task['task_id']}")
            may_read = inside and role in {"bureau", "street", "auditor"} or task["assignee"] == user
            assert page.status_code == (200 if may_read else 403 if role == "admin" and inside else 404)
            assert not leaks(page.text)
            # the roster household's file and task page: address shown, members and phone masked, the same scope
            page = client.get(env.page_url(f"roster-{place}", "household"))
            assert page.status_code == (200 if readable else 404 if not inside or role == "verifier" else 403)
            assert not leaks(page.text) and (f"{place}路 1 号" in page.text) == readable
            task, _ = tasks[f"roster-{place}"]
            page = client.get(f"/tasks/{task['task_id']}")
            may_read = inside and role in {"bureau", "street", "auditor"} or task["assignee"] == user
            assert page.status_code == (200 if may_read else 403 if role == "admin" and inside else 404)
            assert not leaks(page.text) and ('id="reveal-phone"' in page.text) == (
                may_read and (role == "bureau" or task["assignee"] == user))
