"""Detection measured against ground truth (检出评估): recall, precision, lead time, examples, per alert kind.

Pure functions over plain data, used by `hardship evaluate`, the CI detection test and the backtest.
A truth row names a household and the alert kinds that must be raised for it, each with the time it
became knowable from the inputs; a kind whose cause no input shows is marked unobservable and is
neither a miss nor, when alerted, a false alarm. Alerts are counted per household and kind: a
re-sent `alert_id` is an update of the same alert, a new `alert_id` of the same kind is a new episode.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

KINDS = ("missed_coverage", "missed_assistance", "should_exit", "gradual_exit", "filed_relative_check")
# older truth files name kinds by their labels
_LABEL_KINDS = {
    "should_be_covered": "missed_coverage",
    "filed_relative": "filed_relative_check",
    "should_assist": "missed_assistance",
}
EXAMPLES_PER_KIND = 10


@dataclass(frozen=True)
class Truth:
    household_id: str
    kind: str
    knowable_at: float | None  # epoch seconds
    observable: bool
    reason: str | None = None
    event_ids: tuple[str, ...] = ()


@dataclass
class KindFigures:
    kind: str
    true_positives: int = 0
    misses: int = 0
    false_alarms: int = 0
    unobservable_alerted: int = 0
    alerts: int = 0  # distinct alert_ids
    households_alerted: int = 0
    lead_days: list[float] = field(default_factory=list)
    miss_examples: list[dict] = field(default_factory=list)
    false_alarm_examples: list[dict] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        expected = self.true_positives + self.misses
        return self.true_positives / expected if expected else None

    @property
    def precision(self) -> float | None:
        raised = self.true_positives + self.false_alarms
        return self.true_positives / raised if raised else None

    @property
    def alerts_per_household(self) -> float | None:
        return self.alerts / self.households_alerted if self.households_alerted else None

    def lead(self, quantile: float) -> float | None:
        if not self.lead_days:
            return None
        ordered = sorted(self.lead_days)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "true_positives": self.true_positives,
            "misses": self.misses,
            "false_alarms": self.false_alarms,
            "unobservable_alerted": self.unobservable_alerted,
            "recall": self.recall,
            "precision": self.precision,
            "alerts": self.alerts,
            "households_alerted": self.households_alerted,
            "alerts_per_household": self.alerts_per_household,
            "lead_days_median": statistics.median(self.lead_days) if self.lead_days else None,
            "lead_days_p95": self.lead(0.95),
            "miss_examples": self.miss_examples,
            "false_alarm_examples": self.false_alarm_examples,
        }


@dataclass
class Evaluation:
    kinds: dict[str, KindFigures]
    households_in_truth: int
    alerts_read: int
    deadletters_by_reason: Counter

    def overall(self) -> dict:
        tp = sum(k.true_positives for k in self.kinds.values())
        misses = sum(k.misses for k in self.kinds.values())
        false_alarms = sum(k.false_alarms for k in self.kinds.values())
        leads = [d for k in self.kinds.values() for d in k.lead_days]
        return {
            "true_positives": tp,
            "misses": misses,
            "false_alarms": false_alarms,
            "recall": tp / (tp + misses) if tp + misses else None,
            "precision": tp / (tp + false_alarms) if tp + false_alarms else None,
            "lead_days_median": statistics.median(leads) if leads else None,
            "lead_days_p95": sorted(leads)[min(len(leads) - 1, int(0.95 * len(leads)))] if leads else None,
        }

    def as_dict(self) -> dict:
        return {
            "overall": self.overall(),
            "kinds": {kind: figures.as_dict() for kind, figures in self.kinds.items()},
            "households_in_truth": self.households_in_truth,
            "alerts_read": self.alerts_read,
            "deadletters": sum(self.deadletters_by_reason.values()),
            "deadletters_by_reason": dict(self.deadletters_by_reason),
        }


def _epoch(value: object) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    if len(text) == 10:  # a bare date: that day in China Standard Time
        text += "T00:00:00+08:00"
    return datetime.fromisoformat(text).timestamp()


def truth_entries(row: dict) -> list[Truth]:
    """The kinds one truth row asks for. Accepts the simulator's rows (`kinds`), rows with labelled
    `episodes`, and flat rows of one household and one kind."""
    household_id = row["household_id"]
    if "kinds" in row:
        items = row["kinds"]
    elif "episodes" in row:
        items = row["episodes"]
    elif "kind" in row or "label" in row:
        items = [row]
    else:
        items = []
    entries: dict[str, Truth] = {}
    for item in items:
        kind = item.get("kind") or _LABEL_KINDS.get(item.get("label"), item.get("label"))
        if kind not in KINDS:
            continue
        when = _epoch(item.get("knowable_at") or item.get("at") or item.get("became_true_at"))
        observable = item.get("observable", True) is not False
        entry = Truth(household_id, kind, when, observable, item.get("reason"), tuple(item.get("event_ids") or ()))
        earlier = entries.get(kind)
        # the first observable episode of a kind decides when it became knowable
        if earlier is None or (entry.observable and not earlier.observable) or (
            entry.observable == earlier.observable and (entry.knowable_at or 0) < (earlier.knowable_at or 0)
        ):
            entries[kind] = entry
    return list(entries.values())


def evaluate(truth_rows: list[dict], alerts: list[dict], deadletters: list[dict] = (),
             inputs_of=None) -> Evaluation:
    """Score alerts against truth. `inputs_of(household_id)` may give the household's inputs for examples."""
    expected: dict[tuple[str, str], Truth] = {}
    households = set()
    for row in truth_rows:
        households.add(row["household_id"])
        for entry in truth_entries(row):
            expected[(entry.household_id, entry.kind)] = entry
    first_alert: dict[tuple[str, str], dict] = {}
    alert_ids: dict[tuple[str, str], set[str]] = {}
    for alert in alerts:
        key = (alert["household_id"], alert["kind"])
        alert_ids.setdefault(key, set()).add(alert["alert_id"])
        held = first_alert.get(key)
        if held is None or (_epoch(alert.get("event_time")) or 0) < (_epoch(held.get("event_time")) or 0):
            first_alert[key] = alert
    figures = {kind: KindFigures(kind) for kind in KINDS}
    for (_household_id, kind), ids in alert_ids.items():
        if kind in figures:
            figures[kind].alerts += len(ids)
            figures[kind].households_alerted += 1
    for key, truth in sorted(expected.items()):
        kind_figures = figures[truth.kind]
        alert = first_alert.get(key)
        if not truth.observable:
            if alert is not None:
                kind_figures.unobservable_alerted += 1
            continue
        if alert is None:
            kind_figures.misses += 1
            if len(kind_figures.miss_examples) < EXAMPLES_PER_KIND:
                example = {"household_id": truth.household_id, "truth_reason": truth.reason,
                           "truth_event_ids": list(truth.event_ids), "knowable_at": truth.knowable_at}
                if inputs_of is not None:
                    example["inputs"] = inputs_of(truth.household_id)
                kind_figures.miss_examples.append(example)
            continue
        kind_figures.true_positives += 1
        raised = _epoch(alert.get("event_time"))
        if raised is not None and truth.knowable_at is not None:
            kind_figures.lead_days.append(round((raised - truth.knowable_at) / 86_400, 3))
    for key, alert in sorted(first_alert.items()):
        if key in expected or key[1] not in figures:
            continue
        kind_figures = figures[key[1]]
        kind_figures.false_alarms += 1
        if len(kind_figures.false_alarm_examples) < EXAMPLES_PER_KIND:
            example = {"household_id": key[0], "alert_id": alert["alert_id"], "level": alert.get("level"),
                       "reasons": [{"code": r["code"], "text": r["text"]} for r in alert.get("reasons", [])]}
            if inputs_of is not None:
                example["inputs"] = inputs_of(key[0])
            kind_figures.false_alarm_examples.append(example)
    reasons = Counter((letter.get("reason") or letter.get("code") or "UNKNOWN") for letter in deadletters)
    return Evaluation(figures, len(households), len(alerts), reasons)
