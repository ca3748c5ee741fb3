"""Passwords (argon2), API tokens (random, stored as SHA-256) and CSRF tokens of the signed-in pages."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 10
# verifying against this keeps the time of a wrong username like that of a wrong password
_DUMMY_HASH = _HASHER.hash("not-a-real-password-0")


MIN_DISTINCT_CHARACTERS = 5
COMMON_PASSWORDS = frozenset({
    "1234567890", "0123456789", "12345678910", "qwertyuiop", "password123", "password1234", "admin12345",
    "admin123456", "abcdefghij", "abc1234567", "1qaz2wsx3edc", "woaini1314", "a123456789", "aaaaaaaaaa",
    "iloveyou12", "qwerty1234", "1111111111", "8888888888", "0000000000", "5201314520",
})


def check_password_strength(password: str, username: str | None = None) -> None:
    """Refuse a weak password with a message in Chinese and English: ten characters besides spaces, five different
    ones, not a well-known password, not the username."""
    core = (password or "").strip()
    if len(core) < MIN_PASSWORD_LENGTH or sum(1 for ch in core if not ch.isspace()) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"密码至少 {MIN_PASSWORD_LENGTH} 位且不能以空格充数 "
                         f"(the password needs {MIN_PASSWORD_LENGTH} characters or more besides spaces)")
    if len(set(core)) < MIN_DISTINCT_CHARACTERS:
        raise ValueError(f"密码至少包含 {MIN_DISTINCT_CHARACTERS} 个不同的字符 "
                         f"(use at least {MIN_DISTINCT_CHARACTERS} different characters)")
    if core.lower() in COMMON_PASSWORDS or (username and username.lower() in core.lower()):
        raise ValueError("密码过于常见或包含用户名 (the password is well known or contains the username)")


def hash_password(password: str, username: str | None = None) -> str:
    check_password_strength(password, username)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens."""
    # as bytes: compare_digest refuses str with characters outside ASCII (a TypeError, so a 500, before)
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode("utf-8"), str(b).encode("utf-8"))


def new_password() -> str:
    """A password for a demo user: 16 readable characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
