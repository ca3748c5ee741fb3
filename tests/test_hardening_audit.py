"""The audit log cannot be rewritten unseen: the hash chain and `hardship audit verify`, SQLite's REPLACE refused, on
PostgreSQL an application role that may only INSERT and SELECT it, and refused reaches into other divisions audited.

Issue 13, must fix 3. The PostgreSQL server is shared: roles get names unique to the run and are dropped after.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.workbench_fixtures import DIVISION, env_on, make_alert, postgres_schema, postgres_url
from workbench.audit_cli import audit as audit_cli


def _workflow(env) -> None:  # noqa: ANN001
    env.ingest(make_alert("au-1"), make_alert("au-2", kind="should_exit"))
    assert env.call("POST", env.alert_url("au-1", "confirm"), "bureau").status_code == 200
    assert env.call("POST", env.alert_url("au-2", "dismiss"), "bureau", json={"reason": "经核实收入已计入"}).status_code == 200
    assert env.client.post("/api/v1/token", json={"username": "=cmd|' /C calc'!A0", "password": "x" * 10}).status_code == 401
    assert env.call("GET", "/api/v1/exports/queue.xlsx", "street").status_code == 200


def _verify(url: str, schema: str | None = None, *extra: str):  # noqa: ANN202
    args = ["verify", "--database", url] + (["--schema", schema] if schema else []) + list(extra)
    return CliRunner().invoke(audit_cli, args, catch_exceptions=False)


def test_verify_has_help():
    result = CliRunner().invoke(audit_cli, ["verify", "--help"])
    assert result.exit_code == 0 and "--expect-head" in result.output
    assert CliRunner().invoke(audit_cli, ["grant", "--help"]).exit_code == 0


def test_sqlite_chain_verifies_and_every_rewrite_is_caught(tmp_path):
    with env_on("sqlite", tmp_path) as env:
        _workflow(env)
        url = str(env.wb.engine.url)
        first = _verify(url)
        assert first.exit_code == 0, first.output
        head = first.output.split("head ")[1].split()[0]
        engine = env.wb.engine
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM wb_audit")).scalar()
            assert rows >= 6
            for statement in ("UPDATE wb_audit SET actor = 'x' WHERE id = 1", "DELETE FROM wb_audit WHERE id = 1",
                              "INSERT OR REPLACE INTO wb_audit (id, at, actor, action) "
                              "VALUES (1, '2026-09-18 02:00:00', 'someone', 'login')"):
                with pytest.raises(DBAPIError, match="append-only"):
                    conn.execute(text(statement))
                conn.rollback()
        assert _verify(url, None, "--expect-head", head).exit_code == 0
        # someone with the file drops the triggers and rewrites: the chain shows it
        with engine.begin() as conn:
            for trigger in ("wb_audit_no_update", "wb_audit_no_delete", "wb_audit_no_replace"):
                conn.execute(text(f"DROP TRIGGER {trigger}"))
            conn.execute(text("INSERT OR REPLACE INTO wb_audit (id, at, actor, role, action, prev_hash, row_hash) "
                              "SELECT id, at, 'someone_else', role, action, prev_hash, row_hash FROM wb_audit WHERE id = 2"))
        broken = _verify(url)
        assert broken.exit_code == 1 and "row 2" in broken.output and "changed" in broken.output
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM wb_audit WHERE id = 2"))
        assert "row 3" in _verify(url).output
        with engine.begin() as conn:  # cutting rows off the end is caught by the head noted earlier
            conn.execute(text("DELETE FROM wb_audit WHERE id >= 2"))
        cut = _verify(url, None, "--expect-head", head)
        assert cut.exit_code == 1 and "no longer in the chain" in cut.output


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_writers_never_fork_the_chain(backend, tmp_path):
    from workbench import audit

    with env_on(backend, tmp_path) as env:
        errors: list[BaseException] = []

        def write(worker: int) -> None:
            try:
                for i in range(15):
                    with env.wb.sessions() as session:
                        audit.record(session, f"writer{worker}", "login", datetime.now(UTC) + timedelta(seconds=i),
                                     target_type="user", target_id=f"writer{worker}")
                        session.commit()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        with env.wb.sessions() as session:
            verdict = audit.verify(session)
        assert verdict.ok and verdict.rows == 60, verdict


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_refused_reach_into_another_division_is_audited(backend, tmp_path):
    with env_on(backend, tmp_path) as env:
        env.ingest(make_alert("scope-1"))
        assert env.call("POST", env.alert_url("scope-1", "confirm"), "bureau").status_code == 200
        task_id = env.call("GET", "/api/v1/tasks", "bureau").json()["items"][0]["task_id"]
        assert env.call("GET", env.alert_url("scope-1"), "bureau_far").status_code == 404
        assert env.call("POST", env.alert_url("scope-1", "reveal"), "officer_far").status_code == 404
        assert env.call("GET", f"/api/v1/tasks/{task_id}", "street_other").status_code == 404
        assert env.call("GET", "/api/v1/alerts/999999", "bureau_far").status_code == 404  # missing: nothing to audit
        items = env.call("GET", "/api/v1/audit?action=access_refused", "auditor").json()["items"]
        tried = sorted((i["actor"], i["target_type"], i["division_code"]) for i in items)
        assert tried == [("bureau_far", "alert", DIVISION), ("officer_far", "alert", DIVISION),
                         ("street_other", "task", DIVISION)]
        assert all(i["action_label"] == "越权访问被拒" for i in items)
        assert env.call("GET", "/api/v1/audit?action=access_refused", "auditor_far").json()["items"] == []


# --- PostgreSQL: the application's role may only INSERT and SELECT the audit log ---------------------------


def test_postgres_app_role_cannot_rewrite_the_audit_log(tmp_path):
    from workbench.app import create_app

    admin_url = postgres_url()
    role = f"wb_app_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url)
    try:
        with postgres_schema() as (url, schema):
            from workbench import db

            owner_engine = db.make_engine(url, schema=schema)
            db.upgrade(owner_engine)  # the owner (here the server's admin) applies the migrations
            with owner_engine.begin() as conn:
                conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
            granted = CliRunner().invoke(audit_cli, ["grant", "--database", url, "--app-role", role, "--schema", schema],
                                         catch_exceptions=False)
            assert granted.exit_code == 0, granted.output
            app_url = admin_url.replace("postgres@", f"{role}@", 1)
            assert app_url != admin_url
            # the workbench runs as the application's role: migrations at head, sign-in, a decision, all audited
            from tests.workbench_fixtures import USERS, password_hash
            from workbench.tables import User

            with db.session_factory(owner_engine)() as session:
                for username, user_role, scopes, staff_id in USERS[:3]:
                    session.add(User(username=username, display_name=username, role=user_role, scopes=scopes,
                                     staff_id=staff_id, password_hash=password_hash(), active=True,
                                     created_at=datetime.now(UTC)))
                session.commit()
            app = create_app(app_url, schema=schema)
            from fastapi.testclient import TestClient

            from tests.workbench_fixtures import PASSWORD

            with TestClient(app) as client:
                from workbench.alerts import upsert_alert

                with app.state.workbench.sessions() as session:
                    upsert_alert(session, make_alert("pg-role-1"), datetime.now(UTC))
                    session.commit()
                token = client.post("/api/v1/token", json={"username": "bureau", "password": PASSWORD}).json()
                headers = {"Authorization": f"Bearer {token['access_token']}"}
                assert client.post("/api/v1/alerts/1/confirm", headers=headers).status_code == 200
            app_engine = app.state.workbench.engine
            with app_engine.connect() as conn:
                assert conn.execute(text("SELECT current_user")).scalar() == role
                assert conn.execute(text("SELECT count(*) FROM wb_audit")).scalar() >= 3
                for statement in ("TRUNCATE wb_audit", "ALTER TABLE wb_audit DISABLE TRIGGER wb_audit_append_only",
                                  "ALTER TABLE wb_audit DISABLE TRIGGER ALL",
                                  "DROP TRIGGER wb_audit_append_only ON wb_audit",
                                  "UPDATE wb_audit SET actor = 'someone'", "DELETE FROM wb_audit",
                                  "DROP TABLE wb_audit", "ALTER TABLE wb_audit OWNER TO CURRENT_USER"):
                    with pytest.raises(DBAPIError, match="permission denied|must be owner"):
                        conn.execute(text(statement))
                    conn.rollback()
                # what it may do, INSERT, cannot forge history: a row off the chain is caught
                conn.execute(text("INSERT INTO wb_audit (at, actor, action, prev_hash, row_hash) "
                                  "VALUES (now(), 'forger', 'login', :h, :h)"), {"h": "f" * 64})
                conn.commit()
            app_engine.dispose()
            forged = _verify(url, schema)
            assert forged.exit_code == 1 and "does not follow" in forged.output
            owner_engine.dispose()
    finally:
        with admin.begin() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
            if exists:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
                conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_postgres_owner_rewrite_is_detected_by_verify(tmp_path):
    from workbench import audit, db

    with postgres_schema() as (url, schema):
        engine = db.make_engine(url, schema=schema)
        db.upgrade(engine)
        with db.session_factory(engine)() as session:
            for n in range(5):
                audit.record(session, f"user{n}", "login", datetime.now(UTC), target_type="user", target_id=f"user{n}")
            session.commit()
        assert _verify(url, schema).exit_code == 0
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE wb_audit DISABLE TRIGGER wb_audit_append_only"))
            conn.execute(text("UPDATE wb_audit SET actor = 'nobody' WHERE id = 3"))
            conn.execute(text("ALTER TABLE wb_audit ENABLE TRIGGER wb_audit_append_only"))
        result = _verify(url, schema)
        assert result.exit_code == 1 and "row 3" in result.output
        with engine.begin() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("TRUNCATE wb_audit"))  # the owner's TRUNCATE is refused by the trigger too
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_rows_written_before_the_chain_are_chained_by_the_migration(backend, tmp_path):
    from workbench import audit, db

    def check(engine) -> None:  # noqa: ANN001
        db.upgrade(engine, "0001")
        with engine.begin() as conn:
            for n in range(3):
                conn.execute(text("INSERT INTO wb_audit (at, actor, action, detail) VALUES (:at, :who, 'login', :d)"),
                             {"at": datetime(2026, 9, 1, 8, n, 30, 123456, tzinfo=UTC) if backend == "postgres"
                              else f"2026-09-01 08:0{n}:30.123456", "who": f"old{n}", "d": '{"k": "值"}'})
        db.upgrade(engine)
        with db.session_factory(engine)() as session:
            audit.record(session, "new", "login", datetime.now(UTC))
            session.commit()
            verdict = audit.verify(session)
        assert verdict.ok and verdict.rows == 4, verdict

    if backend == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        check(engine)
        engine.dispose()
        return
    with postgres_schema() as (url, schema):
        engine = db.make_engine(url, schema=schema)
        check(engine)
        engine.dispose()
