"""The `hardship` command line: one entry point whose subcommands live beside the part they drive.

Subcommands are imported only when they run, so `hardship replay` never pays for Faust or FastAPI.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command; each module owns its own options and --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("streams.replay:replay", "score JSON Lines files with the streaming core (backtest)"),
    "simulate": ("connectors.simulator:simulate", "a simulated district that streams events with ground truth"),
    "worker": ("streams.worker_cli:worker", "a Faust worker against the configured broker (production)"),
    "demo": ("streams.demo:demo", "everything on one machine: broker, worker, simulator, workbench"),
    "connector": ("connectors.cli:connector", "departmental feeds: files, HTTP push, SQL polling, roster"),
    "serve": ("workbench.cli:serve", "the workbench: alert queue, visit tasks, JSON API"),
    "audit": ("workbench.audit_cli:audit", "the audit log: verify its hash chain, grant the app's database role"),
    "bench": ("streams.bench:bench", "benchmarks that print figures beside a baseline"),
    "topics": ("streams.topics:topics", "create or check the topics as a production cluster needs them"),
    "evaluate": ("streams.evaluate:evaluate_command", "detection against ground truth: recall, precision, lead time"),
    "backtest": ("streams.backtest:backtest", "the same history under two policies, compared side by side"),
    "model": ("streams.model_cli:model", "the learned model: train on visit findings, evaluate, rank alerts"),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in {"streams", "connectors", "workbench", "scoring", "models"}:
                return _unavailable(cmd_name, target[1])
            raise
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        """Settings that cannot be used (a missing secret file, contradictory TLS/SASL settings) end with
        their message, not a traceback."""
        from streams.kafka_client import KafkaConfigError
        from streams.secrets import SecretError

        try:
            return super().invoke(ctx)
        except (SecretError, KafkaConfigError) as exc:
            raise click.ClickException(str(exc)) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, summary: str) -> click.Command:
    @click.command(name=name, help=f"{summary} (not built in this version)")
    def command() -> None:
        raise click.ClickException(f"`hardship {name}` is not part of this build yet; see README.md for what is.")

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hardship-monitor")
def main() -> None:
    """Hardship Monitor (困难群众动态监测预警): departments' records in, 漏保 / 应退 alerts out.

    Configuration comes from flags or the environment: HARDSHIP_BROKER (kafka://host:port; unset
    means the embedded broker), HARDSHIP_DATABASE (SQLAlchemy URL; unset means SQLite under the
    data folder), HARDSHIP_POLICY (policy file; unset means the bundled one), HARDSHIP_DATA_DIR.
    """


if __name__ == "__main__":  # pragma: no cover
    main()
