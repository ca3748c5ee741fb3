"""What the events say about one person, kept as bounded, idempotent facts (pure functions, copy-on-write).

A person's facts are a plain dict; each key is present only when known:
  bills    {event_id: [t, out_of_pocket_yuan]}      medical bills in the trailing window (个人自付)
  oop      the sum of the bills' out-of-pocket yuan, kept in step with them
  hosp     {event_id: [t, serious_illness]}         hospitalisations in the trailing window
  dis      [t, event_id, category, grade]           the latest disability certificate (残疾证)
  death    [t, event_id]
  jobloss  [t, event_id]                            the latest job loss / unemployment registration
  fired    [t, event_id, 0, source]                 the latest job loss (失业): ends earned income
  wage     [t, event_id, monthly_yuan, source]      the latest wage announced (employment_started)
  pension  [t, event_id, monthly_yuan, source]      the latest pension announced (pension_started)
  report   [t, event_id, monthly_yuan, source]      the latest income report (the member's total income)
  report_first [t, event_id, monthly_yuan, source]  the earliest income report
  figure_first [t, event_id]                        the earliest wage or pension announced
  jail     [t, event_id]; release [t, event_id]
  assets   {event_id: [t, type, value_yuan]}        property, vehicle, business in the asset window
  servant  [t, event_id]                            hired as a public servant (公职人员)
  disaster {event_id: [t, loss_yuan]}; hotline {event_id: [t, channel]}
  <key>_floor [t, event_id]                         a windowed store over its cap dropped entries up to here
  horizon  [t, ""]                                  the as_of of the household the person came from

Applying the same event twice gives the same facts (keyed by event_id; "latest" compares (t, event_id)),
so redelivery changes nothing, and the income registers keep only the latest (or earliest) figure of
each kind, so their order of arrival does not matter either. `apply_event` returns the very same dict
when nothing changed. How the registers become a monthly income is `member_income` below.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.policy import Policy

DAY = 86_400

_LATEST_KEYS = {
    "death": "death",
    "job_loss": "jobloss",
    "unemployment_registered": "jobloss",
    "incarceration": "jail",
    "release": "release",
    "public_servant_hired": "servant",
}
_INCOME_KINDS = {
    "employment_started": ("wage", "monthly_wage_yuan"),
    "pension_started": ("pension", "monthly_pension_yuan"),
    "income_reported": ("report", "monthly_income_yuan"),
}
_ASSET_TYPES = {"property_acquired": "property", "vehicle_acquired": "vehicle", "business_registered": "business"}


def _later(candidate: list, current: list | None) -> bool:
    return current is None or (candidate[0], candidate[1]) > (current[0], current[1])


def _window_add(facts: dict, key: str, event_id: str, entry: list, cap: int | None = None) -> dict:
    """Add a windowed entry once; over `cap`, the oldest go and `<key>_floor` remembers how far."""
    store = facts.get(key)
    if store is not None and event_id in store:
        return facts
    floor = facts.get(key + "_floor")
    if floor is not None and (entry[0], event_id) <= tuple(floor):
        return facts  # as old as what the cap pushed out: a redelivery, or too old to keep
    store = dict(store) if store else {}
    store[event_id] = entry
    new = dict(facts)
    evicted = False
    if cap is not None and len(store) > cap:  # keep the newest `cap` entries
        ordered = sorted(store, key=lambda eid: (store[eid][0], eid))
        for stale in ordered[: len(store) - cap]:
            new[key + "_floor"] = [store[stale][0], stale]
            del store[stale]
        evicted = True
    new[key] = store
    if key == "bills":
        new["oop"] = _bills_total(store) if evicted else facts.get("oop", 0.0) + entry[1]
    return new


def _bills_total(bills: dict) -> float:
    """The running out-of-pocket total kept beside the bills (`oop`), so readers need not re-add them."""
    total = 0.0
    for entry in bills.values():
        total += entry[1]
    return total


def _set_latest(facts: dict, key: str, entry: list) -> dict:
    if not _later(entry, facts.get(key)):
        return facts
    new = dict(facts)
    new[key] = entry
    return new


def _set_earliest(facts: dict, key: str, entry: list) -> dict:
    current = facts.get(key)
    if current is not None and (entry[0], entry[1]) >= (current[0], current[1]):
        return facts
    new = dict(facts)
    new[key] = entry
    return new


def _add_income(facts: dict, kind: str, entry: list) -> dict:
    """One income figure: the latest of its kind replaces the earlier one; the earliest is remembered."""
    facts = _set_latest(facts, kind, entry)
    if kind == "report":
        return _set_earliest(facts, "report_first", entry)
    return _set_earliest(facts, "figure_first", entry[:2])


def apply_event(facts: dict, event: dict, policy: Policy, as_of: int) -> dict:
    """The person's facts after one validated event; the same object when the event adds nothing."""
    event_type = event["type"]
    t = event["t"]
    event_id = event["event_id"]
    attributes = event["attributes"]
    if event_type == "medical_bill":
        if t < as_of - policy.medical_window_days * DAY:
            return facts
        return _window_add(
            facts, "bills", event_id, [t, float(attributes["out_of_pocket_yuan"])], policy.max_bills_per_person
        )
    if event_type == "hospitalization":
        if t < as_of - policy.medical_window_days * DAY:
            return facts
        return _window_add(facts, "hosp", event_id, [t, bool(attributes.get("serious_illness", False))], 50)
    key = _LATEST_KEYS.get(event_type)
    if key is not None:
        facts = _set_latest(facts, key, [t, event_id])
        if event_type == "job_loss":
            facts = _set_latest(facts, "fired", [t, event_id, 0.0, event.get("source") or ""])
        return facts
    income = _INCOME_KINDS.get(event_type)
    if income is not None:
        kind, attribute = income
        return _add_income(facts, kind, [t, event_id, float(attributes[attribute]), event.get("source") or ""])
    if event_type == "disability_certified":
        return _set_latest(facts, "dis", [t, event_id, attributes["category"], int(attributes["grade"])])
    asset = _ASSET_TYPES.get(event_type)
    if asset is not None:
        if t < as_of - policy.asset_days * DAY:
            return facts
        return _window_add(facts, "assets", event_id, [t, asset, float(attributes.get("value_yuan") or 0.0)], 20)
    if event_type == "disaster":
        if t < as_of - policy.shock_days * DAY:
            return facts
        return _window_add(facts, "disaster", event_id, [t, float(attributes["loss_yuan"])], 20)
    if event_type == "hotline_request":
        if t < as_of - policy.shock_days * DAY:
            return facts
        return _window_add(facts, "hotline", event_id, [t, attributes["channel"]], 20)
    raise ValueError(f"no rule for event type {event_type!r}")  # the validator admits only known types


