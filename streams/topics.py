"""The topic plan of a production cluster, and `hardship topics`, which creates or checks it on the configured broker.

Partitions and replication factor come from the settings (flags, HARDSHIP_PARTITIONS,
HARDSHIP_REPLICATION_FACTOR); nothing is hard-coded to 1. Latest-per-key topics are compacted:
`hardship.registry` (the roster: one record per household and change) and `hardship.filings` (one
per staff member), and the tables' changelogs, so a rebuild after any length of time still has the
roster and the state. The other topics keep HARDSHIP_RETENTION_DAYS (default 90) of records, enough
to replay a quarter. With a replication factor of 2 or more, `min.insync.replicas` is 2 so that an
acknowledged record is on two brokers.

The embedded tansu broker accepts the plan but has no compaction and answers no topic configs;
`hardship topics` says so instead of claiming the plan holds.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field

import click

from streams.config import BROKER_ENV, CONTRACT_TOPICS, FILINGS_TOPIC, REGISTRY_TOPIC, TANSU_CLUSTER_ID

log = logging.getLogger(__name__)

PARTITIONS_ENV = "HARDSHIP_PARTITIONS"
REPLICATION_ENV = "HARDSHIP_REPLICATION_FACTOR"
RETENTION_ENV = "HARDSHIP_RETENTION_DAYS"
DEFAULT_PARTITIONS = 8
DEFAULT_RETENTION_DAYS = 90

APP_ID = "hardship-monitor"  # streams/app.py APP_ID; a test checks that they agree
INTERNAL_TOPICS = ("hardship-households", "hardship-persons")  # streams/app.py HOUSEHOLDS_TOPIC, PERSONS_TOPIC
TABLES = ("households", "persons", "filings")  # the Faust tables of streams/app.py; each has a changelog
COMPACTED = (REGISTRY_TOPIC, FILINGS_TOPIC)
DAY_MS = 24 * 3600 * 1000


class TopicError(RuntimeError):
    """The broker cannot be reached, or refused a topic."""


def changelog_topic(table: str, app_id: str = APP_ID) -> str:
    """Faust's name of a table's changelog topic."""
    return f"{app_id}-{table}-changelog"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        return self.configs.get("cleanup.policy") == "compact"


def setting_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise click.BadParameter(f"{name}={value!r} is not a whole number") from None
    if number < 1:
        raise click.BadParameter(f"{name}={value} must be 1 or more")
    return number


def replication_factor(default: int = 1) -> int:
    """HARDSHIP_REPLICATION_FACTOR, else `default` (1 for a single broker)."""
    return setting_int(REPLICATION_ENV, default)


def topic_plan(partitions: int, replication: int, retention_days: int = DEFAULT_RETENTION_DAYS,
               app_id: str = APP_ID) -> list[TopicSpec]:
    """Every topic the monitor uses, with the partitions, replication factor and configs a cluster needs."""
    common = {"min.insync.replicas": "2"} if replication >= 2 else {}
    retained = {**common, "cleanup.policy": "delete", "retention.ms": str(retention_days * DAY_MS)}
    compacted = {**common, "cleanup.policy": "compact"}
    plan = []
    for name in (*CONTRACT_TOPICS, *INTERNAL_TOPICS):
        plan.append(TopicSpec(name, partitions, replication, dict(compacted if name in COMPACTED else retained)))
    for table in TABLES:
        plan.append(TopicSpec(changelog_topic(table, app_id), partitions, replication, dict(compacted)))
    return plan


# ----------------------------------------------------------------------------------- on a broker

@dataclass
class PlanReport:
    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    brokers: int = 0
    cluster_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatches


def _admin(broker_url: str, timeout: float):  # noqa: ANN202 - kafka.admin.KafkaAdminClient
    from kafka.admin import KafkaAdminClient

    from streams.kafka_client import client_config

    config = client_config(broker_url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return KafkaAdminClient(**config.kafka_python("admin"))
        except Exception as exc:  # noqa: BLE001 - broker still starting
            if time.monotonic() > deadline:
                raise TopicError(f"cannot reach the broker at {broker_url}: {exc}") from exc
            time.sleep(0.2)


def apply_plan(broker_url: str, plan: list[TopicSpec], create: bool = True, timeout: float = 15.0) -> PlanReport:
    """Create the plan's missing topics (unless `create` is False), then compare every topic with the plan."""
    from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    report = PlanReport()
    admin = _admin(broker_url, timeout)
    try:
        cluster = admin.describe_cluster()
        report.brokers = len(cluster.get("brokers") or [])
        report.cluster_id = cluster.get("cluster_id")
        existing = set(admin.list_topics())
        wanted = [spec for spec in plan if spec.name not in existing]
        if create and wanted:
            try:
                admin.create_topics([NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                                     for s in wanted])
            except TopicAlreadyExistsError:  # another worker created them meanwhile
                pass
            except Exception as exc:  # noqa: BLE001 - e.g. replication factor larger than the cluster
                raise TopicError(f"the broker at {broker_url} refused the topics: {exc}") from exc
            report.created = [s.name for s in wanted]
        elif wanted:
            report.missing = [s.name for s in wanted]
        present = [s for s in plan if s.name not in report.missing]
        report.present = [s.name for s in present if s.name not in report.created]
        described = {t["name"]: t for t in admin.describe_topics([s.name for s in present])} if present else {}
        configs: dict[str, dict[str, str]] = {}
        modified: dict[str, dict[str, str]] = {}
        if present:
            resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in present]
            configs = _topic_configs(admin.describe_configs(resources, config_filter="all"))
            modified = _topic_configs(admin.describe_configs(resources))  # what the broker says was set
        for spec in present:
            topic = described.get(spec.name) or {}
            partitions = topic.get("partitions") or []
            if len(partitions) != spec.partitions:
                report.mismatches.append(f"{spec.name}: {len(partitions)} partitions, the plan says {spec.partitions}")
            replicas = {len(p.get("replica_nodes") or []) for p in partitions}
            if replicas and replicas != {spec.replication_factor}:
                report.mismatches.append(f"{spec.name}: replication factor {sorted(replicas)}, the plan says "
                                         f"{spec.replication_factor}")
            have = configs.get(spec.name) or {}
            if not have:
                continue
            for key, value in spec.configs.items():
                if key in have and have[key] != value:
                    report.mismatches.append(f"{spec.name}: {key}={have[key]}, the plan says {value}")
        if present and not any(modified.get(s.name) for s in present):
            report.unsupported.append("topic configs: the broker reports none set on these topics (DescribeConfigs "
                                      "of modified configs is empty), so retention.ms, cleanup.policy and "
                                      "min.insync.replicas are neither confirmed nor enforced")
        if (report.cluster_id or "").startswith(TANSU_CLUSTER_ID):  # tansu's own, or the embedded broker's
            compacted = [s.name for s in plan if s.compacted]
            report.unsupported.append(f"cleanup.policy=compact ({', '.join(compacted)}): the embedded tansu broker "
                                      "has no log compaction; these topics keep every record (and it keeps "
                                      "nothing across a restart)")
        if report.brokers and any(s.replication_factor > report.brokers for s in plan):
            report.unsupported.append(f"replication factor {max(s.replication_factor for s in plan)} on "
                                      f"{report.brokers} broker(s): the copies are not real")
    finally:
        admin.close()
    return report


