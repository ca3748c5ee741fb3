"""Demo users (演示账号) for one community: one of each role, scoped to its county, street or community."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench import divisions, security, users
from workbench.tables import User


def demo_accounts(division_code: str) -> list[dict]:
    """The accounts for a 12-digit community code such as 420106002003."""
    if not divisions.is_division_code(division_code) or divisions.level(division_code) != "community":
        raise ValueError(f"give a 12-digit community code such as 420106002003, not {division_code!r}")
    county = division_code[:6] + "000000"
    street = division_code[:9] + "000"
    tag = division_code[-6:]
    return [
        {"username": f"bureau{tag}", "display_name": "区民政局 王科长", "role": "bureau", "scopes": [county], "staff_id": f"S{tag}01"},
        {"username": f"street{tag}", "display_name": "街道 李主任", "role": "street", "scopes": [street], "staff_id": f"S{tag}02"},
        {"username": f"officer{tag}a", "display_name": "社区专干 张敏", "role": "officer", "scopes": [division_code], "staff_id": f"S{tag}03"},
        {"username": f"officer{tag}b", "display_name": "社区专干 刘洋", "role": "officer", "scopes": [division_code], "staff_id": f"S{tag}04"},
        {"username": f"verifier{tag}", "display_name": "县级核查员 陈静", "role": "verifier", "scopes": [county], "staff_id": f"S{tag}05"},
        {"username": f"auditor{tag}", "display_name": "纪检 赵监督", "role": "auditor", "scopes": [county], "staff_id": f"S{tag}06"},
        {"username": f"admin{tag}", "display_name": "系统管理员", "role": "admin", "scopes": [county], "staff_id": None},
    ]


def seed_demo_users(session: Session, division_code: str, now: datetime, password: str | None = None) -> list[dict]:
    """Create (or reset the password of) the demo accounts; returns them with their passwords."""
    logins = []
    for account in demo_accounts(division_code):
        secret = password or security.new_password()
        user = session.scalar(select(User).where(User.username == account["username"]))
        if user is None:
            users.create_user(session, None, password=secret, now=now, **account)
        else:
            users.set_password(session, user, secret)
        logins.append(dict(account, password=secret))
    return logins
