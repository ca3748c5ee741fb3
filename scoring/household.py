"""The household core: pure functions from (household state, one input) to (new state, alerts).

A household state is a plain, JSON-serialisable dict, the same in a Faust table, in `hardship replay`
and in the tests:
  id, provisional (a person on no roster: id "person:<resident ID>"), division, coverage, income
  (roster monthly income, None if unknown), member_incomes {person_id: the roster's monthly income of
  that member, where the roster gives it}, standard (override of the policy's dibao standard),
  roster_t (time of the roster record), members {person_id: [birth_date, relation]},
  facts {person_id: person facts (scoring.facts)}, filed {person_id: [staff_id, …]},
  as_of (latest event time), next_prune (when a windowed fact next expires),
  episodes {kind: [number, open, level, evidence]}, dismissed {kind: evidence already decided on},
  gradual_until (end of a confirmed 渐退期), quiet and bound (what the last full assessment leaves for
  the shortcuts of `_quiet`: plain lists, or None; `bound` is absent from states no assessment wrote it to).
Inputs are never changed; unchanged parts are shared between the old and the new state. An input
that changes nothing returns the very same state object and no alerts, which is what makes
redelivery and replay harmless.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from models.validation import CHINA_STANDARD_TIME
from scoring import facts as F
from scoring.assess import (
    Assessment,
    after_medical_ratio,
    assess,
    economic_score,
    health_score,
    household_income_yuan,
)
from scoring.facts import DAY
from scoring.policy import Policy
from scoring.reasons import resolved

PROVISIONAL_PREFIX = "person:"
ALERT_KINDS = ("missed_coverage", "missed_assistance", "should_exit", "gradual_exit", "filed_relative_check")
_WINDOW_KEYS = ("bills", "hosp", "assets", "disaster", "hotline")


class Step(NamedTuple):
    """What one input did: the household's new state and the alerts it raised (or updated).

    A named tuple, not a frozen dataclass: one is made per input, and it is several times cheaper."""

    state: dict
    alerts: list[dict]
    assessment: Assessment | None = None


def new_household(household_id: str) -> dict:
    return {
        "id": household_id,
        "provisional": household_id.startswith(PROVISIONAL_PREFIX),
        "division": None,
        "coverage": "none",
        "income": None,
        "member_incomes": {},
        "standard": None,
        "roster_t": None,
        "roster_key": None,
        "members": {},
        "facts": {},
        "filed": {},
        "as_of": 0,
        "next_prune": None,
        "episodes": {},
        "dismissed": {},
        "gradual_until": None,
        "quiet": None,
    }


def provisional_household(person_id: str, facts: dict | None = None) -> dict:
    """A household of one for a person on no roster, so that a strong signal still reaches an officer.

    `facts` are what is already known of the person (one who left a roster household keeps them).
    """
    state = new_household(PROVISIONAL_PREFIX + person_id)
    state["division"] = person_id[:6] + "000000"  # the county of the ID's area code
    state["members"] = {person_id: [f"{person_id[6:10]}-{person_id[10:12]}-{person_id[12:14]}", "head"]}
    if facts:
        state["facts"] = {person_id: facts}
        state["as_of"] = _latest_fact_time(facts)
        state["next_prune"] = 0
    return state


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, CHINA_STANDARD_TIME).isoformat()


# --- inputs ------------------------------------------------------------------------------------


def apply_event(state: dict, event: dict, policy: Policy, shortcut: bool = True) -> Step:
    """A validated event about a member (or the person of a provisional household).

    With `shortcut`, an event that provably changes no alert skips the full assessment (see `_quiet`).
    """
    person_id = event["person_id"]
    if person_id not in state["members"]:
        raise KeyError(f"person {person_id[:6]}… is not a member of household {state['id']}")
    as_of = state["as_of"]
    person = state["facts"].get(person_id) or {}
    updated = F.apply_event(person, event, policy, as_of)
    t = event["t"]
    if updated is person and t <= as_of:
        return Step(state, [])
    new = dict(state)
    if updated is not person:
        all_facts = dict(state["facts"])
        all_facts[person_id] = updated
        new["facts"] = all_facts
        if event["type"] in _WINDOWED_TYPES:
            expiry = t + _window_days(event["type"], policy) * DAY
            if new["next_prune"] is None or expiry < new["next_prune"]:
                new["next_prune"] = expiry
    pruned = False
    if t > as_of:
        new["as_of"] = t
        if new["next_prune"] is not None and t >= new["next_prune"]:
            _prune(new, policy)
            pruned = True
    if shortcut and not pruned and _quiet(state, new, event, updated, policy):
        return Step(new, [])
    return decide(new, policy, event["occurred_at"])


# Event types that touch only the hardship dimensions, never the removal score.
_HARDSHIP_ONLY_TYPES = frozenset(
    {"medical_bill", "hospitalization", "disability_certified", "disaster", "hotline_request"}
)


def _quiet(before: dict, after: dict, event: dict, person: dict, policy: Policy) -> bool:
    """True when the event provably changes no alert, so the full assessment can be skipped.

    The bulk of a stream is small bills and monthly income reports of households far from any line.
    `quiet` is [oop_total, oop_limit, members_counted, standard, income], left by the last full
    assessment of a household that had no alert kind called (uncovered) or no removal evidence at
    all (covered). A covered household's alerts rest on income, assets and status, which
    hardship-only events do not touch. An uncovered household's findings (漏保, 漏救) rest on its
    income, its members and the out-of-pocket and disaster totals: a bill that keeps the total under
    the limit the last assessment left, a hospital stay, a hotline call or an income report that
    leaves the income where it was cannot change them. `test_shortcut_changes_nothing` checks all
    of this against the full path.
    """
    event_type = event["type"]
    covered = after["coverage"] in ("dibao", "tekun") and not after["provisional"]
    if covered and event_type in _HARDSHIP_ONLY_TYPES:
        until = after["gradual_until"]
        return until is None or after["as_of"] < until
    if event_type == "medical_bill" and not covered and not after["provisional"]:
        bound = before.get("bound")
        if bound is not None:
            return _level_holds(after, bound, policy)
    quiet = before.get("quiet")
    if quiet is None:
        return False
    if after["provisional"]:
        return _quiet_provisional(before, event, person, policy)
    if event_type == "income_reported":
        earlier = before["facts"].get(event["person_id"])
        if person is earlier:
            return True
        # the routine case: a monthly report that states what the member's figures already said
        since = after["roster_t"] or 0
        share = (after.get("member_incomes") or {}).get(event["person_id"])
        if earlier and _same_report(earlier, person, since, share):
            return True
        old = F.member_income(earlier, since, share) if earlier else None
        new = F.member_income(person, since, share)
        if old is not None and new is not None and old.current == new.current and \
                old.replaces_roster_share == new.replaces_roster_share and old.first_report == new.first_report:
            return True
        income = household_income_yuan(after)
        return income is not None and income == quiet[4]
    if covered:
        return False
    if event_type in ("hospitalization", "hotline_request"):
        return True
    if event_type == "medical_bill":
        if person is before["facts"].get(event["person_id"]):
            return True  # nothing added
        total = quiet[0] + float(event["attributes"]["out_of_pocket_yuan"])
        if quiet[1] is not None and total >= quiet[1]:
            return False
        after["quiet"] = [total, *quiet[1:]]
        return True
    return False


def roster_income_yuan(members: list[dict], total: float) -> float:
    """A roster record's monthly household income: the members' sum where the roster gives every member's
    (`members[].monthly_income_yuan`), else the record's total. The workbench's household file shows the same."""
    incomes = [m.get("monthly_income_yuan") for m in members]
    if incomes and all(income is not None for income in incomes):
        return float(sum(float(income) for income in incomes))
    return float(total)


def _level_holds(after: dict, bound: list, policy: Policy) -> bool:
    """`_quiet` for a bill of an uncovered household whose last assessment called 漏保 alone, with its
    alert open (`bound`, left by `decide`): whether the alert's level cannot rise, so that nothing changes.

    A bill adds to the out-of-pocket total, which only makes the household more eligible (the income test
    does not read it; 支出型贫困 deducts more): 漏保 stays called, nothing else can be, and the open alert
    is sent again only if its level rises. Of the six dimensions a bill moves only health and economic;
    the other four are those of the last assessment as long as the date does not move a member between
    age groups or a death out of the shock window (`dated_until`), and pruning takes the full path. So
    the hardship score after the bill is computed here exactly as `assess` computes it, with its functions.
    """
    level, dated_until, age_structure, disability, employment, shock, bonus, income, count, standard = bound
    if dated_until is not None and after["as_of"] >= dated_until:
        return False
    all_facts = after["facts"]
    oop_total = 0.0
    for person_id in after["members"]:  # as `assess` adds them: in member order, those with bills
        facts = all_facts.get(person_id)
        if facts and facts.get("bills"):
            oop_total += F.out_of_pocket(facts)
    dimensions = {
        "age_structure": age_structure,
        "economic": round(economic_score(after_medical_ratio(income, oop_total, count, standard, policy)), 1),
        "health": round(health_score(oop_total, bonus, policy), 1),
        "disability": disability,
        "employment": employment,
        "shock": shock,
    }
    return policy.level_for(round(policy.composite(dimensions), 1)) <= level


def _quiet_provisional(before: dict, event: dict, person: dict, policy: Policy) -> bool:
    """`_quiet` for the household of a person on no roster whose last assessment called nothing.

    Its income is unknown, so the only finding it can call is 漏保 on a strong trigger: a member whose
    out-of-pocket costs are over the line, or a severe disability, with someone living. A bill that
    leaves the person's own out-of-pocket total at or under the line adds no trigger (the other
    triggers and who is living do not depend on bills or on the time); a hospital stay or a hotline
    call adds none either."""
    event_type = event["type"]
    if event_type in ("hospitalization", "hotline_request"):
        return True
    if event_type == "medical_bill":
        return person is before["facts"].get(event["person_id"]) or F.out_of_pocket(person) <= policy.oop_line_yuan
    return False


def _same_report(earlier: dict, person: dict, since: int, share: float | None) -> bool:
    """A person's new income report that provably leaves `F.member_income` as it was, read from the
    registers without folding them: the report replaced a report of the same amount made after the
    roster, no wage, pension or job loss came after that earlier report (a report replaces every
    earlier figure, so both end at the same amount), and the earliest report since the roster, which
    a total-only roster reads, is the same one."""
    old = earlier.get("report")
    new = person.get("report")
    if old is None or new is None or old[2] != new[2] or old[0] <= since:
        return False
    # nothing but the report changed (the same registers, the same objects)
    if len(person) != len(earlier) or any(key != "report" and earlier.get(key) is not value for key, value in person.items()):
        return False
    first = person.get("report_first")
    if share is None and (first is None or first[0] <= since):
        return False
    # no wage, pension or job loss after the earlier report
    return all(entry is None or (entry[0], entry[1]) < (old[0], old[1])
               for entry in (earlier.get("wage"), earlier.get("pension"), earlier.get("fired")))


_WINDOWED_TYPES = {
    "medical_bill": "medical",
    "hospitalization": "medical",
    "property_acquired": "asset",
    "vehicle_acquired": "asset",
    "business_registered": "asset",
    "disaster": "shock",
    "hotline_request": "shock",
}


def _window_days(event_type: str, policy: Policy) -> int:
    kind = _WINDOWED_TYPES[event_type]
    return policy.medical_window_days if kind == "medical" else policy.asset_days if kind == "asset" else policy.shock_days


def _prune(state: dict, policy: Policy) -> None:
    """Drop expired windowed facts of every member (on a state dict this module just copied)."""
    as_of = state["as_of"]
    all_facts = state["facts"]
    changed = {}
    next_prune = None
    for person_id, person in all_facts.items():
        pruned = F.prune(person, policy, as_of)
        if pruned is not person:
            changed[person_id] = pruned
        for key in _WINDOW_KEYS:
            store = pruned.get(key)
            if store:
                days = (
                    policy.medical_window_days if key in ("bills", "hosp")
                    else policy.asset_days if key == "assets" else policy.shock_days
                )
                expiry = min(entry[0] for entry in store.values()) + days * DAY
                next_prune = expiry if next_prune is None or expiry < next_prune else next_prune
    if changed:
        state["facts"] = {**all_facts, **changed}
    state["next_prune"] = next_prune


def apply_roster(state: dict | None, record: dict, policy: Policy, carried_facts: dict | None = None,
                 filed: dict | None = None) -> Step:
    """A roster record (registry): members, coverage, income. Older than the one applied: ignored.

    `carried_facts` are facts of new members known elsewhere (a provisional household, another
    household); `filed` maps members to the staff ids whose close relatives they are.
    """
    household_id = record["household_id"]
    if state is None:
        state = new_household(household_id)
    record_t = record.get("t")
    key = _roster_key(record)
    if state["roster_key"] == key and state["roster_t"] == (record_t if record_t is not None else state["roster_t"]):
        return Step(state, [])
    if record_t is not None and state["roster_t"] is not None and (record_t, key) < (state["roster_t"], state["roster_key"]):
        return Step(state, [])  # older than the record applied (ties broken by content, so any order agrees)
    new = dict(state)
    new["provisional"] = False
    new["division"] = record["division_code"]
    new["coverage"] = record["coverage"]
    member_incomes = {
        m["person_id"]: float(m["monthly_income_yuan"])
        for m in record["members"] if m.get("monthly_income_yuan") is not None
    }
    new["member_incomes"] = member_incomes
    new["income"] = roster_income_yuan(record["members"], record["monthly_income_yuan"])
    new["standard"] = record.get("dibao_standard_yuan")
    new["roster_t"] = record_t if record_t is not None else state["as_of"] or state["roster_t"]
    new["roster_key"] = key
    new["members"] = {m["person_id"]: [m["birth_date"], m["relation"]] for m in record["members"]}
    kept = {pid: facts for pid, facts in state["facts"].items() if pid in new["members"]}
    for person_id, facts in (carried_facts or {}).items():
        if person_id in new["members"] and facts:
            # what another household learnt of the person since (a death, a bill) joins what we knew
            kept[person_id] = F.merge(kept[person_id], facts) if person_id in kept else facts
    new["facts"] = kept
    if filed is not None:
        new["filed"] = {pid: list(ids) for pid, ids in filed.items() if pid in new["members"] and ids}
    else:
        new["filed"] = {pid: ids for pid, ids in state["filed"].items() if pid in new["members"]}
    as_of = max([new["as_of"], record_t or 0, *(_latest_fact_time(f) for f in kept.values())])
    new["as_of"] = as_of
    new["next_prune"] = 0
    _prune(new, policy)
    event_time = record.get("recorded_at") or (iso(as_of) if as_of else None)
    return decide(new, policy, event_time)


def _roster_key(record: dict) -> str:
    """The record's content as one comparable string."""
    return json.dumps(
        [
            record["division_code"],
            record["coverage"],
            float(record["monthly_income_yuan"]),
            record.get("dibao_standard_yuan"),
            [[m["person_id"], m["birth_date"], m["relation"], m.get("monthly_income_yuan")] for m in record["members"]],
        ],
        ensure_ascii=False,
    )


