"""Who may do what (权限): roles, their permissions, division scope and recusal (回避), as pure rules.

Every endpoint asks `can(user, action, division_code)` before it reads or changes a record; the
access-matrix test runs each role in each division against each endpoint through these rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench import divisions

ROLES = ("bureau", "street", "officer", "verifier", "auditor", "admin")

# action -> roles that may perform it (still only inside their divisions)
PERMISSIONS: dict[str, frozenset[str]] = {
    "queue.read": frozenset({"bureau", "street", "verifier", "auditor"}),
    "alert.read": frozenset({"bureau", "street", "officer", "verifier", "auditor"}),
    "alert.triage": frozenset({"bureau", "street"}),
    "task.read": frozenset({"bureau", "street", "officer", "verifier", "auditor"}),
    "task.assign": frozenset({"bureau", "street"}),
    "task.extend": frozenset({"bureau", "street"}),
    "task.visit": frozenset({"officer", "verifier"}),
    "task.review": frozenset({"bureau", "street"}),  # 复核 of the visit record before its outcome is sent
    "letter.print": frozenset({"bureau", "street", "officer"}),  # 书面告知书 of a dismissal or exit
    "filings.read": frozenset({"bureau", "street", "verifier", "auditor"}),  # 备案台账
    "personal.reveal": frozenset({"bureau", "street", "officer", "verifier"}),
    "export": frozenset({"bureau", "street", "auditor"}),
    "training.export": frozenset({"bureau"}),  # the next training set of the learned model (区民政局)
    "stats.read": frozenset({"bureau", "street", "auditor"}),
    "audit.read": frozenset({"auditor"}),
    "users.manage": frozenset({"admin"}),
    "calendar.manage": frozenset({"admin"}),
}

# Roles that handle one kind of alert only. A county verifier checks filed close relatives.
KIND_LIMITS: dict[str, frozenset[str]] = {"verifier": frozenset({"filed_relative_check"})}


@dataclass(frozen=True)
class Actor:
    """The signed-in user as the rules see them."""

    username: str
    role: str
    scopes: tuple[str, ...]
    staff_id: str | None = None


def allowed(role: str, action: str) -> bool:
    return role in PERMISSIONS.get(action, frozenset())


def in_scope(actor: Actor, division_code: str) -> bool:
    return divisions.covered(actor.scopes, division_code)


def kind_allowed(actor: Actor, kind: str) -> bool:
    limit = KIND_LIMITS.get(actor.role)
    return limit is None or kind in limit


def recused(actor: Actor, recusal_staff_ids: list[str] | tuple[str, ...] | None) -> bool:
    """A filed close relative of a member never handles the household (回避)."""
    return bool(actor.staff_id) and actor.staff_id in (recusal_staff_ids or ())


def can(actor: Actor, action: str, division_code: str, *, kind: str | None = None,
        recusal_staff_ids: list[str] | tuple[str, ...] | None = None) -> bool:
    """The one question every endpoint asks about one record."""
    if not allowed(actor.role, action) or not in_scope(actor, division_code):
        return False
    if kind is not None and not kind_allowed(actor, kind):
        return False
    if action in {"alert.triage", "task.assign", "task.extend", "task.visit", "task.review", "personal.reveal"} and recused(
        actor, recusal_staff_ids
    ):
        return False
    return True


# who may see a roster's contact phone in full (联系电话明文), besides holding an open task of the household
CONTACT_REVEAL_ROLES = frozenset({"bureau"})
CONTACT_TASK_ROLES = frozenset({"officer", "verifier"})


def may_reveal_contact(actor: Actor, division_code: str, *, holds_open_task: bool,
                       recusal_staff_ids: list[str] | tuple[str, ...] | None = None) -> bool:
    """The roster's phone in full: the district bureau, or the officer (verifier) who holds an open visit task of the
    household; inside their divisions, never a filed close relative (回避). The street office, auditors and
    administrators see it masked."""
    if not in_scope(actor, division_code) or recused(actor, recusal_staff_ids):
        return False
    return actor.role in CONTACT_REVEAL_ROLES or (actor.role in CONTACT_TASK_ROLES and holds_open_task)


def may_manage_scope(admin: Actor, scopes: list[str]) -> bool:
    """An administrator creates users only inside their own divisions."""
    return allowed(admin.role, "users.manage") and all(in_scope(admin, code) for code in scopes)


def eligible_assignee(kind: str, role: str, scopes: tuple[str, ...] | list[str], division_code: str,
                      staff_id: str | None, recusal_staff_ids: list[str] | tuple[str, ...] | None, active: bool = True) -> bool:
    """Who may receive a visit task: the household's community officer, or for a filed relative the county verifier.

    Never a filed close relative of a member (回避).
    """
    if not active:
        return False
    if staff_id and staff_id in (recusal_staff_ids or ()):
        return False
    if kind == "filed_relative_check":
        return role == "verifier" and any(
            divisions.level(scope) in {"province", "city", "county"} and divisions.contains(scope, division_code)
            for scope in scopes
        )
    return role == "officer" and any(
        divisions.level(scope) == "community" and divisions.contains(scope, division_code) for scope in scopes
    )
