"""A policy change compared on the same history (政策回测): which families gain or lose an alert, and at what cost.

Pure functions over plain data: each run is a list of alerts (what `hardship replay` writes) under one
policy; the comparison counts alerts by kind and level, lists households that gain, lose or change an
alert with their reasons under each policy, the workload per street and community, and, given truth
or visit outcomes, how right each policy is. `hardship backtest` is the shell that replays and prints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scoring.evaluation import KINDS, evaluate
from scoring.household import parse_alert_id

EXAMPLES = 20


@dataclass
class Run:
    """The alerts of one policy over the history."""

    label: str
    policy_version: str
    alerts: list[dict]
    finals: dict[tuple[str, str], dict] = field(default_factory=dict)  # (household, kind) -> its last alert
    alert_ids: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for alert in self.alerts:
            key = (alert["household_id"], alert["kind"])
            self.finals[key] = alert
            self.alert_ids.setdefault(key, set()).add(alert["alert_id"])

    def by_kind_and_level(self) -> Counter:
        """Alerts (distinct alert_ids, at the last level each reached) by (kind, level)."""
        last: dict[str, dict] = {}
        for alert in self.alerts:
            last[alert["alert_id"]] = alert
        return Counter((a["kind"], a["level"]) for a in last.values())


def _codes(alert: dict) -> list[str]:
    return sorted({reason["code"] for reason in alert.get("reasons", [])})


def _brief(alert: dict | None) -> dict | None:
    if alert is None:
        return None
    return {"alert_id": alert["alert_id"], "level": alert["level"], "hardship_score": alert.get("hardship_score"),
            "removal_score": alert.get("removal_score"),
            "reasons": [{"code": r["code"], "text": r["text"]} for r in alert.get("reasons", [])]}


def changes(base: Run, other: Run) -> dict:
    """Households and kinds that `other` gains, loses or changes against `base`, with examples."""
    gained = sorted(set(other.finals) - set(base.finals))
    lost = sorted(set(base.finals) - set(other.finals))
    changed = sorted(
        key for key in set(base.finals) & set(other.finals)
        if base.finals[key]["level"] != other.finals[key]["level"] or _codes(base.finals[key]) != _codes(other.finals[key])
    )

    def examples(keys: list[tuple[str, str]]) -> list[dict]:
        return [{"household_id": h, "kind": k, base.label: _brief(base.finals.get((h, k))),
                 other.label: _brief(other.finals.get((h, k)))} for h, k in keys[:EXAMPLES]]

    return {
        "against": base.label,
        "policy": other.label,
        "gained": len(gained), "lost": len(lost), "changed": len(changed),
        "gained_by_kind": dict(Counter(k for _, k in gained)),
        "lost_by_kind": dict(Counter(k for _, k in lost)),
        "changed_by_kind": dict(Counter(k for _, k in changed)),
        "gained_examples": examples(gained), "lost_examples": examples(lost), "changed_examples": examples(changed),
    }


def workload(run: Run, households_by_division: Counter, months: float, officers_per_community: float) -> dict:
    """Per street (9 digits) and community (12 digits): households, flagged households × kinds,
    alerts per 1,000 households and visits per officer-month (one visit per flagged household and kind)."""
    flagged = Counter()
    for (household_id, _kind), alert in run.finals.items():
        flagged[alert.get("division_code") or household_id] += 1
    communities = set(households_by_division) | set(flagged)
    out: dict[str, dict] = {"communities": {}, "streets": {}}
    street_households: Counter = Counter()
    street_flagged: Counter = Counter()
    street_communities: Counter = Counter()
    for division in sorted(communities):
        households = households_by_division.get(division, 0)
        count = flagged.get(division, 0)
        out["communities"][division] = _rates(households, count, months, officers_per_community)
        street = division[:9]
        street_households[street] += households
        street_flagged[street] += count
        street_communities[street] += 1
    for street in sorted(street_households):
        out["streets"][street] = _rates(street_households[street], street_flagged[street], months,
                                        officers_per_community * street_communities[street])
    return out


def _rates(households: int, flagged: int, months: float, officers: float) -> dict:
    return {
        "households": households,
        "flagged": flagged,
        "per_1000_households": round(1000 * flagged / households, 1) if households else None,
        "visits_per_officer_month": round(flagged / (officers * months), 2) if officers and months else None,
    }


def visited_precision(run: Run, outcomes: list[dict]) -> dict:
    """Of the households and kinds a home visit checked, those this policy flags and the share confirmed."""
    findings: dict[tuple[str, str], bool] = {}
    for outcome in outcomes:
        finding = outcome.get("visit_finding")
        parsed = parse_alert_id(outcome.get("alert_id", ""))
        if finding not in ("confirmed", "not_confirmed") or parsed is None:
            continue
        findings[(parsed[0], parsed[1])] = finding == "confirmed"
    flagged = [confirmed for key, confirmed in findings.items() if key in run.finals]
    return {
        "visited": len(findings),
        "visited_and_flagged": len(flagged),
        "confirmed": sum(flagged),
        "confirmed_share": round(sum(flagged) / len(flagged), 4) if flagged else None,
    }


def compare(runs: list[Run], households_by_division: Counter, months: float, officers_per_community: float = 1.0,
            truth: list[dict] | None = None, outcomes: list[dict] | None = None) -> dict:
    """Everything the report shows, as plain data (the JSON of `hardship backtest`)."""
    base = runs[0]
    report: dict = {"runs": [], "changes": [changes(base, other) for other in runs[1:]], "months": round(months, 2),
                    "officers_per_community": officers_per_community}
    for run in runs:
        entry = {
            "label": run.label,
            "policy_version": run.policy_version,
            "alerts": len({a["alert_id"] for a in run.alerts}),
            "households_flagged": len({h for h, _ in run.finals}),
            "by_kind": {kind: len([k for k in run.finals if k[1] == kind]) for kind in KINDS},
            "by_kind_and_level": {f"{kind}/{level}": n for (kind, level), n in sorted(run.by_kind_and_level().items())},
            "workload": workload(run, households_by_division, months, officers_per_community),
        }
        if truth is not None:
            result = evaluate(truth, run.alerts)
            entry["detection"] = {
                "overall": result.overall(),
                "kinds": {k: {"recall": f.recall, "precision": f.precision, "true_positives": f.true_positives,
                              "misses": f.misses, "false_alarms": f.false_alarms}
                          for k, f in result.kinds.items()},
            }
        if outcomes is not None:
            entry["visits"] = visited_precision(run, outcomes)
        report["runs"].append(entry)
    return report
