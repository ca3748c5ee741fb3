"""Settings shared by every command: broker, database, policy file and data folder, from flags or env."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BROKER_ENV = "HARDSHIP_BROKER"
DATABASE_ENV = "HARDSHIP_DATABASE"
POLICY_ENV = "HARDSHIP_POLICY"
DATA_DIR_ENV = "HARDSHIP_DATA_DIR"
# The database password apart from the URL (HARDSHIP_DATABASE_PASSWORD_FILE: a compose secret), so
# that no password stands in an environment variable of the URL.
DATABASE_PASSWORD_ENV = "HARDSHIP_DATABASE_PASSWORD"

# Topic names of the wire contract (DESIGN.md); keep them.
EVENTS_TOPIC = "hardship.events"
REGISTRY_TOPIC = "hardship.registry"
FILINGS_TOPIC = "hardship.filings"
ALERTS_TOPIC = "hardship.alerts"
OUTCOMES_TOPIC = "hardship.outcomes"
DEADLETTER_TOPIC = "hardship.deadletter"
CONTRACT_TOPICS = (EVENTS_TOPIC, REGISTRY_TOPIC, FILINGS_TOPIC, ALERTS_TOPIC, OUTCOMES_TOPIC, DEADLETTER_TOPIC)
# tansu's default cluster id; the embedded broker adds a suffix of its own at each start (streams/broker.py)
TANSU_CLUSTER_ID = "tansu_cluster"


@dataclass(frozen=True)
class Settings:
    broker: str | None
    database: str | None
    policy: str | None
    data_dir: Path

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL (with HARDSHIP_DATABASE_PASSWORD[_FILE] as its password, when set); SQLite
        under the data folder when none is configured. Raises SecretError for a missing or placeholder secret."""
        if self.database:
            return with_database_password(self.database)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'workbench.sqlite3'}"


def load_settings(
    broker: str | None = None,
    database: str | None = None,
    policy: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """Flags win over the environment; unset broker means the embedded one."""
    data = data_dir or os.environ.get(DATA_DIR_ENV) or Path.cwd() / "data"
    return Settings(
        broker=broker or os.environ.get(BROKER_ENV) or None,
        database=database or os.environ.get(DATABASE_ENV) or None,
        policy=policy or os.environ.get(POLICY_ENV) or None,
        data_dir=Path(data),
    )


def with_database_password(url: str) -> str:
    """`url` with the password of HARDSHIP_DATABASE_PASSWORD(_FILE) when set; a placeholder password is refused."""
    from sqlalchemy.engine import make_url

    from streams.secrets import SecretError, is_placeholder, read_secret

    password = read_secret(DATABASE_PASSWORD_ENV)
    parsed = make_url(url)
    if password is None:
        if parsed.password and is_placeholder(str(parsed.password)):
            raise SecretError(f"the password in {DATABASE_ENV} is a placeholder; set a real one "
                              f"(or {DATABASE_PASSWORD_ENV}_FILE to a file holding it)")
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def bootstrap_servers(broker_url: str) -> list[str]:
    """`kafka://h1:9092,h2:9092` -> ["h1:9092", "h2:9092"] for kafka-python and aiokafka."""
    url = broker_url.strip()
    for prefix in ("kafka://", "aiokafka://", "tcp://"):
        if url.startswith(prefix):
            url = url[len(prefix):]
    servers = [part.strip().removeprefix("kafka://") for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError(f"no broker address in {broker_url!r}; expected kafka://host:port[,host:port]")
    return servers
