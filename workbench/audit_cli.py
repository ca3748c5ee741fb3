"""`hardship audit`: the auditor's check of the audit log's hash chain, and the database grants that make the log
append-only for the application's role on PostgreSQL."""

from __future__ import annotations

import re
import sys

import click

from streams.config import DATA_DIR_ENV, DATABASE_ENV, load_settings

_ROLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Tables the application writes like any other; the audit log and its head row are treated apart.
AUDIT_TABLE, HEAD_TABLE = "wb_audit", "wb_audit_head"


def grant_statements(app_role: str, schema: str = "public") -> list[str]:
    """The GRANTs of the application's role: read and write the workbench's tables, but only INSERT and SELECT
    the audit log. The role must not own the tables (an owner may TRUNCATE, ALTER and DROP whatever it owns)."""
    from workbench.tables import Base

    if not _ROLE_RE.match(app_role) or not _ROLE_RE.match(schema):
        raise click.BadParameter("role and schema names: lower-case letters, digits and underscores")
    statements = [f'GRANT USAGE ON SCHEMA "{schema}" TO "{app_role}"',
                  f'REVOKE CREATE ON SCHEMA "{schema}" FROM "{app_role}"']
    for table in Base.metadata.sorted_tables:
        name = f'"{schema}"."{table.name}"'
        statements.append(f'REVOKE ALL ON {name} FROM "{app_role}"')
        if table.name == AUDIT_TABLE:
            statements.append(f'GRANT SELECT, INSERT ON {name} TO "{app_role}"')
        elif table.name == HEAD_TABLE:
            statements.append(f'GRANT SELECT, UPDATE ON {name} TO "{app_role}"')
        else:
            statements.append(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO "{app_role}"')
    statements += [f'REVOKE ALL ON "{schema}"."{AUDIT_TABLE}" FROM PUBLIC',
                   f'GRANT SELECT ON "{schema}"."alembic_version" TO "{app_role}"',
                   f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{app_role}"']
    return statements


@click.group(name="audit", context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """The audit log (审计日志): verify its hash chain; grant the application's database role what it needs."""


@audit.command(name="verify")
@click.option("--database", envvar=DATABASE_ENV, help=f"SQLAlchemy URL (env {DATABASE_ENV}); default SQLite under the "
              "data folder")
@click.option("--data-dir", envvar=DATA_DIR_ENV, type=click.Path(file_okay=False), help=f"data folder (env {DATA_DIR_ENV})")
@click.option("--schema", help="PostgreSQL schema of the workbench (default: the role's search_path)")
@click.option("--expect-head", metavar="HASH", help="a head hash printed by an earlier verify: it must still be in the "
              "chain (detects rows cut off the end)")
def verify_command(database: str | None, data_dir: str | None, schema: str | None, expect_head: str | None) -> None:
    """Walk the whole audit log and check every row against the hash chain; exit 1 at the first broken row.

    Prints the number of rows and the head hash: note the head hash outside the system (a signed report, a
    ticket) and give it back with --expect-head next time, so that rows cut off the end are detected too.
    """
    from workbench import audit as audit_log
    from workbench import db

    settings = load_settings(database=database, data_dir=data_dir)
    engine = db.make_engine(settings.database_url, schema=schema)
    try:
        with db.session_factory(engine)() as session:
            verdict = audit_log.verify(session, expect_head=expect_head)
    finally:
        engine.dispose()
    if verdict.broken_id is not None:
        click.echo(f"审计日志校验失败 AUDIT LOG BROKEN at row {verdict.broken_id} (after {verdict.rows - 1} good rows): "
                   f"{verdict.problem}", err=True)
        sys.exit(1)
    if verdict.head_found is False:
        click.echo(f"审计日志校验失败 AUDIT LOG BROKEN: the noted head {expect_head} is no longer in the chain "
                   "(rows were cut off or rewritten)", err=True)
        sys.exit(1)
    click.echo(f"审计日志完整 audit log intact: {verdict.rows} rows, head {verdict.head}")


@audit.command(name="grant")
@click.option("--database", envvar=DATABASE_ENV, required=True,
              help="SQLAlchemy URL of the tables' OWNER (the migration role), PostgreSQL only")
@click.option("--app-role", required=True, help="the role the workbench runs as (created beforehand, not the owner)")
@click.option("--schema", default="public", show_default=True, help="schema of the workbench's tables")
@click.option("--print-only", is_flag=True, help="print the statements instead of running them")
def grant_command(database: str, app_role: str, schema: str, print_only: bool) -> None:
    """Grant the application's role what the workbench needs and no more: on wb_audit only INSERT and SELECT.

    Run after `hardship serve --no-serve` has applied the migrations as the owner; then start the workbench
    with a database URL of the application's role. See docs/security.md.
    """
    statements = grant_statements(app_role, schema)
    if print_only:
        click.echo(";\n".join(statements) + ";")
        return
    from sqlalchemy import text

    from workbench import db

    if not database.startswith("postgresql"):
        raise click.BadParameter("grants exist on PostgreSQL only; SQLite relies on its triggers and the hash chain",
                                 param_hint="--database")
    engine = db.make_engine(database, schema=schema)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    click.echo(f"granted {app_role}: workbench tables read/write, {AUDIT_TABLE} INSERT and SELECT only")