def _topic_configs(answer) -> dict[str, dict[str, str]]:  # noqa: ANN001 - kafka-python's DescribeConfigs answer
    """{topic: {config: value}} from kafka-python's describe_configs (its answer's shape varies by version)."""
    found: dict[str, dict[str, str]] = {}
    if isinstance(answer, dict):  # kafka-python 3: {"topic": {name: {config: value}}} or {name: {config: {...}}}
        for name, entries in (answer.get("topic") or {}).items():
            found[name] = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in (entries or {}).items()}
        return found
    for response in answer if isinstance(answer, list) else [answer]:  # kafka-python 2: DescribeConfigsResponse
        for resource in getattr(response, "resources", []):
            name, entries = resource[3], resource[4]
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


def create_plan_topics(broker_url: str, topics: tuple[str, ...] | list[str], partitions: int,
                       replication: int | None = None, timeout: float = 15.0) -> PlanReport:
    """Create the named topics of the plan (used by the worker, the demo and the simulator on start)."""
    plan = topic_plan(partitions, replication or replication_factor(),
                      setting_int(RETENTION_ENV, DEFAULT_RETENTION_DAYS))
    by_name = {spec.name: spec for spec in plan}
    specs = [by_name.get(name) or TopicSpec(name, partitions, plan[0].replication_factor) for name in topics]
    return apply_plan(broker_url, specs, create=True, timeout=timeout)


