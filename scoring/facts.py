"""What the events say about one person, kept as bounded, idempotent facts (pure functions, copy-on-write).

A person's facts are a plain dict; each key is present only when known:
  bills    {event_id: [t, out_of_pocket_yuan]}      medical bills in the trailing window (个人自付)
  oop      the sum of the bills' out-of-pocket yuan, kept in step with them
  hosp     {event_id: [t, serious_illness]}         hospitalisations in the trailing window
  dis      [t, event_id, category, grade]           the latest disability certificate (残疾证)
  death    [t, event_id]
  jobloss  [t, event_id]                            the latest job loss / unemployment registration
  income   [[t, event_id, kind, monthly_yuan], …]   the newest income facts, oldest first (kind: wage,
                                                    pension, reported, jobloss); older ones are folded
  income_base [t, wage, pension, reported]          into this summary, so the list stays short
  jail     [t, event_id]; release [t, event_id]
  assets   {event_id: [t, type, value_yuan]}        property, vehicle, business in the asset window
  servant  [t, event_id]                            hired as a public servant (公职人员)
  disaster {event_id: [t, loss_yuan]}; hotline {event_id: [t, channel]}
  <key>_floor [t, event_id]                         a windowed store over its cap dropped entries up to here
  horizon  [t, ""]                                  the as_of of the household the person came from

Applying the same event twice gives the same facts (keyed by event_id; "latest" compares (t, event_id)),
so redelivery changes nothing. `apply_event` returns the very same dict when nothing changed.
"""

from __future__ import annotations

from scoring.policy import Policy

DAY = 86_400
INCOME_FACTS_KEPT = 8

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
    "income_reported": ("reported", "monthly_income_yuan"),
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


def _fold(state: list, kind: str, value: float) -> list:
    """One income fact applied to [wage, pension, reported]."""
    wage, pension, reported = state
    if kind == "wage":
        return [value, pension, None]
    if kind == "jobloss":
        return [0.0, pension, None]
    if kind == "pension":
        return [wage, value, None]
    return [wage, pension, value]


def _add_income(facts: dict, entry: list) -> dict:
    """Keep the newest income facts; older ones fold into `income_base` [t, wage, pension, reported]."""
    base = facts.get("income_base")
    if base is not None and entry[0] <= base[0]:
        return facts  # older than what was folded away: already counted or superseded
    current = facts.get("income") or []
    for existing in current:
        if existing[1] == entry[1]:
            return facts
    merged = sorted([*current, entry], key=lambda item: (item[0], item[1]))
    new = dict(facts)
    if len(merged) > INCOME_FACTS_KEPT:
        oldest = merged.pop(0)
        state = _fold(base[1:] if base else [0.0, 0.0, None], oldest[2], oldest[3])
        new["income_base"] = [oldest[0], *state]
    new["income"] = merged
    return new


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
        if key == "jobloss":
            facts = _add_income(facts, [t, event_id, "jobloss", 0.0])
        return facts
    income = _INCOME_KINDS.get(event_type)
    if income is not None:
        kind, attribute = income
        return _add_income(facts, [t, event_id, kind, float(attributes[attribute])])
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
        elif key == "income":
            combined = {entry[1]: entry for entry in [*mine, *value]}
            merged[key] = sorted(combined.values(), key=lambda item: (item[0], item[1]))[-INCOME_FACTS_KEPT:]
        elif key.endswith("_floor") or key == "income_base":
            merged[key] = max(mine, value)
        elif _later(value, mine):
            merged[key] = value
    return merged


# --- derived views -----------------------------------------------------------------------------


def income_at(facts: dict, until: float | None = None) -> float:
    """The person's monthly income from the income facts up to `until` (None: all of them)."""
    base = facts.get("income_base")
    state = base[1:] if base else [0.0, 0.0, None]
    for t, _eid, kind, value in facts.get("income") or ():
        if until is not None and t > until:
            break
        state = _fold(state, kind, value)
    wage, pension, reported = state
    return reported if reported is not None else wage + pension


def income_changed_after(facts: dict, since: float) -> bool:
    """Whether any income fact is newer than `since` (the roster's time)."""
    income = facts.get("income")
    return bool(income) and income[-1][0] > since


def is_dead(facts: dict) -> bool:
    return "death" in facts


def is_jailed(facts: dict) -> bool:
    jail = facts.get("jail")
    return jail is not None and _later(jail, facts.get("release"))


def is_unemployed(facts: dict) -> bool:
    jobloss = facts.get("jobloss")
    if jobloss is None:
        return False
    for t, eid, kind, _value in facts.get("income") or ():
        if kind == "wage" and (t, eid) > (jobloss[0], jobloss[1]):
            return False
    return True


def out_of_pocket(facts: dict) -> float:
    """Out-of-pocket medical costs of the person in the window (个人自付)."""
    return facts.get("oop", 0.0)
