"""`hardship connector ...`: the departmental feeds (file drop, HTTP push, SQL polling, roster, filings).

Every subcommand takes --broker (or HARDSHIP_BROKER), --state-dir for cursors, ledgers and reports
(default: HARDSHIP_DATA_DIR/connectors, else ./data/connectors) and --metrics-port for Prometheus.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

import click

from streams.config import BROKER_ENV, DATA_DIR_ENV

log = logging.getLogger("connectors")

NEED_BROKER = (
    "a Kafka broker is needed: pass --broker kafka://host:port or set HARDSHIP_BROKER. "
    "For a local one, run `hardship demo` (it prints its broker address) and use that address."
)


def _state_dir(value: str | None) -> Path:
    if value:
        return Path(value)
    return Path(os.environ.get(DATA_DIR_ENV) or Path.cwd() / "data") / "connectors"


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def handler(signum, frame):  # noqa: ARG001
        log.info("signal %s: stopping after the current chunk", signum)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop


def _connect(broker: str | None):
    if not broker:
        raise click.ClickException(NEED_BROKER)
    from connectors.kafka_out import KafkaOut, SendFailed
    from streams.kafka_client import KafkaConfigError
    from streams.secrets import SecretError

    try:
        return KafkaOut(broker)
    except (KafkaConfigError, SecretError) as exc:
        raise click.ClickException(f"{exc} (Kafka client settings: HARDSHIP_KAFKA_*, see docs/operations.md)") from None
    except SendFailed as exc:
        raise click.ClickException(f"{exc}. {NEED_BROKER}") from None


def common(func):
    """--broker, --state-dir, --metrics-port, --log-level."""
    func = click.option("--log-level", default="INFO", show_default=True,
                        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
                        help="logging level (personal IDs are never logged unmasked)")(func)
    func = click.option("--metrics-port", type=int, default=None, envvar="HARDSHIP_CONNECTOR_METRICS_PORT",
                        help="serve Prometheus metrics (hardship_connector_*) on this port")(func)
    func = click.option("--state-dir", type=click.Path(file_okay=False), default=None,
                        help="cursors, file ledger and reports [default: $HARDSHIP_DATA_DIR/connectors or ./data/connectors]")(func)
    func = click.option("--broker", envvar=BROKER_ENV, default=None,
                        help="kafka://host:port[,host:port] (env HARDSHIP_BROKER)")(func)
    return func


def _setup(log_level: str, metrics_port: int | None) -> None:
    from models.privacy import install_log_masking
    from streams.logs import configure_logging

    install_log_masking()  # every record masked (resident IDs, phones, cards) before any handler sees it
    configure_logging(log_level)  # text, or JSON lines with HARDSHIP_LOG_FORMAT=json
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from connectors.metrics import metrics_host, serve_metrics

    serve_metrics(metrics_port)
    if metrics_port:
        log.info("metrics on http://%s:%d/metrics", metrics_host(), metrics_port)


class _Progress:
    """A progress bar per large file on a terminal; log lines otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.bar = None
        self.tasks: dict[str, int] = {}
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), transient=False)
            self.bar.start()

    def __call__(self, name: str, total: int | None, done: int) -> None:
        if self.bar is None:
            log.info("%s: %d of %s rows acknowledged", name, done, total if total is not None else "?")
            return
        task = self.tasks.get(name)
        if task is None:
            task = self.tasks[name] = self.bar.add_task(name, total=total)
        self.bar.update(task, completed=done, total=max(total or 0, done))

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def connector() -> None:
    """Departmental feeds into the stream (部门数据接入): file drop, HTTP push, SQL polling, roster, filings.

    Every record is checked against the wire contract; a bad one goes to hardship.deadletter with
    its source, file and row (or request and item) and the reason, and the feed goes on. Cursors
    survive a crash: what the broker acknowledged is not sent again (at most the last chunk is).
    """


