"""The message protocol between persons, households and close-relative filings, as pure functions.

One router, two drivers: the Faust agents (streams/app.py) and the in-memory monitor of replay and
the tests (scoring/monitor.py) run the same functions. Each keyed state lives in one of three tables:

  households  household_id -> household state (scoring.household), or {"forward_to": id} for the
              provisional household of a person who has joined a roster since (late events follow)
  persons     person_id    -> {"h": household_id or None, "filed": [staff_id, …]}
  filings     staff_id     -> the close-relative filing applied

A function takes (key, state, message, policy) and returns a `Routed`: the key's new state (the very
same object when nothing changed), the alerts raised, and the messages to send on, each addressed to
(table, key). A driver delivers every message to its key in the order it was sent for that key; any
interleaving between keys is allowed, and a message delivered again changes nothing.

Messages ({"op": …}):
  to persons:    event (look up the household of the event's person), join, leave, filing
  to households: event, registry, outcome, handover (a member joined another household), facts (a
                 member's facts from elsewhere), adopt (a person left every roster), filed
  to filings:    filing (a close-relative filing from hardship.filings)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring import household as H
from scoring.policy import Policy

HOUSEHOLDS = "households"
PERSONS = "persons"
FILINGS = "filings"
TABLES = (HOUSEHOLDS, PERSONS, FILINGS)


@dataclass(frozen=True)
class Routed:
    """What one message did: the key's new state, the alerts it raised, the messages to send on."""

    state: object
    alerts: list[dict] = field(default_factory=list)
    sends: list[tuple[str, str, dict]] = field(default_factory=list)


def inbound(stream: str, record: dict, ingest: float | None = None) -> tuple[str, str, dict]:
    """Where a validated input of a contract topic goes first: (table, key, message)."""
    if stream == "events":
        return PERSONS, record["person_id"], {"op": "event", "event": record, "ingest": ingest}
    if stream == "registry":
        return HOUSEHOLDS, record["household_id"], {"op": "registry", "record": record}
    if stream == "outcomes":
        return HOUSEHOLDS, record["household_id"], {"op": "outcome", "outcome": record}
    if stream == "filings":
        return FILINGS, record["staff_id"], {"op": "filing", "record": record}
    raise ValueError(f"unknown stream {stream!r}")


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


# --- filings ------------------------------------------------------------------------------------


def on_filing(staff_id: str, applied: dict | None, message: dict, policy: Policy) -> Routed:
    """A close-relative filing: tell every relative named now or before whether they are filed."""
    record = message["record"]
    if not supersedes(record, applied):
        return Routed(applied)  # the same filing again, or an older one
    relatives = set(record["relative_person_ids"])
    sends = [
        (PERSONS, person_id, {"op": "filing", "staff_id": staff_id, "on": person_id in relatives,
                              "at": record.get("filed_at")})
        for person_id in sorted(relatives | set(applied["relative_person_ids"] if applied else ()))
    ]
    return Routed(record, [], sends)


# --- persons ------------------------------------------------------------------------------------


def household_of(person_id: str, entry: dict | None) -> str:
    """The household an event of the person belongs to: their roster household, else their own."""
    if entry and entry.get("h"):
        return entry["h"]
    return H.PROVISIONAL_PREFIX + person_id


def on_person(person_id: str, entry: dict | None, message: dict, policy: Policy) -> Routed:
    """The person index: which household a person is on, and which staff they are filed relatives of."""
    kind = message["op"]
    if kind == "event":
        return Routed(entry, [], [(HOUSEHOLDS, household_of(person_id, entry), message)])
    current = entry or {"h": None, "filed": []}
    sends: list[tuple[str, str, dict]] = []
    if kind == "join":
        household_id = message["household_id"]
        new = current
        if current.get("h") != household_id:
            # the person's former household (or their provisional one) hands their facts over
            source = current.get("h") or H.PROVISIONAL_PREFIX + person_id
            sends.append((HOUSEHOLDS, source, {"op": "handover", "person_id": person_id, "to": household_id}))
            new = {**current, "h": household_id}
        if current["filed"]:
            sends.append((HOUSEHOLDS, household_id, {"op": "filed", "person_id": person_id,
                                                     "staff_ids": current["filed"]}))
        return Routed(new, [], sends)
    if kind == "leave":
        if current.get("h") != message["household_id"]:
            return Routed(entry)  # already on another household
        sends.append((HOUSEHOLDS, H.PROVISIONAL_PREFIX + person_id,
                      {"op": "adopt", "person_id": person_id, "facts": message.get("facts") or {}}))
        return Routed({**current, "h": None}, [], sends)
    if kind == "filing":
        staff = set(current["filed"])
        (staff.add if message["on"] else staff.discard)(message["staff_id"])
        filed = sorted(staff)
        if filed == current["filed"]:
            return Routed(entry)
        if current.get("h"):
            sends.append((HOUSEHOLDS, current["h"], {"op": "filed", "person_id": person_id, "staff_ids": filed,
                                                     "at": message.get("at")}))
        return Routed({**current, "filed": filed}, [], sends)
    raise ValueError(f"unknown person message {kind!r}")