def _latest_fact_time(facts: dict) -> int:
    latest = 0
    for value in facts.values():
        if isinstance(value, dict):
            for entry in value.values():
                latest = max(latest, entry[0])
        elif isinstance(value, list) and value:
            latest = max(latest, value[-1][0] if isinstance(value[0], list) else value[0])
    return latest


def facts_to_move(state: dict, person_id: str) -> dict:
    """A member's facts as they leave this household, with the household's horizon: events up to
    `as_of` were seen here, and windowed ones older than its windows already expired, so a
    redelivered old event must not count again wherever the person goes."""
    facts = state["facts"].get(person_id) or {}
    if not state["as_of"]:
        return facts
    return {**facts, "horizon": [state["as_of"], ""]}


def attach_member_facts(state: dict, person_id: str, facts: dict, policy: Policy) -> Step:
    """Facts of a member known elsewhere (a provisional household, a former household) join this one."""
    if person_id not in state["members"] or not facts:
        return Step(state, [])
    current = state["facts"].get(person_id)
    merged = F.merge(current, facts) if current else facts
    if merged == current:
        return Step(state, [])
    new = dict(state)
    new["facts"] = {**state["facts"], person_id: merged}
    new["as_of"] = max(state["as_of"], _latest_fact_time(merged))
    new["next_prune"] = 0
    _prune(new, policy)
    return decide(new, policy, iso(new["as_of"]) if new["as_of"] else None)