def _file_like(kind: str, default_mappings: tuple[str, ...], stream_filter: str | None):
    @common
    @click.option("--root", required=True, type=click.Path(file_okay=False),
                  help="drop folder; each department has its subfolder ROOT/<mapping name>/")
    @click.option("--mapping", "mappings", multiple=True,
                  help=f"bundled mapping name or YAML file (repeatable) [default: {', '.join(default_mappings)}]")
    @click.option("--once", is_flag=True, help="ship the files there now and exit (otherwise keep watching)")
    @click.option("--interval", default=2.0, show_default=True, help="seconds between scans of the folders")
    @click.option("--settle", default=2.0, show_default=True,
                  help="seconds a file must be unchanged before it is read (still being copied)")
    @click.option("--commit-every", default=2000, show_default=True,
                  help="rows per acknowledged chunk: the cursor moves after each; a crash resends at most this many")
    @click.option("--no-progress", is_flag=True, help="no progress bar (log lines instead)")
    def command(root, mappings, once, interval, settle, commit_every, no_progress, broker, state_dir,
                metrics_port, log_level):
        from connectors.filedrop import FileDrop
        from connectors.kafka_out import SendFailed
        from connectors.mapping import MappingError, load_mapping

        _setup(log_level, metrics_port)
        try:
            loaded = [load_mapping(m) for m in (mappings or default_mappings)]
        except MappingError as exc:
            raise click.ClickException(str(exc)) from None
        if stream_filter:
            wrong = [m.name for m in loaded if m.stream != stream_filter]
            if wrong:
                raise click.ClickException(f"{', '.join(wrong)}: not a {stream_filter} mapping")
        out = _connect(broker)
        from connectors.state import StateLocked

        progress = _Progress(not no_progress)
        stop = _stop_event()
        try:
            drop = FileDrop(Path(root), loaded, out, _state_dir(state_dir), connector=kind,
                            commit_every=commit_every, settle_seconds=settle, progress=progress, stop=stop)
        except StateLocked as exc:
            out.close()
            raise click.ClickException(str(exc)) from None
        for mapping in loaded:
            log.info("%s: watching %s (%s)", mapping.name, drop.folder(mapping), mapping.label or mapping.stream)
        try:
            while not stop.is_set():
                try:
                    results = drop.scan_once()
                except SendFailed as exc:
                    log.error("broker trouble, will resume from the cursor: %s", exc)
                    if once:
                        raise click.ClickException(str(exc)) from None
                    stop.wait(max(interval, 5.0))
                    continue
                for result in results:
                    click.echo(f"{result.path.name}: {result.status}; {result.report.get('summary_zh', '')} "
                               f"report: {result.report_path}", err=True)
                if once:
                    break
                stop.wait(interval)
        finally:
            progress.stop()
            drop.close()
            out.close()

    return command


connector.command("file", help="""Watch a drop folder per department and ship CSV, XLSX and JSON Lines exports.

\b
Files may be UTF-8 or GBK/GB18030 with Chinese headers; columns are mapped by a YAML mapping
per department (bundled: medical_insurance 医保, disabled_persons_federation 残联,
human_resources 人社, civil_registry 户籍注销, courts 法院). A file dropped twice (same
content, any name) is not sent twice; each file gets a report of rows read, sent and rejected
by reason under STATE_DIR/file/<department>/reports/.""")(
    _file_like("file", ("medical_insurance", "disabled_persons_federation", "human_resources", "civil_registry",
                        "courts"), "events"))

connector.command("roster", help="""Ship the civil-affairs household roster (救助家庭花名册) to hardship.registry.

\b
One row per member, gathered into one record per household (户编号); bundled mapping
civil_affairs_roster. JSON Lines already in the contract's shape pass through.""")(
    _file_like("roster", ("civil_affairs_roster",), "registry"))

connector.command("filings", help="""Ship staff and cadre close-relative filings (近亲属备案) to hardship.filings.

\b
One row per filed relative, gathered into one record per staff member (工作人员编号); bundled
mapping cadre_filings.""")(
    _file_like("filings", ("cadre_filings",), "filings"))


