"""An in-memory monitor of a whole district: the household core plus the indexes that route inputs.

Used by `hardship replay`, the benchmarks and the tests. It keeps the person -> household index, the
close-relative filings and the provisional households of people on no roster; each input goes
through the pure functions of scoring.household and comes back as alerts.
"""

from __future__ import annotations

from scoring import household as H
from scoring.policy import Policy, load_policy


def supersedes(filing: dict, applied: dict | None) -> bool:
    """Whether a filing replaces the one applied for its staff member: not the same again, not older
    (ties of time broken by content, so that any delivery order ends with the same filing)."""
    if applied is None:
        return True
    if applied["relative_person_ids"] == filing["relative_person_ids"] and applied.get("t") == filing.get("t"):
        return False
    if applied.get("t") is not None and filing.get("t") is not None:
        return (filing["t"], filing["relative_person_ids"]) > (applied["t"], applied["relative_person_ids"])
    return True


class Monitor:
    def __init__(self, policy: Policy | None = None, shortcut: bool = True) -> None:
        self.policy = policy or load_policy()
        self.shortcut = shortcut
        self.households: dict[str, dict] = {}
        self.person_household: dict[str, str] = {}
        self.filings: dict[str, dict] = {}
        self.filed_by_person: dict[str, set[str]] = {}

    # -- inputs ---------------------------------------------------------------------------------

    def registry(self, record: dict) -> list[dict]:
        """A validated roster record."""
        household_id = record["household_id"]
        state = self.households.get(household_id)
        members = [m["person_id"] for m in record["members"]]
        carried: dict[str, dict] = {}
        provisional_ids: list[str] = []
        for person_id in members:
            current = self.person_household.get(person_id)
            if current is not None and current != household_id:
                other = self.households.get(current)
                if other is not None and person_id in other["members"]:
                    carried[person_id] = H.facts_to_move(other, person_id)
            provisional_id = H.PROVISIONAL_PREFIX + person_id
            provisional = self.households.get(provisional_id)
            if provisional is not None:
                carried.setdefault(person_id, H.facts_to_move(provisional, person_id))
                provisional_ids.append(provisional_id)
        filed = {pid: sorted(self.filed_by_person[pid]) for pid in members if self.filed_by_person.get(pid)}
        step = H.apply_roster(state, record, self.policy, carried, filed)
        if step.state is state:
            return []
        self.households[household_id] = step.state
        if state is not None:
            for person_id in state["members"]:
                if person_id not in step.state["members"] and self.person_household.get(person_id) == household_id:
                    # left the household and is on no other roster: the facts stay with the person
                    del self.person_household[person_id]
                    left = H.provisional_household(person_id, H.facts_to_move(state, person_id))
                    self.households[left["id"]] = left
        for person_id in members:
            self.person_household[person_id] = household_id
        for provisional_id in provisional_ids:  # the person now has a real household
            del self.households[provisional_id]
        return step.alerts

    def filing(self, record: dict) -> list[dict]:
        """A validated close-relative filing; households of the relatives are checked again."""
        staff_id = record["staff_id"]
        old = self.filings.get(staff_id)
        if not supersedes(record, old):
            return []
        if old is not None:
            for person_id in old["relative_person_ids"]:
                staff = self.filed_by_person.get(person_id)
                if staff is not None:
                    staff.discard(staff_id)
                    if not staff:
                        del self.filed_by_person[person_id]
        self.filings[staff_id] = record
        for person_id in record["relative_person_ids"]:
            self.filed_by_person.setdefault(person_id, set()).add(staff_id)
        touched = set(record["relative_person_ids"]) | set(old["relative_person_ids"] if old else ())
        alerts: list[dict] = []
        for household_id in sorted({self.person_household[p] for p in touched if p in self.person_household}):
            state = self.households[household_id]
            filed = {pid: sorted(self.filed_by_person.get(pid, ())) for pid in state["members"]}
            step = H.apply_filed(state, filed, self.policy, record.get("filed_at"))
            self.households[household_id] = step.state
            alerts.extend(step.alerts)
        return alerts

    def event(self, event: dict) -> list[dict]:
        """A validated event; a person on no roster gets a provisional household."""
        person_id = event["person_id"]
        household_id = self.person_household.get(person_id)
        if household_id is None:
            household_id = H.PROVISIONAL_PREFIX + person_id
            state = self.households.get(household_id) or H.provisional_household(person_id)
        else:
            state = self.households[household_id]
        step = H.apply_event(state, event, self.policy, self.shortcut)
        if step.state is not state:
            self.households[household_id] = step.state
        return step.alerts

    def outcome(self, outcome: dict) -> list[dict]:
        """A validated workbench decision about one of this monitor's alerts."""
        state = self.households.get(outcome["household_id"])
        if state is None:
            return []
        step = H.apply_outcome(state, outcome, self.policy)
        if step.state is not state:
            self.households[outcome["household_id"]] = step.state
        return step.alerts

    def feed(self, stream: str, record: dict) -> list[dict]:
        """Route a validated record by its stream name: registry, filings, events, outcomes."""
        if stream == "events":
            return self.event(record)
        if stream == "registry":
            return self.registry(record)
        if stream == "filings":
            return self.filing(record)
        if stream == "outcomes":
            return self.outcome(record)
        raise ValueError(f"unknown stream {stream!r}")