# --- households ---------------------------------------------------------------------------------


def on_household(household_id: str, state: dict | None, message: dict, policy: Policy,
                 shortcut: bool = True) -> Routed:
    """Everything that changes one household, through the pure functions of scoring.household."""
    kind = message["op"]
    forwarded = state is not None and "forward_to" in state
    if forwarded and kind in ("event", "filed", "outcome"):
        # a provisional household whose person joined a roster: late messages follow them
        return Routed(state, [], [(HOUSEHOLDS, state["forward_to"], message)])
    live = None if forwarded else state
    if kind == "event":
        event = message["event"]
        if live is None:
            if not household_id.startswith(H.PROVISIONAL_PREFIX):
                return Routed(state)  # no roster record yet for a household id given by the index
            live = H.provisional_household(event["person_id"])
        if event["person_id"] not in live["members"]:
            return Routed(state)  # the person left this household while the event was on its way
        step = H.apply_event(live, event, policy, shortcut)
        if step.state is live and live is not state:
            return Routed(state)  # an event that tells nothing keeps no provisional household
        return Routed(step.state, step.alerts)
    if kind == "registry":
        step = H.apply_roster(live, message["record"], policy)
        if live is not None and step.state is live:
            return Routed(state)
        old_members = set(live["members"]) if live else set()
        new_members = set(step.state["members"])
        sends = [(PERSONS, person_id, {"op": "join", "household_id": household_id})
                 for person_id in sorted(new_members - old_members)]
        sends += [(PERSONS, person_id, {"op": "leave", "household_id": household_id,
                                        "facts": H.facts_to_move(live, person_id)})
                  for person_id in sorted(old_members - new_members)]
        return Routed(step.state, step.alerts, sends)
    if kind == "handover":
        person_id = message["person_id"]
        sends = []
        facts = H.facts_to_move(live, person_id) if live is not None else None
        if facts:
            sends.append((HOUSEHOLDS, message["to"], {"op": "facts", "person_id": person_id, "facts": facts}))
        if household_id.startswith(H.PROVISIONAL_PREFIX) and live is not None:
            return Routed({"forward_to": message["to"]}, [], sends)  # late events of the person follow them
        return Routed(state, [], sends)
    if kind == "facts":
        if live is None:
            return Routed(state)
        step = H.attach_member_facts(live, message["person_id"], message["facts"], policy)
        return Routed(step.state, step.alerts)
    if kind == "adopt":
        if live is not None:
            step = H.attach_member_facts(live, message["person_id"], message["facts"], policy)
            return Routed(step.state, step.alerts)
        return Routed(H.provisional_household(message["person_id"], message["facts"] or None))
    if kind == "filed":
        if live is None:
            return Routed(state)
        filed = {**live["filed"], message["person_id"]: message["staff_ids"]}
        step = H.apply_filed(live, filed, policy, message.get("at"))
        return Routed(step.state, step.alerts)
    if kind == "outcome":
        if live is None:
            return Routed(state)
        step = H.apply_outcome(live, message["outcome"], policy)
        return Routed(step.state, step.alerts)
    raise ValueError(f"unknown household message {kind!r}")


ROUTERS = {HOUSEHOLDS: on_household, PERSONS: on_person, FILINGS: on_filing}


def route(table: str, key: str, state: object, message: dict, policy: Policy) -> Routed:
    """Deliver one message to the key of a table."""
    return ROUTERS[table](key, state, message, policy)
