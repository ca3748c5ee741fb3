"""Operations (issues 6 and 15): Prometheus and Alertmanager configuration, alert rules, Grafana dashboards, docker-compose.yml.

Fast tests: `promtool check config` / `check rules` on the shipped files, `amtool check-config` on the
Alertmanager configuration as compose renders it, a structural check of every dashboard, every metric
name in dashboards and rules is one the project (or Faust's sensor) exports, `docker-compose config`
accepts the compose file and its `hardship` commands are real; compose keeps secrets in files and has
no placeholder fallbacks.

Slow test: the demo (or its pieces) runs with connectors, the real Prometheus server of Debian's package
scrapes it every second, and every panel query and every alert rule goes through Prometheus' HTTP API:
each parses, each panel query returns data, each rule evaluates without error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "dashboards"
DASHBOARD_FILES = sorted((DASHBOARDS / "grafana" / "dashboards").glob("*.json"))
PROMETHEUS_CONFIG = DASHBOARDS / "prometheus" / "prometheus.yml"
PROMETHEUS_DEMO_CONFIG = DASHBOARDS / "prometheus" / "prometheus-demo.yml"  # for `hardship demo` on this machine
RULE_FILES = sorted((DASHBOARDS / "prometheus" / "rules").glob("*.yml"))
COMPOSE_FILE = ROOT / "docker-compose.yml"
HARDSHIP = str(Path(sys.executable).with_name("hardship"))
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
DOCKER_COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
ALERTMANAGER_TEMPLATE = DASHBOARDS / "alertmanager" / "alertmanager.yml.tmpl"
COMPOSE_ENV = {"HARDSHIP_ALERT_WEBHOOK_URL": "https://oncall.example.org/hooks/hardship?token=a&b|c"}
IN_CI = bool(os.environ.get("CI"))

# Where the exported metrics are defined (the names the dashboards and rules may use).
METRIC_SOURCES = [ROOT / "streams" / "metrics.py", ROOT / "connectors" / "metrics.py", ROOT / "workbench" / "metrics.py"]
FAUST_SENSOR = Path(sysconfig.get_paths()["purelib"]) / "faust" / "sensors" / "prometheus.py"  # read, not imported
# Faust's sensor prefixes its metrics with the app id ("hardship-monitor" -> hardship_monitor_), read from streams/app.py
FAUST_PREFIX = re.search(r'^APP_ID = "([^"]+)"', (ROOT / "streams" / "app.py").read_text(encoding="utf-8"),
                         re.M).group(1).replace("-", "_").replace(".", "_")

# Grafana variables that Prometheus does not know, replaced as Grafana would before sending a query.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m", "$division": ".*"}


def need_tool(path: str) -> None:
    """Skip when a Debian tool is missing on a developer's machine; in CI it must be there."""
    if not Path(path).exists():
        if IN_CI:
            pytest.fail(f"{path} is required in CI: apt-get install -y prometheus prometheus-alertmanager docker-compose")
        pytest.skip(f"{path} missing (apt-get install -y prometheus prometheus-alertmanager docker-compose)")


