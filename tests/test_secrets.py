"""Secrets (issue 15): `*_FILE` settings as compose mounts them, failing fast with what to do; no placeholders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.config import load_settings
from streams.secrets import SecretError

HARDSHIP = str(Path(sys.executable).with_name("hardship"))


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARDSHIP_")}
    env.update(values)
    return env


def test_database_password_comes_from_its_file(tmp_path, monkeypatch):
    secret = tmp_path / "postgres_password"
    secret.write_text("p@ss:w/rd\n")  # characters that a URL must escape
    monkeypatch.setenv("HARDSHIP_DATABASE_PASSWORD_FILE", str(secret))
    settings = load_settings(database="postgresql+psycopg://hardship@postgres:5432/hardship", data_dir=tmp_path)
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    assert url.password == "p@ss:w/rd" and url.username == "hardship" and url.host == "postgres"


def test_missing_or_placeholder_database_password_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("HARDSHIP_DATABASE_PASSWORD_FILE", str(tmp_path / "absent"))
    settings = load_settings(database="postgresql+psycopg://hardship@postgres/hardship", data_dir=tmp_path)
    with pytest.raises(SecretError, match="HARDSHIP_DATABASE_PASSWORD_FILE=.*cannot read it"):
        _ = settings.database_url
    monkeypatch.delenv("HARDSHIP_DATABASE_PASSWORD_FILE")
    settings = load_settings(database="postgresql+psycopg://hardship:change-me@postgres/hardship", data_dir=tmp_path)
    with pytest.raises(SecretError, match="placeholder"):
        _ = settings.database_url


def test_the_workbench_refuses_to_start_without_its_secret_file(tmp_path):
    env = clean_env(HARDSHIP_DATA_DIR=str(tmp_path), HARDSHIP_SECRET_KEY_FILE=str(tmp_path / "no-such-secret"))
    result = subprocess.run([HARDSHIP, "serve", "--no-serve"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode != 0
    assert "HARDSHIP_SECRET_KEY_FILE" in result.stderr and "cannot read it" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_workbench_secret_key_file_is_used(tmp_path, monkeypatch):
    from workbench.app import secret_key

    path = tmp_path / "workbench_secret_key"
    path.write_text("k" * 48 + "\n")
    monkeypatch.setenv("HARDSHIP_SECRET_KEY_FILE", str(path))
    assert secret_key(tmp_path) == "k" * 48
