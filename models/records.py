"""Faust records of the wire contract: what travels on the hardship.* topics (JSON).

The JSON Schemas in models/schemas/ describe the same records; tests/test_contract.py keeps the two
from drifting. The scoring core works on plain dicts from models.validation, not on these classes.
"""

from __future__ import annotations

from typing import Any

import faust


class Event(faust.Record, serializer="json", include_metadata=False):
    """A department's record about one person (keyed by person_id on hardship.events)."""

    event_id: str
    source: str
    type: str
    person_id: str
    occurred_at: str
    attributes: dict[str, Any] = {}  # noqa: RUF012 - faust copies defaults


class Member(faust.Record, serializer="json", include_metadata=False):
    person_id: str
    birth_date: str
    relation: str
    monthly_income_yuan: float | None = None  # the member's own monthly income, where the roster gives it


class RegistryRecord(faust.Record, serializer="json", include_metadata=False):
    """One household of the civil-affairs roster (keyed by household_id on hardship.registry)."""

    household_id: str
    division_code: str
    members: list[Member]
    coverage: str  # none / dibao 低保 / tekun 特困 / edge 低保边缘
    monthly_income_yuan: float
    dibao_standard_yuan: float | None = None
    recorded_at: str | None = None
    address: str | None = None  # 住址, optional: for the officer who visits, never scored
    contact_phone: str | None = None  # 联系电话, optional: masked wherever shown


class Filing(faust.Record, serializer="json", include_metadata=False):
    """A close-relative filing 近亲属备案 (keyed by staff_id on hardship.filings)."""

    staff_id: str
    role: str
    division_code: str
    relative_person_ids: list[str]
    filed_at: str | None = None


class Dimensions(faust.Record, serializer="json", include_metadata=False):
    age_structure: float
    economic: float
    health: float
    disability: float
    employment: float
    shock: float


class Reason(faust.Record, serializer="json", include_metadata=False):
    code: str
    text: str  # in Chinese, for the officer
    event_ids: list[str]


class Alert(faust.Record, serializer="json", include_metadata=False):
    """An alert (keyed by household_id on hardship.alerts); alert_id is stable per household, kind, episode."""

    alert_id: str
    household_id: str
    division_code: str
    kind: str  # missed_coverage 漏保 / missed_assistance 漏救 / should_exit 应退 / gradual_exit 渐退 / filed_relative_check 备案核查
    level: int  # 1 blue 蓝 … 4 red 红
    hardship_score: float
    dimensions: Dimensions
    removal_score: float
    reasons: list[Reason]
    policy_version: str
    model_version: str
    event_time: str
    emitted_at: str
    recusal_staff_ids: list[str] = []  # noqa: RUF012 - staff who must not handle it (回避)
    model_score: float | None = None  # the learned model's estimate that a visit confirms it (0–1); None without
    model_reasons: list[str] = []  # noqa: RUF012 - the features that moved it most, in Chinese
    model_features: dict[str, float] | None = None  # the household's features when raised (scoring.model)


class Outcome(faust.Record, serializer="json", include_metadata=False):
    """A workbench decision about an alert (keyed by household_id on hardship.outcomes)."""

    outcome_id: str
    alert_id: str
    household_id: str
    decision: str  # confirmed / dismissed / merged
    decided_by: str
    decided_at: str
    new_coverage: str | None = None
    reason: str | None = None  # required for a dismissal: 书面告知理由
    finding: str | None = None
    visit_method: str | None = None  # home_visit 入户调查 / neighbour_interview 邻里访问 / letter_evidence 信函索证
    visit_finding: str | None = None  # after the visit: confirmed 属实 / not_confirmed 不属实 (the model's label)


RECORDS = {
    "event": Event,
    "registry": RegistryRecord,
    "filing": Filing,
    "alert": Alert,
    "outcome": Outcome,
}