def load_dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in DASHBOARD_FILES}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every target of every panel."""
    rows = []
    for name, dashboard in load_dashboards().items():
        for panel in iter_panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                rows.append((name, panel["title"], target["expr"]))
    return rows


def iter_panels(panels: list[dict]):
    for panel in panels:
        if panel.get("type") == "row":
            yield from iter_panels(panel.get("panels", []))
        else:
            yield panel


def rule_exprs() -> list[tuple[str, str]]:
    rows = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                rows.append((rule.get("alert") or rule.get("record"), rule["expr"]))
    return rows


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


# ----------------------------------------------------------------------------------- metric names

def exported_metrics() -> dict[str, str]:
    """Metric family name -> type (counter, gauge, histogram) as defined in the project's sources and Faust's sensor."""
    pattern = re.compile(r"\b(Counter|Gauge|Histogram|GaugeMetricFamily|CounterMetricFamily|HistogramMetricFamily)\(\s*f?\"([^\"]+)\"")
    kinds = {"Counter": "counter", "CounterMetricFamily": "counter", "Gauge": "gauge", "GaugeMetricFamily": "gauge",
             "Histogram": "histogram", "HistogramMetricFamily": "histogram"}
    found = {}
    for path in [*METRIC_SOURCES, FAUST_SENSOR]:
        if not path.exists():
            continue
        for kind, name in pattern.findall(path.read_text(encoding="utf-8")):
            found[name.replace("{app_name}", FAUST_PREFIX)] = kinds[kind]
    return found


def series_names(family: str, kind: str) -> set[str]:
    """The sample names prometheus_client exposes for a family (without the `_created` samples)."""
    if kind == "counter":
        return {family.removesuffix("_total") + "_total"}
    if kind == "histogram":
        return {family + suffix for suffix in ("_bucket", "_sum", "_count")}
    return {family}


# Aggregations, operators and modifiers; a word followed by "(" is a function call and is skipped anyway.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
}


def metric_names_in(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (selectors), ignoring label names, functions and keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # grouping label lists
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        word, call = match.group(1), match.group(2)
        if call or word in PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        names.add(word)
    return names


# ----------------------------------------------------------------------------------- fast tests

@pytest.mark.parametrize("config", [PROMETHEUS_CONFIG, PROMETHEUS_DEMO_CONFIG], ids=lambda p: p.name)
def test_promtool_check_config(config):
    need_tool(PROMTOOL)
    result = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout + result.stderr  # rule_files resolve to the shipped rules


def test_demo_config_scrapes_the_documented_ports():
    """prometheus-demo.yml has the jobs of prometheus.yml, pointed at the demo's default ports."""
    from streams.demo import demo

    defaults = {p.name: p.default for p in demo.params}
    shipped = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    local = yaml.safe_load(PROMETHEUS_DEMO_CONFIG.read_text(encoding="utf-8"))
    assert [j["job_name"] for j in local["scrape_configs"]] == [j["job_name"] for j in shipped["scrape_configs"]]
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in local["scrape_configs"]}
    assert targets["hardship-worker"] == [f"127.0.0.1:{defaults['worker_metrics_port']}"]
    assert targets["hardship-workbench"] == [f"127.0.0.1:{defaults['workbench_port']}"]


def test_promtool_check_rules():
    need_tool(PROMTOOL)
    assert RULE_FILES
    result = subprocess.run([PROMTOOL, "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


STALL_RULE_TEST = """
rule_files: [%s]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # a stalled worker: 12 messages waiting, nothing committed since it started
      - series: 'hardship_partition_lag{instance="w1:6066", topic="hardship.registry", partition="2"}'
        values: '12x15'
      - series: 'hardship_partition_seconds_since_progress{instance="w1:6066", topic="hardship.registry", partition="2"}'
        values: '0+60x15'
      # a busy one: lag, but it commits all the time
      - series: 'hardship_partition_lag{instance="w2:6066", topic="hardship.events", partition="0"}'
        values: '5000x15'
      - series: 'hardship_partition_seconds_since_progress{instance="w2:6066", topic="hardship.events", partition="0"}'
        values: '0x15'
      # an idle one: caught up, nothing to commit
      - series: 'hardship_partition_lag{instance="w3:6066", topic="hardship.events", partition="1"}'
        values: '0x15'
      - series: 'hardship_partition_seconds_since_progress{instance="w3:6066", topic="hardship.events", partition="1"}'
        values: '0x15'
    alert_rule_test:
      - eval_time: 4m
        alertname: HardshipWorkerStalled
        exp_alerts: []
      - eval_time: 10m
        alertname: HardshipWorkerStalled
        exp_alerts:
          - exp_labels: {severity: critical, instance: "w1:6066", topic: hardship.registry, partition: "2"}
            exp_annotations:
              summary: "流处理停滞：hardship.registry 分区 2 滞后 12 条且 5 分钟无提交"
              description: "A worker holds messages it does not commit. Open the worker's /healthz; after a broker restart (the embedded broker keeps nothing) restart the worker and replay the inputs (docs/operations.md)."
"""


def test_stall_rule_fires_on_a_stalled_worker_only(tmp_path):
    """promtool runs the liveness rule over a stalled, a busy and an idle worker's gauges."""
    need_tool(PROMTOOL)
    rules = DASHBOARDS / "prometheus" / "rules" / "hardship.rules.yml"
    test_file = tmp_path / "stall_test.yml"
    test_file.write_text(STALL_RULE_TEST % json.dumps(str(rules)), encoding="utf-8")
    result = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_cover_the_issue_and_read_in_chinese():
    names = {name for name, _ in rule_exprs()}
    for wanted in ("HardshipConsumerLagGrowing", "HardshipDeadLettersSpiking", "HardshipConnectorSilent",
                   "HardshipTasksOverdue"):
        assert wanted in names
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in {"info", "warning", "critical"}
                assert re.search(r"[\u4e00-\u9fff]", rule["annotations"]["summary"]), rule["alert"]
                assert rule["annotations"]["description"]


DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "panels", "schemaVersion", "time", "templating", "tags"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "tags": {"type": "array", "items": {"type": "string"}, "contains": {"const": "hardship"}},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {"type": "object", "required": ["list"]},
        "panels": {
            "type": "array", "minItems": 3,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["timeseries", "stat", "bargauge", "gauge", "table", "barchart", "piechart"]},
                    "title": {"type": "string", "minLength": 1},
                    "gridPos": {"type": "object", "required": ["x", "y", "w", "h"],
                                "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 23},
                                               "w": {"type": "integer", "minimum": 1, "maximum": 24},
                                               "y": {"type": "integer", "minimum": 0},
                                               "h": {"type": "integer", "minimum": 1}}},
                    "datasource": {"$ref": "#/$defs/datasource"},
                    "targets": {"type": "array", "minItems": 1,
                                "items": {"type": "object", "required": ["refId", "expr", "datasource"],
                                          "properties": {"refId": {"type": "string"},
                                                         "expr": {"type": "string", "minLength": 1},
                                                         "datasource": {"$ref": "#/$defs/datasource"}}}},
                    "fieldConfig": {"type": "object", "required": ["defaults"],
                                    "properties": {"defaults": {"type": "object", "required": ["unit"]}}},
                },
            },
        },
    },
    "$defs": {"datasource": {"type": "object", "required": ["type", "uid"],
                             "properties": {"type": {"const": "prometheus"}, "uid": {"type": "string"}}}},
}