# ----------------------------------------------------------------------------------- command

@click.command(name="topics")
@click.option("--broker", envvar=BROKER_ENV, default=None, metavar="kafka://HOST:PORT[,HOST:PORT]",
              help=f"the Kafka brokers [env {BROKER_ENV}]; TLS/SASL from HARDSHIP_KAFKA_* (streams/kafka_client.py)")
@click.option("--partitions", type=click.IntRange(1, 1024), envvar=PARTITIONS_ENV, default=DEFAULT_PARTITIONS,
              show_default=True, help=f"partitions of every topic [env {PARTITIONS_ENV}]; the workers' --partitions")
@click.option("--replication-factor", type=click.IntRange(1, 16), envvar=REPLICATION_ENV, default=None,
              help=f"copies of every partition [env {REPLICATION_ENV}; default: the number of brokers, at most 3]")
@click.option("--retention-days", type=click.IntRange(1, 36500), envvar=RETENTION_ENV, default=DEFAULT_RETENTION_DAYS,
              show_default=True, help=f"retention of the non-compacted topics [env {RETENTION_ENV}]")
@click.option("--check", is_flag=True, help="only compare the broker's topics with the plan; create nothing")
@click.option("--plan", "show_plan", is_flag=True, help="print the plan and exit, without a broker")
def topics(broker, partitions, replication_factor, retention_days, check, show_plan):
    """Create (or --check) the monitor's topics as a production cluster needs them.

    hardship.registry, hardship.filings and the tables' changelogs are compacted (latest per key);
    the other topics keep --retention-days. Exit status 1 when --check finds a topic missing or
    different from the plan.
    """
    from streams.kafka_client import KafkaConfigError

    if show_plan:
        for spec in topic_plan(partitions, replication_factor or 3, retention_days):
            _echo_spec(spec)
        return
    if not broker:
        raise click.ClickException(f"no broker: pass --broker kafka://host:port or set {BROKER_ENV} "
                                   "(for the embedded one, run `hardship demo` and use the address it prints)")
    try:
        if replication_factor is None:
            replication_factor = min(3, max(1, _broker_count(broker)))
        plan = topic_plan(partitions, replication_factor, retention_days)
        report = apply_plan(broker, plan, create=not check)
    except (TopicError, KafkaConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"broker {broker}: {report.brokers} broker(s), cluster {report.cluster_id}")
    click.echo(f"plan: {len(plan)} topics, {partitions} partitions, replication factor {replication_factor}, "
               f"retention {retention_days} days where not compacted")
    for spec in plan:
        state = ("created" if spec.name in report.created else "missing" if spec.name in report.missing
                 else "present")
        _echo_spec(spec, state)
    for line in report.mismatches:
        click.echo(f"DIFFERS  {line}")
    for line in report.unsupported:
        click.echo(f"NOT SUPPORTED  {line}")
    if report.missing:
        click.echo("missing topics: run `hardship topics` without --check to create them", err=True)
    if report.mismatches:
        click.echo("topics that differ from the plan: partitions cannot shrink and replication is changed with "
                   "kafka-reassign-partitions; configs with kafka-configs --alter", err=True)
    if not report.ok:
        sys.exit(1)


def _echo_spec(spec: TopicSpec, state: str = "") -> None:
    settings = ", ".join(f"{k}={v}" for k, v in sorted(spec.configs.items()))
    prefix = f"{state:<8} " if state else ""
    click.echo(f"{prefix}{spec.name:<36} partitions={spec.partitions} replication={spec.replication_factor} {settings}")


def _broker_count(broker_url: str) -> int:
    admin = _admin(broker_url, 15.0)
    try:
        return len(admin.describe_cluster().get("brokers") or [])
    finally:
        admin.close()
