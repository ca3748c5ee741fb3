"""People and sign-in (用户与登录): create users in an administrator's divisions, check passwords, API tokens."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from workbench import access, audit, divisions, security
from workbench.access import Actor
from workbench.errors import Conflict, Forbidden, Invalid
from workbench.tables import ApiToken, AuditEntry, User

TOKEN_LIFETIME = timedelta(hours=12)
# Throttling per client (限流), not a lockout of the account by anyone: failed sign-ins of one username from one
# client address within LOCKOUT_WINDOW stop that client's attempts on that name; CLIENT_FAILURES failures from one
# address (any names) stop it altogether. Other clients sign in as usual. A throttled attempt costs no argon2 work.
LOCKOUT_FAILURES = 5
CLIENT_FAILURES = 30
LOCKOUT_WINDOW = timedelta(minutes=15)


def actor_of(user: User) -> Actor:
    return Actor(username=user.username, role=user.role, scopes=tuple(user.scopes), staff_id=user.staff_id)


def create_user(session: Session, creator: Actor | None, *, username: str, display_name: str, role: str,
                scopes: list[str], password: str, staff_id: str | None, now: datetime) -> User:
    """`creator` None is the command line (seed); otherwise an administrator inside their divisions."""
    username = (username or "").strip()
    if not username or len(username) > 64 or not username.isascii() \
            or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        # ASCII only: a Cyrillic "а" in "bureаu" would pass for another person's name (homoglyph)
        raise Invalid("用户名只能由英文字母、数字、点、下划线和连字符组成", "BAD_USERNAME", "username")
    staff_id = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", staff_id or "").strip() or None
    display_name = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", display_name or "").strip()
    if role not in access.ROLES:
        raise Invalid("角色不正确", "BAD_ROLE", "role")
    if not scopes or not all(divisions.is_division_code(code) for code in scopes):
        raise Invalid("请填写 12 位统计用区划代码", "BAD_DIVISION_CODE", "scopes")
    if creator is not None and not access.may_manage_scope(creator, scopes):
        raise Forbidden("只能在您管辖的区划内创建用户", "OUT_OF_SCOPE")
    if session.scalar(select(User).where(func.lower(User.username) == username.lower())) is not None:
        raise Conflict("用户名已存在", "USERNAME_TAKEN")
    if staff_id and session.scalar(select(User).where(User.staff_id == staff_id)) is not None:
        # one staff number, one person: recusal (回避) matches users by it
        raise Conflict("工作人员编号已被其他账号使用", "STAFF_ID_TAKEN", "staff_id")
    try:
        password_hash = security.hash_password(password, username)
    except ValueError as exc:
        raise Invalid(str(exc), "WEAK_PASSWORD", "password") from None
    user = User(username=username, display_name=(display_name or username)[:64], role=role, scopes=list(scopes),
                staff_id=(staff_id or None), password_hash=password_hash, active=True, created_at=now,
                must_change_password=creator is not None)
    session.add(user)
    if creator is not None:
        audit.record(session, creator, "user_created", now, target_type="user", target_id=username,
                     division_code=scopes[0], detail={"role": role, "scopes": scopes})
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """A new password ends every page session (and the caller revokes API tokens where the user changes it)."""
    user.password_hash = security.hash_password(password, user.username)
    user.session_version = (user.session_version or 0) + 1
    user.must_change_password = False


def change_password(session: Session, user: User, current: str, new: str, now: datetime,
                    client: str | None = None) -> None:
    """The user's own change: the current password first; the new one at least 10 characters and different."""
    if not security.verify_password(user.password_hash, current or ""):
        raise Invalid("当前密码不正确", "WRONG_PASSWORD", "current")
    if new == current:
        raise Invalid("新密码不能与当前密码相同", "SAME_PASSWORD", "new")
    try:
        set_password(session, user, new or "")
    except ValueError as exc:
        raise Invalid(str(exc), "WEAK_PASSWORD", "new") from None
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))  # old tokens stop working
    audit.record(session, actor_of(user), "password_changed", now, target_type="user", target_id=user.username,
                 division_code=user.scopes[0], client=client)


def locked(session: Session, username: str, now: datetime, client: str | None = None) -> bool:
    """Too many failed sign-ins lately from this client, on this name or on any (counted from the audit log, so it
    holds across processes). Another client is not affected: nobody can lock someone else out."""
    recent = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "login_failed", AuditEntry.at > now - LOCKOUT_WINDOW,
        AuditEntry.client.is_(None) if client is None else AuditEntry.client == client[:64])
    on_name = session.scalar(recent.where(AuditEntry.target_id == username)) or 0
    if on_name >= LOCKOUT_FAILURES:
        return True
    return (session.scalar(recent) or 0) >= CLIENT_FAILURES


def authenticate(session: Session, username: str, password: str, now: datetime, client: str | None = None) -> User | None:
    """The user if the password is right and the name is not locked; every attempt is audited."""
    username = (username or "").replace("\x00", "")[:64]
    if locked(session, username, now, client):
        audit.record(session, username or "?", "login_failed", now, target_type="user", target_id=username or "?",
                     detail={"locked": True}, client=client)
        return None
    user = session.scalar(select(User).where(User.username == username))
    ok = security.verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None or not user.active:
        audit.record(session, (username or "?")[:64], "login_failed", now, target_type="user",
                     target_id=(username or "?")[:64], division_code=user.scopes[0] if user else None, client=client)
        return None
    audit.record(session, actor_of(user), "login", now, target_type="user", target_id=user.username,
                 division_code=user.scopes[0], client=client)
    return user


def issue_token(session: Session, user: User, now: datetime) -> tuple[str, datetime]:
    token = security.new_token()
    expires = now + TOKEN_LIFETIME
    session.add(ApiToken(user_id=user.id, token_hash=security.token_digest(token), created_at=now, expires_at=expires))
    return token, expires


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == security.token_digest(token)))
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None


def list_users(session: Session, admin: Actor) -> list[User]:
    if not access.allowed(admin.role, "users.manage"):
        raise Forbidden("只有系统管理员可以管理用户", "ROLE_FORBIDDEN")
    users = session.scalars(select(User).order_by(User.role, User.username))
    return [u for u in users if all(access.in_scope(admin, code) for code in u.scopes)]