def provisioned_datasource_uids() -> set[str]:
    path = DASHBOARDS / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    return {source["uid"] for source in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]}


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_structure(path):
    import jsonschema

    dashboard = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(dashboard, DASHBOARD_SCHEMA)
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert cjk.search(dashboard["title"]), "dashboard titles are Chinese"
    uids = provisioned_datasource_uids()
    panels = list(iter_panels(dashboard["panels"]))
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    for panel in panels:
        assert cjk.search(panel["title"]), f"panel title {panel['title']!r} is not Chinese"
        assert panel["datasource"]["uid"] in uids, f"{panel['title']}: datasource not provisioned"
        assert all(t["datasource"]["uid"] in uids for t in panel["targets"])
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        unit = panel["fieldConfig"]["defaults"]["unit"]
        assert not cjk.search(unit), f"{panel['title']}: units are English ({unit!r})"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    for variable in dashboard["templating"]["list"]:
        assert f"${variable['name']}" in GRAFANA_VARIABLES, f"the query test must know ${variable['name']}"
        assert variable["datasource"]["uid"] in uids


def test_dashboards_are_the_three_of_the_issue_and_provisioned():
    dashboards = load_dashboards()
    assert {d["uid"] for d in dashboards.values()} == {"hardship-overview", "hardship-stream", "hardship-connectors"}
    provider = yaml.safe_load((DASHBOARDS / "grafana" / "provisioning" / "dashboards" / "hardship.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards/grafana/dashboards:{path}:ro" in mounts
    assert "./dashboards/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    text = json.dumps(list(dashboards.values()), ensure_ascii=False)
    for metric in ("hardship_alerts_total", "hardship_workbench_open_alerts", "hardship_workbench_overdue_tasks",
                   "hardship_workbench_visits", "hardship_events_total", "hardship_deadletters_total",
                   "hardship_monitor_topic_partition_end_offset", "hardship_event_to_alert_seconds_bucket",
                   "hardship_monitor_rebalance_done_latency_count", "hardship_connector_records_read_total",
                   "hardship_connector_records_sent_total", "hardship_connector_records_rejected_total",
                   "hardship_connector_cursor_lag_records"):
        assert metric in text, f"no panel shows {metric}"


def test_every_metric_in_dashboards_and_rules_is_exported():
    exported = exported_metrics()
    assert "hardship_events_total" in exported and "hardship_connector_records_read" in exported
    assert f"{FAUST_PREFIX}_topic_partition_end_offset" in exported
    valid = {"up"} | {series for family, kind in exported.items() for series in series_names(family, kind)}
    used = {}
    for dashboard, title, expr in panel_queries():
        for name in metric_names_in(grafana_to_promql(expr)):
            used.setdefault(name, []).append(f"{dashboard}: {title}")
    for alert, expr in rule_exprs():
        for name in metric_names_in(expr):
            used.setdefault(name, []).append(f"rule {alert}")
    assert len(used) > 20
    unknown = {name: where for name, where in used.items() if name not in valid}
    assert not unknown, f"metrics that nothing exports: {unknown}"


def test_metric_name_extraction():
    expr = ('sum by (kind, level) (increase(hardship_alerts_total{division=~".*"}[1h])) / on (kind) '
            'group_left sum(hardship_workbench_visits{result="confirmed"}) and histogram_quantile(0.5, x_bucket) > 3 * 60')
    assert metric_names_in(expr) == {"hardship_alerts_total", "hardship_workbench_visits", "x_bucket"}


def compose_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]


def compose_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDSHIP_")}
    env.update(values)
    return env


def test_docker_compose_config_accepts_the_file():
    need_tool(DOCKER_COMPOSE)
    result = subprocess.run([DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=compose_env(**COMPOSE_ENV))
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_refuses_to_run_without_the_alert_receiver():
    need_tool(DOCKER_COMPOSE)
    result = subprocess.run([DOCKER_COMPOSE, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, env=compose_env())
    assert result.returncode != 0 and "set HARDSHIP_ALERT_WEBHOOK_URL in .env" in result.stdout + result.stderr


def render_alertmanager_config(tmp_path: Path, url: str) -> Path:
    """Run the alertmanager service's own start script (up to its exec) with /bin/sh, on this checkout's template."""
    command = compose_services()["alertmanager"]["command"][0].replace("$$", "$")  # compose's escape of $
    render, exec_part = command.split(" && exec ", 1)
    assert exec_part.startswith("/bin/alertmanager --config.file=/tmp/alertmanager.yml")
    rendered = tmp_path / "alertmanager.yml"
    render = render.replace("/etc/alertmanager/", f"{ALERTMANAGER_TEMPLATE.parent}/").replace(
        "/tmp/alertmanager.yml", str(rendered))
    env = {"PATH": "/usr/bin:/bin", "HARDSHIP_ALERT_WEBHOOK_URL": url}
    result = subprocess.run(["/bin/sh", "-c", render], capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 0, result.stderr
    return rendered


def test_amtool_check_config_of_the_rendered_alertmanager_configuration(tmp_path):
    need_tool(AMTOOL)
    url = COMPOSE_ENV["HARDSHIP_ALERT_WEBHOOK_URL"]  # &, | and ? survive the rendering
    rendered = render_alertmanager_config(tmp_path, url)
    config = yaml.safe_load(rendered.read_text(encoding="utf-8"))
    (receiver,) = config["receivers"]
    assert receiver["webhook_configs"][0]["url"] == url
    assert config["route"]["receiver"] == receiver["name"]
    result = subprocess.run([AMTOOL, "check-config", str(rendered)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_prometheus_sends_alerts_to_the_alertmanager_of_compose():
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    targets = [t for am in config["alerting"]["alertmanagers"] for c in am["static_configs"] for t in c["targets"]]
    assert targets == ["alertmanager:9093"]
    services = compose_services()
    assert "alertmanager" in services
    assert "./dashboards/alertmanager:/etc/alertmanager:ro" in services["alertmanager"]["volumes"]
    demo = yaml.safe_load(PROMETHEUS_DEMO_CONFIG.read_text(encoding="utf-8"))
    assert demo["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert not any("web.enable-lifecycle" in arg for arg in services["prometheus"]["command"])


def test_compose_keeps_secrets_in_files_and_has_no_placeholders():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "change-me" not in text and ":-change" not in text
    compose = yaml.safe_load(text)
    services, secrets = compose["services"], compose["secrets"]
    assert set(secrets) == {"postgres_password", "workbench_secret_key", "grafana_admin_password", "http_tokens"}
    for name, secret in secrets.items():
        assert secret["file"].startswith("./secrets/"), name
    for name, service in services.items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if key.endswith("_FILE"):  # a *_FILE setting names a secret the service mounts
                secret = str(value).removeprefix("/run/secrets/")
                assert secret in service.get("secrets", []), f"{name}: {key} names {value}, not mounted"
            assert not re.search(r"PASSWORD$|SECRET_KEY$", key), f"{name}: {key} puts a secret in the environment"
        for key, value in env.items():
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(value)), f"{name}: {key} has a password in a URL"
    assert services["workbench"]["environment"]["HARDSHIP_DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "/run/secrets/http_tokens" in services["connector-http"]["command"]
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["topics"]["command"] == ["topics"]
    for name in ("worker-1", "worker-2", "workbench", "connector-files", "connector-http"):
        assert services[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully", name
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "/secrets/*" in ignored and "secrets" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()


def test_the_example_tokens_are_refused_by_the_connector():
    from connectors.http_push import TokenBook

    example = DASHBOARDS / "compose" / "http-tokens.yaml"
    with pytest.raises(ValueError, match="placeholder"):
        TokenBook.load(example)
    result = subprocess.run([HARDSHIP, "connector", "http", "--tokens", str(example), "--broker", "kafka://127.0.0.1:9"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "placeholder" in result.stderr and "hash-token" in result.stderr


def test_compose_has_the_deployment_of_the_issue():
    services = compose_services()
    for name in ("kafka", "postgres", "worker-1", "worker-2", "workbench", "connector-files", "prometheus", "grafana"):
        assert name in services, name
    for name, service in services.items():
        assert "healthcheck" in service or service.get("restart") == "no", f"{name} has no health check"
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version ({image!r})"
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller" and "ZOOKEEPER" not in json.dumps(kafka)
    named = set(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["volumes"])
    for name in ("kafka", "postgres", "worker-1", "worker-2", "prometheus", "grafana"):
        volumes = [v.split(":")[0] for v in services[name].get("volumes", [])]
        assert any(v in named for v in volumes), f"{name} keeps nothing across a restart"
    for name in ("worker-1", "worker-2"):
        command = services[name]["command"]
        assert command[:1] == ["worker"] and "rocksdb://" in command and "kafka://kafka:9092" in command
    workbench = services["workbench"]
    assert workbench["environment"]["HARDSHIP_DATABASE"].startswith("postgresql+psycopg://")
    prometheus_targets = {t for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
                          for c in job["static_configs"] for t in c["targets"]}
    for name, service in services.items():
        if service.get("image", "").startswith("hardship-monitor") and service.get("restart") != "no":
            port = metrics_port_of(service["command"])
            assert f"{name}:{port}" in prometheus_targets, f"Prometheus does not scrape {name}:{port}"


def metrics_port_of(command: list[str]) -> str:
    if "--metrics-port" in command:
        return command[command.index("--metrics-port") + 1]
    return command[command.index("--port") + 1]  # the workbench serves /metrics on its own port


def test_compose_commands_are_real_hardship_commands():
    """Each `hardship` command line of the compose file parses: its subcommand and options exist."""
    for name, service in compose_services().items():
        if not service.get("image", "").startswith("hardship-monitor"):
            continue
        result = subprocess.run([HARDSHIP, *service["command"], "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{name}: {' '.join(service['command'])}\n{result.stdout}{result.stderr}"


def test_dockerfile_builds_with_pip_from_pypi():
    """(Stages and the lock install: tests/test_packaging.py.)"""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["python:3.11-slim", "python:3.11-slim"]
    assert "--require-hashes -r requirements.lock" in text
    assert "curl" not in text and "wget" not in text, "no downloads outside pip"
    assert re.search(r'^ENTRYPOINT \["hardship"\]', text, re.M)


# ----------------------------------------------------------------------------------- the live test

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), so that grandchildren in their own sessions are stopped too."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Processes:
    """Processes this test starts, each in its own session; all stopped (with their descendants) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed at stop
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                   cwd=self.log_dir)
        log.close()
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for _name, process in reversed(self.started):
            below = descendants(process.pid)
            if process.poll() is None:
                try:  # SIGINT first: `hardship demo` stops its own children on Ctrl-C
                    os.killpg(process.pid, signal.SIGINT)
                    process.wait(timeout=15)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    pass
            for pid in [process.pid, *below]:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(os.getpgid(pid), sig)
                    except (ProcessLookupError, PermissionError):
                        break
                    time.sleep(0.2)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.started.clear()


def http_json(url: str, body: dict | list | None = None, token: str | None = None, timeout: float = 10) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def wait_for(what: str, check, timeout: float, processes: Processes, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            value, last = None, exc
        if value:
            return value
        for name, process in processes.started:
            if process.poll() is not None and name not in {"simulator", "seed"}:
                pytest.fail(f"{name} exited with {process.returncode} while waiting for {what}:\n{processes.log(name)}")
        time.sleep(interval)
    logs = "\n".join(f"--- {name}\n{processes.log(name)}" for name, _ in processes.started)
    pytest.fail(f"timed out waiting for {what} (last error: {last})\n{logs}")


def demo_available() -> bool:
    if os.environ.get("HARDSHIP_OPS_TEST_PIECES"):
        return False
    result = subprocess.run([HARDSHIP, "demo", "--help"], capture_output=True, text=True, timeout=60)
    return result.returncode == 0 and "--worker-metrics-port" in result.stdout


def prometheus_query(base: str, expr: str) -> dict:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 400 bad_data: the expression does not parse
        return json.loads(exc.read())


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.timeout(420)
def test_prometheus_scrapes_the_demo_and_every_query_answers(tmp_path):
    if not Path(PROMETHEUS).exists():
        need_tool(PROMETHEUS)
    started_at = time.monotonic()
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = Processes(logs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDSHIP_")}
    env["HARDSHIP_DATA_DIR"] = str(tmp_path / "data")
    ports = {"worker": free_port(), "workbench": free_port(), "connector-file": free_port(),
             "connector-http-metrics": free_port(), "connector-http": free_port(), "prometheus": free_port()}
    with ExitStack() as stack:
        stack.callback(processes.stop)
        data_dir = tmp_path / "data"
        if demo_available():
            processes.start("demo", [HARDSHIP, "demo", "--households", "300", "--rate", "400", "--quiet",
                                     "--worker-metrics-port", str(ports["worker"]),
                                     "--workbench-port", str(ports["workbench"]), "--data-dir", str(data_dir)], env)
            broker_url = wait_for("the demo's broker address",
                                  lambda: (m := re.search(r"broker\s+(kafka://\S+)", processes.log("demo"))) and m.group(1),
                                  90, processes)
        else:
            from streams.broker import embedded_broker

            broker = stack.enter_context(embedded_broker(log_path=logs / "tansu.log"))
            stack.callback(processes.stop)  # the processes stop before the broker
            broker_url = broker.url
            env["HARDSHIP_BROKER"] = broker_url
            processes.start("worker", [HARDSHIP, "worker", "--broker", broker_url, "--tansu",
                                       "--metrics-port", str(ports["worker"])], env)
            processes.start("workbench", [HARDSHIP, "serve", "--port", str(ports["workbench"]), "--broker", broker_url,
                                          "--data-dir", str(data_dir)], env)
            wait_for("the worker's /metrics", lambda: urllib.request.urlopen(
                f"http://127.0.0.1:{ports['worker']}/metrics", timeout=2).status == 200, 90, processes)
            processes.start("simulator", [HARDSHIP, "simulate", "--broker", broker_url, "--households", "300",
                                          "--days", "60", "--out", str(tmp_path / "sim"), "--speedup", "86400",
                                          "--quiet"], env)
        env["HARDSHIP_BROKER"] = broker_url

        # the connectors: a file drop with a bad row, and the HTTP push with a bad item
        drop = tmp_path / "drop"
        write_medical_export(drop / "medical_insurance" / "2026-11-结算明细.csv")
        processes.start("connector-file", [HARDSHIP, "connector", "file", "--root", str(drop), "--mapping",
                                           "medical_insurance", "--state-dir", str(tmp_path / "state-file"),
                                           "--metrics-port", str(ports["connector-file"]), "--interval", "0.5",
                                           "--settle", "0.5", "--no-progress"], env)
        tokens = tmp_path / "tokens.yaml"
        tokens.write_text("tokens:\n  medical_insurance: ops-test-token\n", encoding="utf-8")
        processes.start("connector-http", [HARDSHIP, "connector", "http", "--tokens", str(tokens),
                                           "--port", str(ports["connector-http"]),
                                           "--state-dir", str(tmp_path / "state-http"),
                                           "--metrics-port", str(ports["connector-http-metrics"])], env)

        # Prometheus of Debian's package, with the shipped rules and the shipped jobs pointed at this test's ports
        config = test_prometheus_config(ports)
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        processes.start("prometheus", [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                       f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                       f"--web.listen-address=127.0.0.1:{ports['prometheus']}"], env)
        prom = f"http://127.0.0.1:{ports['prometheus']}"
        wait_for("Prometheus ready", lambda: urllib.request.urlopen(f"{prom}/-/ready", timeout=2).status == 200,
                 60, processes)

        # a malformed message on hardship.events: a dead letter of the worker
        produce_malformed_event(broker_url)
        push = f"http://127.0.0.1:{ports['connector-http']}/v1/events/medical_insurance"
        wait_for("the HTTP push connector", lambda: http_json(push, [good_event("http-1"), bad_event("http-2")],
                                                              token="ops-test-token")["accepted"] == 1, 60, processes)

        # the workbench: alerts arrive; confirm one and record its visit, so the confirmed share has data
        workbench = f"http://127.0.0.1:{ports['workbench']}"
        record_a_visit(workbench, data_dir, env, processes)

        # every target up, then every panel query returns data
        wait_for("every target up", lambda: all_targets_up(prom), 60, processes)
        queries = [(d, t, grafana_to_promql(e)) for d, t, e in panel_queries()]
        empty = {}

        def all_answer():
            empty.clear()
            for dashboard, title, expr in queries:
                answer = prometheus_query(prom, expr)
                assert answer["status"] == "success", f"{dashboard} / {title}: {expr}\n{answer}"
                if not answer["data"]["result"]:
                    empty[f"{dashboard} / {title}"] = expr
            return not empty

        deadline = time.monotonic() + 120
        while not all_answer() and time.monotonic() < deadline:
            time.sleep(2)
        assert not empty, "panel queries without data:\n" + "\n".join(f"{k}: {v}" for k, v in empty.items())

        # every alert rule parses in Prometheus and evaluates without error
        for alert, expr in rule_exprs():
            answer = prometheus_query(prom, expr)
            assert answer["status"] == "success", f"rule {alert}: {answer}"
        rules = wait_for("rule evaluation", lambda: evaluated_rules(prom), 30, processes)
        assert {r["name"] for r in rules} == {name for name, _ in rule_exprs()}
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert not bad, bad
        print(f"\noperations test: {len(queries)} panel queries and {len(rules)} rules answered; "
              f"{time.monotonic() - started_at:.0f} s")


def test_prometheus_config(ports: dict[str, int]) -> dict:
    """The shipped configuration with a 1 s scrape, the shipped rules, and this test's targets per shipped job."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["rule_files"] = [str(path) for path in RULE_FILES]
    targets = {
        "prometheus": [f"127.0.0.1:{ports['prometheus']}"],
        "hardship-worker": [f"127.0.0.1:{ports['worker']}"],
        "hardship-workbench": [f"127.0.0.1:{ports['workbench']}"],
        "hardship-connector": [f"127.0.0.1:{ports['connector-file']}", f"127.0.0.1:{ports['connector-http-metrics']}"],
    }
    assert {job["job_name"] for job in config["scrape_configs"]} == set(targets)
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    return config


test_prometheus_config.__test__ = False  # a helper, not a test


def all_targets_up(prom: str) -> bool:
    result = prometheus_query(prom, "up")["data"]["result"]
    return len(result) == 5 and all(r["value"][1] == "1" for r in result)


def evaluated_rules(prom: str) -> list[dict]:
    with urllib.request.urlopen(f"{prom}/api/v1/rules", timeout=10) as answer:
        groups = json.loads(answer.read())["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return rules if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules) else []


def person(n: int) -> str:
    from datetime import date

    from models.resident_id import make_resident_id

    return make_resident_id("420106", date(1960, 3, 1), 700 + n)


def write_medical_export(path: Path) -> None:
    """A GBK CSV of medical-insurance settlements: two good rows and one with a malformed amount."""
    header = ["结算单号", "姓名", "身份证号", "业务类型", "结算日期", "医疗费用总额", "个人自付金额"]
    rows = [["OPS0001", "张三", person(1), "住院结算", "2026/11/02", "52,000.00", "35,000.00"],
            ["OPS0002", "李四", person(2), "门诊结算", "2026/11/03", "1,200.00", "300.50"],
            ["OPS0003", "王五", person(3), "住院结算", "2026/11/04", "1,200.00", "三百元"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(f'"{c}"' for c in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    past = time.time() - 60
    os.utime(path, (past, past))


def good_event(event_id: str) -> dict:
    return {"event_id": event_id, "type": "medical_bill", "person_id": person(4),
            "occurred_at": "2026-11-05T10:00:00+08:00", "attributes": {"total_yuan": 800, "out_of_pocket_yuan": 200}}


def bad_event(event_id: str) -> dict:
    return {"event_id": event_id, "type": "medical_bill", "person_id": person(5),
            "occurred_at": "2026-11-05T10:00:00+08:00", "attributes": {"out_of_pocket_yuan": "35,000"}}


def produce_malformed_event(broker_url: str) -> None:
    from kafka import KafkaProducer

    from streams.config import EVENTS_TOPIC, bootstrap_servers

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), acks="all")
    try:
        producer.send(EVENTS_TOPIC, key=b"ops-test", value=b"{not json at all").get(timeout=30)
        producer.send(EVENTS_TOPIC, key=person(6).encode(), value=json.dumps(
            {"event_id": "ops-bad-1", "source": "medical_insurance", "type": "no_such_type", "person_id": person(6),
             "occurred_at": "2026-11-05T10:00:00+08:00", "attributes": {}}).encode()).get(timeout=30)
    finally:
        producer.close(timeout=10)


SEED_PASSWORD = "ops-test-Passw0rd!"


def seed_users(community: str, data_dir: Path, env: dict, processes: Processes) -> None:
    """Demo accounts for `community` in the running workbench's database (passwords reset to ours)."""
    result = subprocess.run([HARDSHIP, "serve", "--no-serve", "--data-dir", str(data_dir), "--seed-users", community,
                             "--seed-password", SEED_PASSWORD], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def login(workbench: str, username: str) -> str:
    return http_json(f"{workbench}/api/v1/token", {"username": username, "password": SEED_PASSWORD})["access_token"]


def record_a_visit(workbench: str, data_dir: Path, env: dict, processes: Processes) -> None:
    wait_for("the workbench", lambda: http_json(f"{workbench}/api/v1/healthz")["status"] == "ok", 90, processes)
    seed_users("420106002003", data_dir, env, processes)  # the simulated district is 武昌区 420106
    bureau = login(workbench, "bureau002003")

    def an_alert():
        items = http_json(f"{workbench}/api/v1/alerts?limit=200", token=bureau)["items"]
        return next((a for a in items if a["kind"] != "filed_relative_check" and a["status"] == "new"
                     and len(a["division_code"]) == 12 and not a["division_code"].endswith("000")), None)

    alert = wait_for("an alert in the workbench", an_alert, 150, processes, interval=2)
    community = alert["division_code"]
    seed_users(community, data_dir, env, processes)
    confirmed = http_json(f"{workbench}/api/v1/alerts/{alert['number']}/confirm", {}, token=bureau)
    task = confirmed["task"]
    assert task["assignee"], f"no officer got the task: {task}"
    officer = login(workbench, task["assignee"])
    visit = {"method": "home_visit", "finding": "入户调查：住院自付费用属实，家庭收入低于标准", "result": "confirmed"}
    http_json(f"{workbench}/api/v1/tasks/{task['task_id']}/visit", visit, token=officer)
    # the street office's review (复核, issue 14) sends the outcome
    http_json(f"{workbench}/api/v1/tasks/{task['task_id']}/review", {"decision": "approve"}, token=bureau)