def prune(facts: dict, policy: Policy, as_of: int) -> dict:
    """Drop windowed entries that fell out of their windows; the same object when nothing is stale."""
    limits = (
        ("bills", as_of - policy.medical_window_days * DAY),
        ("hosp", as_of - policy.medical_window_days * DAY),
        ("assets", as_of - policy.asset_days * DAY),
        ("disaster", as_of - policy.shock_days * DAY),
        ("hotline", as_of - policy.shock_days * DAY),
    )
    new = facts
    for key, oldest in limits:
        store = facts.get(key)
        if not store:
            continue
        if any(entry[0] < oldest for entry in store.values()):
            kept = {eid: entry for eid, entry in store.items() if entry[0] >= oldest}
            if new is facts:
                new = dict(facts)
            if kept:
                new[key] = kept
            else:
                del new[key]
            if key == "bills":
                new["oop"] = _bills_total(kept)
    return new


def oldest_windowed(facts: dict) -> int | None:
    """The earliest time of any windowed entry, to know cheaply whether pruning can change anything."""
    oldest = None
    for key in ("bills", "hosp", "assets", "disaster", "hotline"):
        store = facts.get(key)
        if store:
            first = min(entry[0] for entry in store.values())
            oldest = first if oldest is None or first < oldest else oldest
    return oldest


