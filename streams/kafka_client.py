"""One Kafka client configuration (brokers, TLS, SASL, client id) for every producer, consumer and admin client.

Built from the settings (flags and the environment), and rendered for each client library the
project uses: kafka-python (`kafka_python()`), confluent-kafka / librdkafka (`confluent()`), aiokafka
(`aiokafka()`) and Faust's `broker_credentials` (`faust_credentials()`).

Environment (each optional; plain text by default):

  HARDSHIP_BROKER                    kafka://host:port[,host:port]
  HARDSHIP_KAFKA_SECURITY_PROTOCOL   PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
                                     (default: SASL_SSL when a SASL user is set, SSL when a CA file is set)
  HARDSHIP_KAFKA_SASL_MECHANISM      PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default PLAIN)
  HARDSHIP_KAFKA_SASL_USERNAME       the SASL user
  HARDSHIP_KAFKA_SASL_PASSWORD(_FILE) its password, or a file holding it (a compose secret)
  HARDSHIP_KAFKA_SSL_CAFILE          CA bundle that signed the brokers' certificates
  HARDSHIP_KAFKA_SSL_CERTFILE, HARDSHIP_KAFKA_SSL_KEYFILE   client certificate and key (mutual TLS)
  HARDSHIP_KAFKA_CLIENT_ID           prefix of every client id (default "hardship")
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.config import BROKER_ENV, bootstrap_servers
from streams.secrets import read_secret

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PREFIX = "HARDSHIP_KAFKA_"


class KafkaConfigError(ValueError):
    """The Kafka client settings contradict each other or name a file that is not there."""


@dataclass(frozen=True)
class KafkaClientConfig:
    servers: tuple[str, ...]
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id_prefix: str = "hardship"

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def client_id(self, role: str) -> str:
        """`hardship-<role>` (the prefix from HARDSHIP_KAFKA_CLIENT_ID): what the broker's logs and quotas see."""
        return f"{self.client_id_prefix}-{role}" if role else self.client_id_prefix

    # -- renderings -------------------------------------------------------------------------------

    def _python_options(self, role: str) -> dict[str, Any]:
        """What kafka-python and aiokafka name alike: brokers, client id, protocol, SASL."""
        options: dict[str, Any] = {"bootstrap_servers": list(self.servers), "client_id": self.client_id(role),
                                   "security_protocol": self.security_protocol}
        if self.uses_sasl:
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        return options

    def kafka_python(self, role: str, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        options = self._python_options(role)
        if self.uses_tls:
            options.update(ssl_cafile=self.ssl_cafile, ssl_certfile=self.ssl_certfile, ssl_keyfile=self.ssl_keyfile)
        options.update(extra)
        return options

    def confluent(self, role: str, **extra: Any) -> dict[str, Any]:
        """The configuration dict of confluent-kafka's Producer, Consumer and AdminClient (librdkafka names)."""
        options: dict[str, Any] = {"bootstrap.servers": ",".join(self.servers), "client.id": self.client_id(role),
                                   "security.protocol": self.security_protocol.lower()}
        if self.uses_sasl:
            options.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                            "sasl.password": self.sasl_password})
        if self.uses_tls:
            for key, value in (("ssl.ca.location", self.ssl_cafile), ("ssl.certificate.location", self.ssl_certfile),
                               ("ssl.key.location", self.ssl_keyfile)):
                if value:
                    options[key] = value
        options.update(extra)
        return options

    def ssl_context(self):  # noqa: ANN201 - ssl.SSLContext | None
        """A TLS context for the asyncio clients (aiokafka, Faust), or None for plain text."""
        if not self.uses_tls:
            return None
        import ssl

        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def aiokafka(self, role: str, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for aiokafka's consumers and producers."""
        options = self._python_options(role)
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        options.update(extra)
        return options

    def faust_credentials(self):  # noqa: ANN201 - faust.types.auth.CredentialsT | None
        """Faust's `broker_credentials`: SASL (over TLS for SASL_SSL), TLS alone, or None for plain text."""
        import faust

        if self.uses_sasl:  # SASLCredentials is SASL_SSL when given a TLS context, else SASL_PLAINTEXT
            return faust.SASLCredentials(username=self.sasl_username, password=self.sasl_password,
                                         mechanism=self.sasl_mechanism, ssl_context=self.ssl_context())
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


def client_config(broker_url: str | None = None, environ: Mapping[str, str] | None = None) -> KafkaClientConfig:
    """The client configuration for `broker_url` (else HARDSHIP_BROKER) with TLS/SASL from the environment."""
    env = os.environ if environ is None else environ
    url = broker_url or env.get(BROKER_ENV)
    if not url:
        raise KafkaConfigError(f"no Kafka broker: pass --broker kafka://host:port or set {BROKER_ENV}")
    username = env.get(PREFIX + "SASL_USERNAME") or None
    password = read_secret(PREFIX + "SASL_PASSWORD", env) if username else None
    cafile = env.get(PREFIX + "SSL_CAFILE") or None
    protocol = (env.get(PREFIX + "SECURITY_PROTOCOL") or "").upper() or (
        "SASL_SSL" if username else "SSL" if cafile else "PLAINTEXT")
    if protocol not in PROTOCOLS:
        raise KafkaConfigError(f"{PREFIX}SECURITY_PROTOCOL={protocol!r}: use one of {', '.join(PROTOCOLS)}")
    mechanism = (env.get(PREFIX + "SASL_MECHANISM") or "PLAIN").upper()
    if mechanism not in MECHANISMS:
        raise KafkaConfigError(f"{PREFIX}SASL_MECHANISM={mechanism!r}: use one of {', '.join(MECHANISMS)}")
    if protocol.startswith("SASL_") and not (username and password):
        raise KafkaConfigError(f"security protocol {protocol} needs {PREFIX}SASL_USERNAME and "
                               f"{PREFIX}SASL_PASSWORD (or {PREFIX}SASL_PASSWORD_FILE)")
    files = {name: env.get(PREFIX + name) or None for name in ("SSL_CAFILE", "SSL_CERTFILE", "SSL_KEYFILE")}
    for name, path in files.items():
        if path and not os.path.isfile(path):
            raise KafkaConfigError(f"{PREFIX}{name}={path}: no such file; mount it or unset the setting")
    if bool(files["SSL_CERTFILE"]) != bool(files["SSL_KEYFILE"]):
        raise KafkaConfigError(f"mutual TLS needs both {PREFIX}SSL_CERTFILE and {PREFIX}SSL_KEYFILE")
    return KafkaClientConfig(
        servers=tuple(bootstrap_servers(url)), security_protocol=protocol,
        sasl_mechanism=mechanism if protocol.startswith("SASL_") else None,
        sasl_username=username, sasl_password=password,
        ssl_cafile=files["SSL_CAFILE"], ssl_certfile=files["SSL_CERTFILE"], ssl_keyfile=files["SSL_KEYFILE"],
        client_id_prefix=env.get(PREFIX + "CLIENT_ID") or "hardship",
    )
