"""Simulated visit findings (模拟入户核查结果): the outcomes a district's officers would record, from the simulator's truth.

The learned model (scoring/model) trains on the `visit_finding` of outcomes. Before any real visit
exists, `hardship simulate` writes `outcomes.jsonl` from what it knows of every household, so that
the loop (simulate → replay → model train → replay --model) runs on day one. The simulator never
runs the scorer (its truth stays independent of it), so it cannot know which alerts the rules will
raise: it writes the outcome a visit would record for each household and each alert kind that could
be raised for it (漏保/漏救 for an uncovered household, 应退/渐退/备案核查 for a covered one), under the
alert id of the first episode (`household_id/kind/1`, scoring.household.alert_id). `hardship model
train` keeps those whose alert_id an alert carries; the rest describe visits that never happened.

What a visit finds is the household's real (latent) situation, not what the inputs reveal: a kind
that the inputs suggest but the latent state denies is `not_confirmed`; one that the latent state
holds though no input shows it is `confirmed`. Rates (documented in docs/model.md, all deterministic
per seed and alert id):
- VISIT_RATE of the alerts are visited (入户调查 mostly, some 邻里访问 or 信函索证) and get a finding;
- DISMISS_RATE are dismissed at triage with a written reason (no finding: not a label);
- the rest are still open (no outcome);
- a finding disagrees with the truth at a base rate (DISAGREE_RATE: the situation changed between the
  data and the visit, or the officer saw it differently), and more often where the data are known to
  be weak: an uncovered household whose per-capita income the data put near the standard often has
  informal income (隐性收入) that the visit finds (up to HIDDEN_INCOME_RATE at the standard), and an
  exit that rests on a new wage often finds the job already gone (SHORT_JOB_RATE: temporary work).
  These are what the model can learn from the features; the base rate it cannot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime

from models.validation import CHINA_STANDARD_TIME

VISIT_RATE = 0.80
DISMISS_RATE = 0.08
DISAGREE_RATE = 0.03
HIDDEN_INCOME_RATE = 0.55  # uncovered, per-capita income at the standard: the visit finds income over it
HIDDEN_INCOME_FROM = 0.5  # … rising from 0 at this share of the standard
SHORT_JOB_RATE = 0.35  # an exit on a new wage: the visit finds the job already ended
VISIT_METHODS = (("home_visit", 0.85), ("neighbour_interview", 0.10), ("letter_evidence", 0.05))
UNCOVERED_KINDS = ("missed_coverage", "missed_assistance")
COVERED_KINDS = ("should_exit", "gradual_exit", "filed_relative_check")
_DAY = 86_400


def _unit(seed: int, alert_id: str, purpose: str) -> float:
    """A number in [0, 1) fixed by the seed, the alert id and the purpose."""
    digest = hashlib.blake2b(f"{seed}/{purpose}/{alert_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _method(draw: float) -> str:
    for method, share in VISIT_METHODS:
        if draw < share:
            return method
        draw -= share
    return VISIT_METHODS[0][0]


def kinds_for(coverage: str, provisional: bool) -> tuple[str, ...]:
    if provisional:
        return ("missed_coverage",)
    return COVERED_KINDS if coverage in ("dibao", "tekun") else UNCOVERED_KINDS


def disagreement(kind: str, real: bool, income_ratio: float | None, wage_evidence: bool) -> float:
    """The chance that the visit's finding differs from the truth (see the module's docstring)."""
    rate = DISAGREE_RATE
    if real and kind in UNCOVERED_KINDS and income_ratio is not None:
        near = (income_ratio - HIDDEN_INCOME_FROM) / (1.0 - HIDDEN_INCOME_FROM)
        rate += HIDDEN_INCOME_RATE * min(1.0, max(0.0, near))
    if real and kind in ("should_exit", "gradual_exit") and wage_evidence:
        rate += SHORT_JOB_RATE
    return min(rate, 0.95)


def simulated_outcomes(households: Iterable[dict], seed: int, end_epoch: int) -> Iterator[dict]:
    """Outcome records (wire contract, with `visit_finding`) for household rows {household_id, coverage,
    latent (kinds the latent state holds), since {kind: epoch it became true}, income_ratio (per-capita
    income over the standard as the data show it, or None), wage_evidence (a new wage in the
    household)}: one per household and possible kind, under the first episode's alert id."""
    for row in households:
        household_id, coverage, latent, since = row["household_id"], row["coverage"], row["latent"], row["since"]
        for kind in kinds_for(coverage, household_id.startswith("person:")):
            alert = f"{household_id}/{kind}/1"
            draw = _unit(seed, alert, "triage")
            if draw >= VISIT_RATE + DISMISS_RATE:
                continue  # not decided yet
            start = since.get(kind, end_epoch - 30 * _DAY)
            decided = min(end_epoch, start + int(3 + 25 * _unit(seed, alert, "delay")) * _DAY)
            record = {
                "outcome_id": f"sim-{seed}-{alert}",
                "alert_id": alert,
                "household_id": household_id,
                "decided_by": f"sim-officer-{int(_unit(seed, household_id, 'officer') * 40):02d}",
                "decided_at": datetime.fromtimestamp(decided, CHINA_STANDARD_TIME).isoformat(),
                "new_coverage": None,
                "reason": None,
                "finding": None,
                "visit_method": None,
            }
            if draw >= VISIT_RATE:
                record.update(decision="dismissed", reason="经书面核对，情况已掌握，无需入户（模拟）")
                yield record
                continue
            real = kind in latent
            if _unit(seed, alert, "disagree") < disagreement(kind, real, row.get("income_ratio"),
                                                             bool(row.get("wage_evidence"))):
                real = not real
            method = _method(_unit(seed, alert, "method"))
            record.update(
                decision="confirmed",
                visit_method=method,
                visit_finding="confirmed" if real else "not_confirmed",
                finding="入户核查属实（模拟）" if real else "入户核查不属实（模拟）",
            )
            yield record