def apply_filed(state: dict, filed: dict, policy: Policy, event_time: str | None = None) -> Step:
    """The household's members who are filed close relatives (近亲属备案) changed."""
    current = {pid: sorted(ids) for pid, ids in filed.items() if pid in state["members"] and ids}
    if current == state["filed"]:
        return Step(state, [])
    new = dict(state)
    new["filed"] = current
    return decide(new, policy, event_time or (iso(state["as_of"]) if state["as_of"] else None))


def apply_outcome(state: dict, outcome: dict, policy: Policy) -> Step:
    """A workbench decision. Either way the kind stays quiet until new evidence; a confirmation acts on it."""
    parsed = parse_alert_id(outcome["alert_id"])
    if parsed is None or parsed[0] != state["id"]:
        return Step(state, [])
    _, kind, number = parsed
    episode = state["episodes"].get(kind)
    if episode is None or episode[0] != number:
        return Step(state, [])  # an outcome of an older episode: nothing left to act on
    coverage = state["coverage"]
    gradual_until = state["gradual_until"]
    if outcome["decision"] == "confirmed":
        if outcome.get("new_coverage"):
            coverage = outcome["new_coverage"]
        elif kind == "missed_coverage":
            coverage = "dibao"
        elif kind == "should_exit":
            coverage = "none"
        if kind == "gradual_exit" and gradual_until is None:
            gradual_until = outcome["t"] + policy.gradual_exit_months * 30 * DAY
    settled = sorted(set(episode[3]) | set(state["dismissed"].get(kind, ())))
    if not episode[1] and coverage == state["coverage"] and gradual_until == state["gradual_until"] \
            and settled == state["dismissed"].get(kind):
        return Step(state, [])  # the same outcome again
    new = dict(state)
    new["coverage"] = coverage
    new["gradual_until"] = gradual_until
    new["dismissed"] = {**state["dismissed"], kind: settled}
    new["episodes"] = {**state["episodes"], kind: [episode[0], False, episode[2], episode[3]]}
    return decide(new, policy, outcome["decided_at"])


