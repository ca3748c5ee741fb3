"""`hardship demo`: the whole monitor on one machine — embedded broker, worker, simulated district, workbench.

Each part runs as its own process (the same commands an operator would run), so the demo shows the
real wiring; Ctrl-C stops them all, the broker last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click

import workbench
from streams.config import ALERTS_TOPIC, BROKER_ENV, DATA_DIR_ENV, load_settings
from streams.kafka_client import client_config

DEMO_COMMUNITY = "420106002003"  # 武昌区 a community of the simulated district: demo logins are made for it
# the simulated district's street and community names (区划名称), loaded into the workbench
DEMO_DIVISIONS = Path(workbench.__file__).resolve().parent / "data" / "divisions-420106.csv"
CHINA = timezone(timedelta(hours=8))


def simulated_year(now: datetime, days: int = 365) -> tuple[date, int]:
    """The simulated year ends today: (first day, days), so the events and alerts are dated up to now."""
    today = now.astimezone(CHINA).date()
    return today - timedelta(days=days - 1), days


def run_folder(parent: Path, moment: float) -> Path:
    """A folder of its own per run (run-YYYYmmdd-HHMMSS, -2, -3 … if taken): a second run keeps the first's files."""
    stamp = datetime.fromtimestamp(moment, CHINA).strftime("run-%Y%m%d-%H%M%S")
    candidate, n = parent / stamp, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{stamp}-{n}"
    return candidate


class Processes:
    """Child processes in their own process groups, stopped in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        # each run starts its logs afresh: no stale demo passwords of an earlier run stay in workbench.log
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.children.append((name, process))
        return process

    def check(self) -> None:
        for name, process in self.children:
            if process.poll() is not None and name != "simulator":
                raise click.ClickException(
                    f"{name} exited with code {process.returncode}; see {self.log_dir / (name + '.log')}"
                )

    def stop(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _hardship() -> str:
    return str(Path(sys.executable).with_name("hardship"))


def _wait_http(url: str, timeout: float) -> bool:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


CONSOLE_HEADER = "已运行（秒）  [类型 等级] 户编号 困难指数 退出指数  主要原因"


def console_line(seconds: float, alert: dict) -> str:
    """One alert on the demo's console under CONSOLE_HEADER: the seconds since the demo started, labelled."""
    return f"{seconds:8.1f} 秒    {_alert_line(alert)}"


def _alert_line(alert: dict) -> str:
    from models.resident_id import mask_resident_id
    from scoring.reasons import KINDS_ZH

    household = alert["household_id"]
    if household.startswith("person:"):
        household = "person:" + mask_resident_id(household[7:])
    first = alert["reasons"][0]["text"] if alert["reasons"] else ""
    score = alert.get("model_score")
    model = f" 模型核实概率 {score:.0%}" if isinstance(score, (int, float)) else ""
    return (f"[{KINDS_ZH.get(alert['kind'], alert['kind'])} L{alert['level']}] {household} "
            f"困难指数 {alert['hardship_score']:.0f} 退出指数 {alert['removal_score']:.0f}{model}  {first}")


@click.command(name="demo")
@click.option("--households", type=click.IntRange(min=1), default=15_000, show_default=True,
              help="households of the simulated district")
@click.option("--rate", type=click.FloatRange(min=1), default=800.0, show_default=True,
              help="events per second the simulator streams")
@click.option("--worker-metrics-port", type=click.IntRange(1, 65535), default=6066, show_default=True,
              help="Prometheus /metrics of the stream worker")
@click.option("--workbench-port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="the workbench web pages, API and its /metrics")
@click.option("--no-workbench", is_flag=True, help="do not start the workbench")
@click.option("--data-dir", envvar=DATA_DIR_ENV, type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"logs, SQLite database, simulator output [env {DATA_DIR_ENV}; default ./data]")
@click.option("--quiet", is_flag=True, help="do not print each alert as it arrives")
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path), default=None,
              help="a learned model folder (`hardship model train --out DIR`), passed to the worker: each alert gets "
                   "model_score and model_reasons, and the workbench queue can sort by them; checked before anything starts")
