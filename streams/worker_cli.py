"""`hardship worker`: one Faust worker of the monitor against the configured broker (production)."""

from __future__ import annotations

from pathlib import Path

import click

from streams.config import BROKER_ENV, CONTRACT_TOPICS, DATA_DIR_ENV, POLICY_ENV, load_settings


def internal_topics() -> tuple[str, ...]:
    from streams.app import HOUSEHOLDS_TOPIC, PERSONS_TOPIC

    return (HOUSEHOLDS_TOPIC, PERSONS_TOPIC)


def build_app(broker_url: str, partitions: int, store: str, data_dir: Path, web_port: int | None,
              policy_path: str | None, embedded: bool, web_host: str = "127.0.0.1", model=None):
    from scoring.policy import PolicyError, load_policy
    from streams.app import StreamSettings, create_app
    from streams.broker import create_topics

    try:
        policy = load_policy(policy_path)
    except PolicyError as exc:
        raise click.ClickException(f"{exc}\nFix the policy file, or leave out --policy for the bundled one.") from None
    create_topics(broker_url, (*CONTRACT_TOPICS, *internal_topics()), partitions=partitions)
    return create_app(StreamSettings(broker_url=broker_url, partitions=partitions, store=store, data_dir=data_dir,
                                     web_port=web_port, web_host=web_host, policy=policy, embedded_broker=embedded,
                                     model=model))


GIL_SWITCH_SECONDS = 0.001


def run_worker(app, loglevel: str = "warning") -> None:
    """Run the Faust worker in this process until SIGINT/SIGTERM.

    With HARDSHIP_PROFILE=FILE the worker runs under cProfile and writes its statistics there on exit
    (`hardship bench stream --profile` uses it to show where the time goes).
    """
    import os
    import sys

    from faust import Worker

    from streams.app import start_recovery_watchdog
    from streams.collector import freeze_loaded, tune_for_worker
    from streams.logs import faust_logging_config

    worker = Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                    logging_config=faust_logging_config(loglevel))
    # Faust's terminal spinner sets the root logger to DEBUG (its handler advances on every record) and leaves
    # it there after start-up: every debug call of aiokafka and Faust (several per message produced) then
    # built a LogRecord that the handlers dropped, about 5 % of the worker's time. Without the spinner the
    # root logger keeps the level asked for.
    worker.spinner = None
    start_recovery_watchdog(app)  # stuck in table recovery (a broker that lost its data): say so and exit
    # Faust's consumer runs aiokafka in a thread of its own: at CPython's default switch interval (5 ms) the
    # agents' CPU-bound batches keep the GIL and every fetch step of that thread waits up to 5 ms for it
    # (each hop's messages waited hundreds of milliseconds on a loaded machine). 1 ms hands it over sooner.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    # Full garbage collections walked every object of the tables every few seconds (streams/collector.py)
    tune_for_worker()

    @app.task  # Faust starts its tasks once the tables are recovered
    async def freeze_recovered_tables() -> None:
        freeze_loaded()

    profile_path = os.environ.get("HARDSHIP_PROFILE")
    if not profile_path:
        worker.execute_from_commandline()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        worker.execute_from_commandline()
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


@click.command(name="worker")
@click.option("--broker", envvar=BROKER_ENV, default=None, metavar="kafka://HOST:PORT[,HOST:PORT]",
              help=f"the Kafka brokers [env {BROKER_ENV}]; unset: start the embedded tansu broker for this worker")
@click.option("--partitions", type=click.IntRange(1, 256), default=4, show_default=True,
              help="partitions of the topics it creates (use the same number on every worker)")
@click.option("--store", default="memory://", show_default=True,
              help="table store: memory:// or rocksdb:// (pip install 'hardship-monitor[rocksdb]')")
@click.option("--data-dir", envvar=DATA_DIR_ENV, type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"local state (RocksDB tables) [env {DATA_DIR_ENV}; default ./data]")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=6066, show_default=True,
              help="port of the worker's web server with Prometheus /metrics (0: no web server)")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="address the metrics server listens on (0.0.0.0 in a container)")
@click.option("--policy", envvar=POLICY_ENV, default=None, help=f"policy file [env {POLICY_ENV}]; default the bundled one")
@click.option("--tansu", is_flag=True, help="the broker is tansu (as in tests and the demo): apply its quirks")
@click.option("--loglevel", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="log level")
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="a learned model folder (`hardship model train --out DIR`): each alert gets model_score and "
                   "model_reasons; without it the worker behaves as without a model (model_version rules-only)")
def worker(broker, partitions, store, data_dir, metrics_port, metrics_host, policy, tansu, loglevel, model_dir):
    """Run one worker of the monitor: agents, tables, alerts to hardship.alerts.

    Start as many as there are machines (up to the partition count); Faust spreads the partitions
    and moves the tables when a worker comes or goes. Stop with Ctrl-C or SIGTERM.
    """
    from streams.logs import configure_logging
    from streams.replay import load_model_or_exit

    model = load_model_or_exit(model_dir)  # a model that cannot be used stops the worker at start
    configure_logging(loglevel)  # text, or JSON lines with HARDSHIP_LOG_FORMAT=json
    settings = load_settings(broker=broker, data_dir=data_dir)
    if settings.broker is None:
        from streams.broker import embedded_broker

        with embedded_broker(log_path=settings.data_dir / "tansu.log" if settings.data_dir.exists() else None,
                             partitions=partitions) as running:
            click.echo(f"no broker configured: started the embedded tansu broker at {running.url}", err=True)
            app = build_app(running.url, partitions, store, settings.data_dir, metrics_port or None, policy, True,
                            metrics_host, model)
            run_worker(app, loglevel)
        return
    app = build_app(settings.broker, partitions, store, settings.data_dir, metrics_port or None, policy, tansu,
                    metrics_host, model)
    run_worker(app, loglevel)
