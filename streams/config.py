"""Settings shared by every command: broker, database, policy file and data folder, from flags or env."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BROKER_ENV = "HARDSHIP_BROKER"
DATABASE_ENV = "HARDSHIP_DATABASE"
POLICY_ENV = "HARDSHIP_POLICY"
DATA_DIR_ENV = "HARDSHIP_DATA_DIR"

# Topic names of the wire contract (DESIGN.md); keep them.
EVENTS_TOPIC = "hardship.events"
REGISTRY_TOPIC = "hardship.registry"
FILINGS_TOPIC = "hardship.filings"
ALERTS_TOPIC = "hardship.alerts"
OUTCOMES_TOPIC = "hardship.outcomes"
DEADLETTER_TOPIC = "hardship.deadletter"
CONTRACT_TOPICS = (EVENTS_TOPIC, REGISTRY_TOPIC, FILINGS_TOPIC, ALERTS_TOPIC, OUTCOMES_TOPIC, DEADLETTER_TOPIC)


@dataclass(frozen=True)
class Settings:
    broker: str | None
    database: str | None
    policy: str | None
    data_dir: Path

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; SQLite under the data folder when none is configured."""
        if self.database:
            return self.database
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
