"""Shared test fixtures: the real embedded broker, the PostgreSQL URL, and small builders of contract records."""

from __future__ import annotations

import os

import pytest

from tests.builders import PG_URL_DEFAULT


@pytest.fixture(scope="session", autouse=True)
def pseudonym_key():
    """A fixed key for pseudonymous event ids (tests never write a key file into the clone); children inherit it."""
    from models.privacy import PSEUDONYM_KEY_ENV

    previous = os.environ.get(PSEUDONYM_KEY_ENV)
    os.environ[PSEUDONYM_KEY_ENV] = "test-pseudonym-key-not-for-production"
    yield os.environ[PSEUDONYM_KEY_ENV]
    if previous is None:
        os.environ.pop(PSEUDONYM_KEY_ENV, None)
    else:
        os.environ[PSEUDONYM_KEY_ENV] = previous


@pytest.fixture
def broker(tmp_path):
    """A real tansu broker on a free loopback port with the contract topics; stopped after the test."""
    from streams.broker import embedded_broker

    with embedded_broker(log_path=tmp_path / "tansu.log") as running:
        yield running


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server of the development and CI machines; required (not skipped) when CI asks."""
    url = os.environ.get("HARDSHIP_TEST_POSTGRES", PG_URL_DEFAULT)
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("HARDSHIP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {url} is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {url} unreachable: {exc}")
    return url