# --- decisions ---------------------------------------------------------------------------------


def alert_id(household_id: str, kind: str, episode: int) -> str:
    """Stable per household, kind and episode, so that a replay updates and never duplicates."""
    return f"{household_id}/{kind}/{episode}"


def parse_alert_id(value: str) -> tuple[str, str, int] | None:
    head, _, number = value.rpartition("/")
    household_id, _, kind = head.rpartition("/")
    if kind not in ALERT_KINDS or not number.isdigit() or not household_id:
        return None
    return household_id, kind, int(number)


def _evidence(reasons: list[dict]) -> list[str]:
    keys = set()
    for item in reasons:
        keys.add(item["code"])
        keys.update(item["event_ids"])
    return sorted(keys)


def decide(state: dict, policy: Policy, event_time: str | None) -> Step:
    """Open, update or close alert episodes on a state this module just built (it may set episodes).

    The household is assessed without reason texts; only when an alert is sent is it assessed again
    with them (the same scores, kinds, codes and event ids), so texts are written for sent alerts only.
    """
    assessment = assess(state, policy, texts=False)
    episodes = state["episodes"]
    new_episodes = None
    sent: list[tuple[str, int, int]] = []  # (kind, episode, level) of the alerts to send, in ALERT_KINDS order
    called = assessment.kinds
    for kind in ALERT_KINDS:
        reasons = called.get(kind)
        episode = episodes.get(kind)
        if reasons is None:
            if episode is not None and episode[1]:
                new_episodes = new_episodes or dict(episodes)
                new_episodes[kind] = [episode[0], False, episode[2], episode[3]]
            continue
        level = _level(kind, assessment, policy)
        if episode is not None and episode[1]:
            if level > episode[2]:  # the same alert, more urgent now: re-sent under the same alert_id
                new_episodes = new_episodes or dict(episodes)
                new_episodes[kind] = [episode[0], True, level, _evidence(reasons)]
                sent.append((kind, episode[0], level))
            continue
        evidence = _evidence(reasons)
        settled = state["dismissed"].get(kind)
        if settled is not None and set(evidence) <= set(settled):
            continue  # decided on this evidence already; quiet until something new
        number = (episode[0] if episode else 0) + 1
        new_episodes = new_episodes or dict(episodes)
        new_episodes[kind] = [number, True, level, evidence]
        sent.append((kind, number, level))
    alerts: list[dict] = []
    if sent:
        assessment = assess(state, policy)  # with the texts, for the alerts sent
        alerts = [
            _alert(state, kind, number, level, assessment.kinds[kind], assessment, event_time, policy)
            for kind, number, level in sent
        ]
    if new_episodes is not None:
        state["episodes"] = new_episodes
    # what `_quiet` needs to skip the next small bill of a household far from any line
    if state["coverage"] in ("dibao", "tekun") and not state["provisional"]:
        calm = assessment.removal_score == 0 and set(called) <= {"filed_relative_check"}
    else:
        calm = not called
    state["quiet"] = (
        [assessment.oop_total_yuan, assessment.oop_limit_yuan, assessment.members_counted,
         assessment.dibao_standard_yuan, assessment.income_yuan]
        if calm
        else None
    )
    # what `_level_holds` needs to skip the next bill of an uncovered household with its 漏保 alert open
    bound = None
    if not calm and not state["provisional"] and state["coverage"] in ("none", "edge") and len(called) == 1 \
            and "missed_coverage" in called and assessment.income_yuan is not None:
        episode = state["episodes"].get("missed_coverage")
        if episode is not None and episode[1]:
            figures = assessment.dimensions
            bound = [episode[2], assessment.dated_until, figures["age_structure"], figures["disability"],
                     figures["employment"], figures["shock"], assessment.health_bonus, assessment.income_yuan,
                     assessment.members_counted, assessment.dibao_standard_yuan]
    if bound is not None or state.get("bound") is not None:
        state["bound"] = bound
    return Step(state, alerts, assessment)


