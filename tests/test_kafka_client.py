"""One Kafka client configuration (issue 15): TLS/SASL settings rendered for every client library, secrets from files."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from streams.kafka_client import KafkaConfigError, client_config
from streams.secrets import SecretError, read_secret

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tls_files(tmp_path):
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("not a real certificate\n")
    return tmp_path


def sasl_env(tls_files: Path, password_file: Path) -> dict[str, str]:
    return {"HARDSHIP_BROKER": "kafka://k1:9093,k2:9093", "HARDSHIP_KAFKA_SASL_USERNAME": "hardship",
            "HARDSHIP_KAFKA_SASL_PASSWORD_FILE": str(password_file), "HARDSHIP_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "HARDSHIP_KAFKA_SSL_CAFILE": str(tls_files / "ca.pem")}


def test_plain_text_by_default():
    config = client_config("kafka://127.0.0.1:9092", environ={})
    assert config.kafka_python("simulator") == {"bootstrap_servers": ["127.0.0.1:9092"],
                                                "client_id": "hardship-simulator", "security_protocol": "PLAINTEXT"}
    assert config.confluent("connector")["security.protocol"] == "plaintext"
    assert config.faust_credentials() is None


def test_sasl_over_tls_for_every_client_library(tls_files, tmp_path):
    password = tmp_path / "kafka_password"
    password.write_text("s3cret-from-a-compose-secret\n")
    config = client_config(None, environ=sasl_env(tls_files, password))
    assert config.security_protocol == "SASL_SSL" and config.sasl_password == "s3cret-from-a-compose-secret"

    from kafka import KafkaProducer

    python = config.kafka_python("workbench-sink")
    assert python["sasl_mechanism"] == "SCRAM-SHA-512" and python["ssl_cafile"] == str(tls_files / "ca.pem")
    assert set(python) <= set(KafkaProducer.DEFAULT_CONFIG)  # every name is one kafka-python knows

    from confluent_kafka import Producer

    rendered = config.confluent("connector", **{"partitioner": "murmur2_random"})
    assert rendered["bootstrap.servers"] == "k1:9093,k2:9093" and rendered["security.protocol"] == "sasl_ssl"
    assert rendered["sasl.username"] == "hardship" and rendered["ssl.ca.location"] == str(tls_files / "ca.pem")
    with pytest.raises(Exception, match="(?i)ssl|certificate|ca"):  # librdkafka accepts every name, then reads the CA
        Producer(rendered)

    from aiokafka import AIOKafkaConsumer

    names = set(inspect.signature(AIOKafkaConsumer.__init__).parameters)
    with pytest.raises(Exception):  # noqa: B017 - the CA file is not a certificate: the TLS context says so
        config.aiokafka("bench")
    assert {"bootstrap_servers", "client_id", "security_protocol", "sasl_mechanism", "sasl_plain_username",
            "sasl_plain_password", "ssl_context"} <= names


def test_sasl_without_tls_gives_faust_sasl_plaintext(tmp_path):
    import faust
    from faust.types.auth import AuthProtocol

    env = {"HARDSHIP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "HARDSHIP_KAFKA_SASL_USERNAME": "u",
           "HARDSHIP_KAFKA_SASL_PASSWORD": "p-not-a-placeholder", "HARDSHIP_KAFKA_CLIENT_ID": "district-7"}
    config = client_config("kafka://k:9092", environ=env)
    credentials = config.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials) and credentials.protocol == AuthProtocol.SASL_PLAINTEXT
    assert config.client_id("worker") == "district-7-worker"
    assert config.kafka_python("x")["security_protocol"] == "SASL_PLAINTEXT"


@pytest.mark.parametrize(("env", "message"), [
    ({"HARDSHIP_KAFKA_SECURITY_PROTOCOL": "TLS"}, "use one of PLAINTEXT"),
    ({"HARDSHIP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs HARDSHIP_KAFKA_SASL_USERNAME"),
    ({"HARDSHIP_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "no such file"),
    ({"HARDSHIP_KAFKA_SASL_USERNAME": "u", "HARDSHIP_KAFKA_SASL_PASSWORD_FILE": "/run/secrets/none"}, "cannot read it"),
    ({"HARDSHIP_KAFKA_SASL_USERNAME": "u", "HARDSHIP_KAFKA_SASL_PASSWORD": "change-me"}, "placeholder"),
])
def test_bad_settings_fail_fast_and_say_what_to_do(env, message):
    with pytest.raises((KafkaConfigError, SecretError), match=message):
        client_config("kafka://k:9092", environ=env)


def test_no_broker_says_how_to_name_one():
    with pytest.raises(KafkaConfigError, match="--broker"):
        client_config(None, environ={})


def test_secret_files(tmp_path):
    path = tmp_path / "pw"
    path.write_text("")
    with pytest.raises(SecretError, match="is empty"):
        read_secret("X", {"X_FILE": str(path)})
    path.write_text("right\n")
    assert read_secret("X", {"X_FILE": str(path), "X": "ignored"}) == "right"
    assert read_secret("X", {}) is None
    with pytest.raises(SecretError, match="X is required"):
        read_secret("X", {}, required=True)


# Kafka clients built elsewhere than streams/kafka_client.py; each must take its settings from there.
EXEMPT = {
    "connectors/bench_wire_producer.py": "the benchmark's baseline, the former hand-written producer",
    "streams/tansu.py": "the embedded tansu broker's transport: loopback, plain text by construction",
}


def test_every_client_in_the_project_uses_the_one_configuration():
    offenders = []
    for path in sorted(ROOT.glob("*/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("tests/", ".venv/")) or rel in EXEMPT or rel == "streams/kafka_client.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bbootstrap_servers\s*=|\"bootstrap\.servers\"", text):
            offenders.append(rel)
    assert not offenders, f"clients configured by hand (use streams.kafka_client.client_config): {offenders}"
