"""Start the workbench (app, outcome publisher, alert and roster sinks) in this process or as a subprocess; used by
`hardship demo`."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from streams.config import load_settings


@dataclass
class WorkbenchHandle:
    url: str
    server: object | None = None
    thread: threading.Thread | None = None
    sink: object | None = None
    roster_sink: object | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    logins: list[dict] = field(default_factory=list)  # demo accounts created by seed_division, with passwords

    def stop(self) -> None:
        for sink in (self.sink, self.roster_sink):
            if sink is not None:
                sink.stop()
        if self.server is not None:
            self.server.should_exit = True
            if self.thread:
                self.thread.join(timeout=15)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def build(database: str | None = None, broker: str | None = None, data_dir: str | os.PathLike | None = None,
          with_sink: bool = True):  # noqa: ANN201
    """(FastAPI app, AlertSink or None) for the settings; migrations applied. With a broker the app's state also
    holds the RosterSink (hardship.registry) as `app.state.roster_sink`, started and stopped beside the alert sink."""
    from workbench.app import create_app
    from workbench.roster import RosterSink
    from workbench.sink import AlertSink

    settings = load_settings(broker=broker, database=database, data_dir=data_dir)
    app = create_app(settings.database_url, publisher_broker=settings.broker, data_dir=settings.data_dir,
                     secure_cookies=os.environ.get("HARDSHIP_SECURE_COOKIES") == "1")
    sink = None
    if settings.broker and with_sink:
        wb = app.state.workbench
        sink = AlertSink(wb.sessions, settings.broker, metrics=wb.metrics)
        app.state.roster_sink = RosterSink(wb.sessions, settings.broker)
    else:
        app.state.roster_sink = None
    return app, sink


def wait_until_up(url: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the workbench exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/api/v1/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the workbench did not answer at {url} within {timeout:.0f} s")


def start_in_process(host: str = "127.0.0.1", port: int = 8080, database: str | None = None, broker: str | None = None,
                     data_dir: str | os.PathLike | None = None, seed_division: str | None = None,
                     seed_password: str | None = None, trusted_proxies: str | None = None) -> WorkbenchHandle:
    """Run uvicorn in a thread (and the alert sink when a broker is given); returns once it answers.

    With `seed_division` (a 12-digit community code) demo accounts of every role are created first;
    `handle.logins` lists them with their passwords for the demo to print.
    """
    import uvicorn

    from workbench.seed import seed_demo_users
    from workbench.timeutil import utcnow

    app, sink = build(database, broker, data_dir)
    logins: list[dict] = []
    if seed_division:
        with app.state.workbench.sessions() as session:
            logins = seed_demo_users(session, seed_division, utcnow(), seed_password)
            session.commit()
    from workbench.cli import proxy_settings

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                           **proxy_settings(trusted_proxies)))
    thread = threading.Thread(target=server.run, name="workbench-http", daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    wait_until_up(url)
    roster_sink = app.state.roster_sink
    if sink is not None:
        sink.start()
    if roster_sink is not None:
        roster_sink.start()
    return WorkbenchHandle(url=url, server=server, thread=thread, sink=sink, roster_sink=roster_sink, logins=logins)


def start_subprocess(host: str = "127.0.0.1", port: int = 8080, database: str | None = None, broker: str | None = None,
                     data_dir: str | os.PathLike | None = None, log_path: Path | None = None,
                     extra_args: list[str] | None = None) -> WorkbenchHandle:
    """`hardship serve` as a child process; returns once it answers (pass ["--seed-users", CODE] in extra_args)."""
    args = [sys.executable, "-m", "workbench.cli", "--host", host, "--port", str(port)]
    if database:
        args += ["--database", database]
    if broker:
        args += ["--broker", broker]
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    args += extra_args or []
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{host}:{port}"
    try:
        wait_until_up(url, process=process)
    except Exception:
        process.terminate()
        raise
    return WorkbenchHandle(url=url, process=process)