def demo(households, rate, worker_metrics_port, workbench_port, no_workbench, data_dir, quiet, model_dir):
    """Run everything on this machine with the embedded defaults, and print where to look.

    Starts the tansu broker (unless HARDSHIP_BROKER is set), one stream worker, the workbench on
    SQLite, and a simulated district streaming events; then prints each alert as it arrives.
    Ctrl-C stops everything.
    """
    from streams.broker import EmbeddedBroker, create_topics
    from streams.replay import load_model_or_exit
    from streams.worker_cli import internal_topics

    model = load_model_or_exit(model_dir)  # a model that cannot be used stops the demo before anything starts

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # stop the children on SIGTERM as on Ctrl-C
    settings = load_settings(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    broker = None
    if settings.broker:
        broker_url = settings.broker
    else:
        broker = EmbeddedBroker(log_path=log_dir / "tansu.log").start()
        broker_url = broker.url
    processes = Processes(log_dir)
    env = dict(os.environ, **{BROKER_ENV: broker_url, DATA_DIR_ENV: str(settings.data_dir)})
    try:
        from streams.config import CONTRACT_TOPICS

        create_topics(broker_url, (*CONTRACT_TOPICS, *internal_topics()))
        worker_args = [_hardship(), "worker", "--broker", broker_url, "--metrics-port", str(worker_metrics_port)]
        if broker is not None:
            worker_args.append("--tansu")
        if model is not None:
            worker_args += ["--model", str(model_dir.resolve())]
        processes.start("worker", worker_args, env)
        workbench_url = None
        if not no_workbench:
            processes.start("workbench", [_hardship(), "serve", "--port", str(workbench_port), "--broker", broker_url,
                                          "--data-dir", str(settings.data_dir), "--seed-users", DEMO_COMMUNITY,
                                          "--divisions", str(DEMO_DIVISIONS)], env)
            workbench_url = f"http://127.0.0.1:{workbench_port}/"
        sim_dir = run_folder(settings.data_dir / "simulated-district", time.time())
        start, days = simulated_year(datetime.now(CHINA))
        processes.start("simulator", [_hardship(), "simulate", "--broker", broker_url, "--out", str(sim_dir),
                                      "--households", str(households), "--rate", str(rate), "--quiet",
                                      "--start", start.isoformat(), "--days", str(days)], env)
        click.echo("Hardship Monitor demo (困难群众动态监测预警演示) is running:")
        click.echo(f"  broker            {broker_url}{' (embedded tansu, memory only)' if broker else ''}")
        click.echo(f"  stream worker     metrics http://127.0.0.1:{worker_metrics_port}/metrics")
        if model is not None:
            click.echo(f"  learned model     {model.version} ({model.kind}) from {model_dir}: ranks alerts, never raises, "
                       "suppresses or closes one")
        if workbench_url:
            ready = _wait_http(workbench_url, 30)
            click.echo(f"  workbench         {workbench_url}  metrics {workbench_url}metrics"
                       + ("" if ready else "  (not answering yet; see logs/workbench.log)"))
            click.echo(f"                    demo logins are listed in {log_dir / 'workbench.log'}")
        click.echo(f"  simulator         {households:,} households, {rate:,.0f} events/s; ground truth in {sim_dir}")
        click.echo(f"  alerts            topic {ALERTS_TOPIC}; logs in {log_dir}")
        click.echo("Press Ctrl-C to stop.\n")
        if not quiet:
            click.echo(CONSOLE_HEADER)
        _follow_alerts(broker_url, processes, quiet, worker_metrics_port)
    except KeyboardInterrupt:
        click.echo("\nstopping …")
    finally:
        processes.stop()
        if broker is not None:
            broker.stop()
        click.echo("stopped.")


LAG_CHECK_SECONDS = 5.0


def lag_news(shown: int, lag: int) -> tuple[str | None, int]:
    """What to print about the worker's lag (messages not yet committed), given the lag last printed: a line
    when it grows (by half and by 1,000 at least), and one when it is back to zero; else nothing."""
    if lag >= max(shown + 1_000, shown * 3 // 2):
        return f"worker lag {lag:,} messages (was {shown:,}): the worker is behind the simulator", lag
    if lag == 0 and shown:
        return "worker lag 0: caught up", 0
    return None, shown


def worker_lag(port: int) -> int | None:
    """The worker's total lag over the partitions it holds, from its /healthz (None: not answering)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            report = json.load(response)
    except urllib.error.HTTPError as exc:  # 503: stalled, and still a report
        report = json.load(exc)
    except (OSError, ValueError):
        return None
    return sum(partition["lag"] for partition in report.get("partitions", []))


def _follow_alerts(broker_url: str, processes: Processes, quiet: bool, worker_port: int) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(ALERTS_TOPIC, **client_config(broker_url).kafka_python("demo"), auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    seen: set[str] = set()
    started = time.monotonic()
    shown_lag, checked = 0, 0.0
    try:
        while True:
            for message in consumer:
                alert = json.loads(message.value)
                new = alert["alert_id"] not in seen
                seen.add(alert["alert_id"])
                if not quiet and new:
                    click.echo(console_line(time.monotonic() - started, alert))
                if time.monotonic() - checked >= LAG_CHECK_SECONDS:
                    break
            if time.monotonic() - checked >= LAG_CHECK_SECONDS:
                checked = time.monotonic()
                lag = worker_lag(worker_port)
                if lag is not None:
                    news, shown_lag = lag_news(shown_lag, lag)
                    if news:
                        click.echo(f"{time.monotonic() - started:8.1f} 秒  {news}")
            processes.check()
    finally:
        consumer.close()