def merge(first: dict, second: dict) -> dict:
    """Facts of one person gathered in two places, put together (order does not matter)."""
    merged = dict(first)
    for key, value in second.items():
        mine = merged.get(key)
        if mine is None:
            merged[key] = value
        elif key in ("bills", "hosp", "assets", "disaster", "hotline"):
            merged[key] = {**mine, **value}
            if key == "bills":
                merged["oop"] = _bills_total(merged[key])
        elif key == "oop":
            continue  # recomputed with the bills
        elif key.endswith("_floor"):
            merged[key] = max(mine, value)
        elif key.endswith("_first"):
            merged[key] = min(mine, value, key=lambda entry: (entry[0], entry[1]))
        elif _later(value, mine):
            merged[key] = value
    return merged


# --- derived views -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberIncome:
    """What the roster and the income events since say of one member's monthly income (yuan)."""

    current: float  # the member's income now (with their roster share, where the roster gives it)
    replaces_roster_share: bool  # a report stated the member's whole income (a total-only roster's share is replaced)
    first_report: list | None  # the first report since the roster, when no announced figure came before it
    changed: list  # the figures behind it, [t, event_id, monthly_yuan, source, kind], oldest first


def member_income(facts: dict, since: float, roster_share: float | None = None) -> MemberIncome | None:
    """The member's income from the events after `since` (the roster's time), or None when none came.

    DESIGN.md's income rules: a wage or a pension is new since the roster and is added, replacing only
    an earlier wage or pension; a report states the member's total income and replaces every earlier
    figure; a job loss ends the wage and the earned part of the reports (a pension known when the
    report was made stays). The roster's own figure for the member, where it gives one, stands as the
    member's first report. Only the latest figure of each kind is needed to apply these in time order.
    """
    steps = []
    for kind in ("wage", "pension", "report", "fired"):
        entry = facts.get(kind)
        if entry is not None and entry[0] > since:
            steps.append((entry[0], entry[1], kind, entry))
    if not steps:
        return None
    steps.sort(key=lambda step: (step[0], step[1]))
    pension_before = facts.get("pension")
    report = roster_share
    wage = pension = 0.0
    pension_in_report = 0.0
    for _t, _eid, kind, entry in steps:
        if kind == "report":
            known = pension_before if pension_before is not None and pension_before[0] < entry[0] else None
            pension_in_report = known[2] if known is not None else 0.0
            report, wage, pension = entry[2], 0.0, 0.0
        elif kind == "wage":
            wage = entry[2]
        elif kind == "pension":
            pension = entry[2]
        else:  # a job loss: the earned income ends
            wage = 0.0
            if report is not None:
                report = min(report, pension_in_report)
    first = None
    reported = any(kind == "report" for _t, _eid, kind, _entry in steps)
    if reported and roster_share is None:
        report_first = facts.get("report_first")
        if report_first is None or report_first[0] <= since:
            report_first = facts.get("report")
        figure_first = facts.get("figure_first")
        announced_before = any(
            entry is not None and since < entry[0] and (entry[0], entry[1]) < (report_first[0], report_first[1])
            for entry in (figure_first, facts.get("wage"), facts.get("pension"))
        )
        first = None if announced_before else report_first
    return MemberIncome(
        current=(report or 0.0) + wage + pension,
        replaces_roster_share=reported,
        first_report=first,
        changed=[[*entry, kind] for *_, kind, entry in steps],
    )


def is_dead(facts: dict) -> bool:
    return "death" in facts


def is_jailed(facts: dict) -> bool:
    jail = facts.get("jail")
    return jail is not None and _later(jail, facts.get("release"))


def is_unemployed(facts: dict) -> bool:
    """Lost a job or registered as unemployed, and no new wage announced since."""
    jobloss = facts.get("jobloss")
    if jobloss is None:
        return False
    wage = facts.get("wage")
    return wage is None or (wage[0], wage[1]) < (jobloss[0], jobloss[1])


def out_of_pocket(facts: dict) -> float:
    """Out-of-pocket medical costs of the person in the window (个人自付)."""
    return facts.get("oop", 0.0)
