"""Secrets from the environment or from files (`NAME_FILE`, as docker-compose `secrets:` mount them), failing fast.

`read_secret("HARDSHIP_DATABASE_PASSWORD")` reads HARDSHIP_DATABASE_PASSWORD_FILE when it is set (the
file must exist and hold a value), else HARDSHIP_DATABASE_PASSWORD, else None. A value that is a
known placeholder (`change-me…`) is refused: a deployment never runs on a password from the docs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PLACEHOLDER_PREFIXES = ("change-me", "changeme", "replace-me")


class SecretError(RuntimeError):
    """A secret that is configured is missing, empty or a placeholder."""


def is_placeholder(value: str) -> bool:
    return value.strip().lower().startswith(PLACEHOLDER_PREFIXES)


def read_secret(name: str, environ: Mapping[str, str] | None = None, required: bool = False) -> str | None:
    """The secret `name` from `name`_FILE or `name`; raises SecretError with what to do when it is unusable."""
    env = os.environ if environ is None else environ
    file_name = env.get(f"{name}_FILE")
    if file_name:
        path = Path(file_name)
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise SecretError(f"{name}_FILE={file_name}: cannot read it ({exc.strerror or exc}); create the file "
                              f"(for docker-compose: the file the `secrets:` section names) or unset {name}_FILE") from None
        if not value.strip():
            raise SecretError(f"{name}_FILE={file_name} is empty; write the secret into it")
    else:
        value = env.get(name) or None
    if value is None:
        if required:
            raise SecretError(f"{name} is required: set {name}_FILE to a file holding it (a compose secret) or {name}")
        return None
    if is_placeholder(value):
        raise SecretError(f"{name} is a placeholder ({value[:12]}…); set a real secret")
    return value
