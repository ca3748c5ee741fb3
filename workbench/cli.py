"""`hardship serve`: the workbench web server (pages, API, /metrics), with the alert and roster sinks when a broker is
set."""

from __future__ import annotations

from pathlib import Path

import click

from streams.config import BROKER_ENV, DATA_DIR_ENV, DATABASE_ENV, load_settings


@click.command(name="serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8080, show_default=True, type=int, help="port to listen on")
@click.option("--database", envvar=DATABASE_ENV, help=f"SQLAlchemy URL (env {DATABASE_ENV}); default SQLite under the data folder")
@click.option("--broker", envvar=BROKER_ENV, help=f"kafka://host:port (env {BROKER_ENV}); when set, the alert sink and "
              "the outcome publisher run in this process")
@click.option("--data-dir", envvar=DATA_DIR_ENV, type=click.Path(file_okay=False), help=f"data folder (env {DATA_DIR_ENV})")
@click.option("--seed-users", "seed_division", metavar="CODE",
              help="create demo accounts of every role for this 12-digit community code and print their logins")
@click.option("--seed-password", help="password for the demo accounts (default: a random one each)")
@click.option("--holidays", type=click.Path(exists=True, dir_okay=False),
              help="import a holiday file: lines `YYYY-MM-DD holiday|workday [note]`")
@click.option("--divisions", "divisions_file", type=click.Path(exists=True, dir_okay=False),
              help="import a division table: lines `12-digit code,name` (street and community names, 区划名称)")
@click.option("--roster", "roster_file", type=click.Path(exists=True, dir_okay=False),
              help="load a roster file: JSON Lines of hardship.registry records (each distinct version kept; refused "
                   "lines reported with their number and reason)")
@click.option("--no-serve", is_flag=True, help="apply migrations (and seeding, holidays), then exit")
@click.option("--trusted-proxies", envvar="HARDSHIP_TRUSTED_PROXIES", default="",
              help="comma-separated addresses of the reverse proxies whose X-Forwarded-For is believed (env "
                   "HARDSHIP_TRUSTED_PROXIES); default none: the client address is the connection's")
def serve(host: str, port: int, database: str | None, broker: str | None, data_dir: str | None,
          seed_division: str | None, seed_password: str | None, holidays: str | None, divisions_file: str | None,
          roster_file: str | None, no_serve: bool, trusted_proxies: str) -> None:
    """The workbench (工作台): alert queue, triage, visit tasks, audit; pages at /, API at /api/v1, metrics at /metrics."""
    import uvicorn

    from workbench import calendar_store, seed
    from workbench.runner import build
    from workbench.timeutil import utcnow

    settings = load_settings(broker=broker, database=database, data_dir=data_dir)
    app, sink = build(settings.database, settings.broker, settings.data_dir, with_sink=not no_serve)
    wb = app.state.workbench
    click.echo(f"workbench database: {_safe_url(settings.database_url)} (migrations applied)")
    if holidays:
        with wb.sessions() as session:
            count = calendar_store.import_file(session, Path(holidays).read_text(encoding="utf-8"), utcnow())
            session.commit()
        click.echo(f"holiday file: {count} day(s) imported")
    if divisions_file:
        from workbench import division_names

        with wb.sessions() as session:
            try:
                count = division_names.import_file(session, Path(divisions_file).read_text(encoding="utf-8"), utcnow())
            except ValueError as exc:
                raise click.BadParameter(f"{divisions_file}: {exc}", param_hint="--divisions") from None
            session.commit()
        click.echo(f"division table: {count} name(s) imported")
    if roster_file:
        from workbench import roster

        with wb.sessions() as session:
            loaded = roster.load_file(session, Path(roster_file).read_text(encoding="utf-8"), utcnow())
            session.commit()
        click.echo(f"roster file: {loaded['added']} version(s) added, {loaded['known']} already known, "
                   f"{len(loaded['refused'])} line(s) refused")
        for line, reason in loaded["refused"][:20]:
            click.echo(f"  {roster_file}:{line}: {reason}  (correct the line and load the file again)", err=True)
    if seed_division:
        with wb.sessions() as session:
            try:
                logins = seed.seed_demo_users(session, seed_division, utcnow(), seed_password)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--seed-users") from None
            session.commit()
        click.echo("demo accounts (演示账号):")
        for login in logins:
            click.echo(f"  {login['role']:<9} {login['username']:<20} {login['password']}  {login['display_name']}")
    if no_serve:
        return
    roster_sink = app.state.roster_sink
    if sink is not None:
        sink.start()
        click.echo(f"alert sink: reading hardship.alerts from {settings.broker}")
    if roster_sink is not None:
        roster_sink.start()
        click.echo(f"roster sink: reading hardship.registry from {settings.broker}")
    click.echo(f"workbench: http://{host}:{port}/  (API http://{host}:{port}/api/v1/docs, metrics /metrics)")
    try:
        from streams.logs import uvicorn_log_config

        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=uvicorn_log_config(),
                    **proxy_settings(trusted_proxies))
    finally:
        for running in (sink, roster_sink):
            if running is not None:
                running.stop()


def proxy_settings(trusted_proxies: str | None) -> dict:
    """uvicorn's proxy options: X-Forwarded-For is read only from the listed proxies (never from anyone, and not
    from every local process either, which is uvicorn's own default)."""
    proxies = [p.strip() for p in (trusted_proxies or "").split(",") if p.strip()]
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def _safe_url(url: str) -> str:
    """The URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":  # `python -m workbench.cli` (used by runner.start_subprocess)
    serve()