@connector.command("http")
@common
@click.option("--tokens", "tokens_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="YAML {source: token} (a token may be written sha256:<hex>)")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True)
@click.option("--max-items", default=1000, show_default=True, help="events per request at most (else 413)")
@click.option("--max-bytes", default=5 * 1024 * 1024, show_default=True, help="request body size at most (else 413)")
def http_command(tokens_path, host, port, max_items, max_bytes, broker, state_dir, metrics_port, log_level):
    """Receive pushed batches of events: POST /v1/events/<source> with a bearer token per department.

    The answer lists each item as accepted or rejected with its reason; accepted items are on the
    broker when the answer comes. A token of another department's source is refused (403).
    """
    import uvicorn

    from connectors.http_push import TokenBook, create_app

    _setup(log_level, metrics_port)
    try:
        tokens = TokenBook.load(tokens_path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the tokens file: {exc}") from None
    out = _connect(broker)
    try:
        from streams.logs import uvicorn_log_config

        uvicorn.run(create_app(out, tokens, max_items, max_bytes), host=host, port=port, log_level=log_level.lower(),
                    log_config=uvicorn_log_config())
    finally:
        out.close()


@connector.command("hash-token")
@click.argument("token")
def hash_token_command(token):
    """Print sha256:<hex> of TOKEN, to put in the tokens file instead of the token itself."""
    from connectors.http_push import hash_token

    click.echo(hash_token(token))


@connector.command("sql")
@common
@click.option("--url", required=True, help="SQLAlchemy URL of the department's database")
@click.option("--query", default=None, help="SELECT giving the rows (wrapped with the cursor condition)")
@click.option("--table", default=None, help="a table instead of --query")
@click.option("--cursor-column", required=True, help="an increasing column (id, sequence, update time)")
@click.option("--mapping", default="contract", show_default=True,
              help="bundled mapping, YAML file, or `contract` when the columns have the contract's names")
@click.option("--source", default=None,
              help="the department's source name for events without a source column (e.g. tax)")
@click.option("--name", default=None, help="name of this feed for its cursor and metrics [default: the source]")
@click.option("--batch", default=5000, show_default=True, help="rows per poll and acknowledged chunk")
@click.option("--interval", default=5.0, show_default=True, help="seconds between polls when idle")
@click.option("--once", is_flag=True, help="ship what is there now and exit")
def sql_command(url, query, table, cursor_column, mapping, source, name, batch, interval, once, broker, state_dir,
                metrics_port, log_level):
    """Poll a table or query through any SQLAlchemy URL, by an increasing cursor column."""
    from connectors.mapping import MappingError, contract_mapping, load_mapping
    from connectors.sql_poll import SqlPoller, SqlSourceError
    from connectors.state import StateLocked

    _setup(log_level, metrics_port)
    try:
        loaded = contract_mapping("events", source) if mapping == "contract" else load_mapping(mapping)
    except MappingError as exc:
        raise click.ClickException(str(exc)) from None
    if loaded.passthrough and not (name or source):
        raise click.ClickException("with --mapping contract, give --source (or --name) for this feed's cursor")
    out = _connect(broker)
    poller = None
    try:
        poller = SqlPoller(url, cursor_column, loaded, out, _state_dir(state_dir), query=query, table=table,
                           name=name, batch=batch)
        poller.run(interval, _stop_event(), once)
    except (SqlSourceError, StateLocked) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if poller is not None:
            poller.close()
        out.close()


@connector.command("mappings")
def mappings_command():
    """List the bundled department mappings (部门字段映射) and their streams."""
    from connectors.mapping import bundled_mappings, load_mapping

    for name in bundled_mappings():
        mapping = load_mapping(name)
        click.echo(f"{name:<30} {mapping.stream:<9} {mapping.label}")


if __name__ == "__main__":  # pragma: no cover
    connector()