def _level(kind: str, assessment: Assessment, policy: Policy) -> int:
    if kind in ("missed_coverage", "missed_assistance"):
        return policy.level_for(assessment.hardship_score)
    if kind == "filed_relative_check":
        return policy.filed_relative_check_level
    if kind == "gradual_exit":
        return 1
    return policy.level_for(assessment.removal_score)


def _alert_time(state: dict, kind: str, event_time: str | None) -> str:
    """When the alert became knowable; never null. A filed-relative check: the later of the roster
    record and the filing (备案), since it needs both."""
    roster = iso(state["roster_t"]) if state["roster_t"] else None
    if kind == "filed_relative_check" and roster is not None:
        if event_time is None or _epoch(event_time) < state["roster_t"]:
            return roster
    if event_time is not None:
        return event_time
    if roster is not None:
        return roster
    if state["as_of"]:
        return iso(state["as_of"])
    return datetime.now(CHINA_STANDARD_TIME).isoformat(timespec="seconds")  # nothing dated it: now


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _alert(state: dict, kind: str, episode: int, level: int, reasons: list[dict], assessment: Assessment,
           event_time: str | None, policy: Policy) -> dict:
    event_time = _alert_time(state, kind, event_time)
    return {
        "alert_id": alert_id(state["id"], kind, episode),
        "household_id": state["id"],
        "division_code": state["division"],
        "kind": kind,
        "level": level,
        "hardship_score": assessment.hardship_score,
        "dimensions": dict(assessment.dimensions),
        "removal_score": assessment.removal_score,
        "reasons": [resolved(item) for item in reasons],
        "policy_version": policy.version,
        "model_version": policy.model_version,
        "event_time": event_time,
        "emitted_at": None,
        "recusal_staff_ids": sorted({s for ids in state["filed"].values() for s in ids}),
    }
