"""The message protocol between persons, households and close-relative filings, as pure functions.

One router, two drivers: the Faust agents (streams/app.py) and the in-memory monitor of replay and
the tests (scoring/monitor.py) run the same functions. Each keyed state lives in one of three tables:

  households  household_id -> household state (scoring.household), or {"forward_to": id} for the
              provisional household of a person who has joined a roster since (late events follow)
  persons     person_id    -> {"h": household_id or None, "filed": [staff_id, …], "v": {source: version}}
  filings     staff_id     -> the close-relative filing applied

A function takes (key, state, message, policy) and returns a `Routed`: the key's new state (the very
same object when nothing changed), the alerts raised, and the messages to send on, each addressed to
(table, key). A driver delivers every message to its key in the order it was sent for that key; any
interleaving between keys is allowed, and a message delivered again changes nothing: after a crash
Faust delivers a key's last messages again, in order, to a table that already holds their effect, so
membership (join, leave), filing and filed messages carry the version of the record they come from,
and a key applies no version older than one it has applied from the same source.

Messages ({"op": …}):
  to persons:    event (look up the household of the event's person), join, leave, filing
  to households: event, registry, outcome, handover (a member joined another household), facts (a
                 member's facts from elsewhere), adopt (a person left every roster), filed, release
                 (held alerts of a provisional household whose time has come)
  to filings:    filing (a close-relative filing from hardship.filings)
"""

from __future__ import annotations

from scoring import household as H
from scoring.policy import Policy

HOUSEHOLDS = "households"
PERSONS = "persons"
FILINGS = "filings"
TABLES = (HOUSEHOLDS, PERSONS, FILINGS)


class Routed:
    """What one message did: the key's new state, the alerts it raised, the messages to send on.

    A plain class with slots, not a frozen dataclass: one is made per message, and a frozen dataclass
    costs several times as much to make (it sets each field through object.__setattr__). Read only.
    """

    __slots__ = ("state", "alerts", "sends")

    def __init__(self, state: object, alerts: list[dict] | None = None,
                 sends: list[tuple[str, str, dict]] | None = None) -> None:
        self.state = state
        self.alerts = [] if alerts is None else alerts
        self.sends = [] if sends is None else sends

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.state, self.alerts, self.sends) == (other.state, other.alerts, other.sends)

    __hash__ = None  # type: ignore[assignment] - holds lists

    def __repr__(self) -> str:
        return f"Routed(state={self.state!r}, alerts={self.alerts!r}, sends={self.sends!r})"


def inbound(stream: str, record: dict, ingest: float | None = None, hold_seconds: float = 0.0) -> tuple[str, str, dict]:
    """Where a validated input of a contract topic goes first: (table, key, message).

    `hold_seconds` (the stream's, not the replay's): an alert this event raises on the provisional
    household of a person on no roster is held that long after `ingest`, since the person's roster
    record may still be on its way (the person index lags behind the events; the replay does not).
    """
    if stream == "events":
        message = {"op": "event", "event": record, "ingest": ingest}
        if hold_seconds and ingest:
            message["hold_until"] = ingest + hold_seconds
        return PERSONS, record["person_id"], message
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
    version = [record.get("t") or 0, sorted(relatives)]
    sends = [
        (PERSONS, person_id, {"op": "filing", "staff_id": staff_id, "on": person_id in relatives,
                              "at": record.get("filed_at"), "v": version})
        for person_id in sorted(relatives | set(applied["relative_person_ids"] if applied else ()))
    ]
    return Routed(record, [], sends)


# --- persons ------------------------------------------------------------------------------------


def household_of(person_id: str, entry: dict | None) -> str:
    """The household an event of the person belongs to: their roster household, else their own."""
    if entry and entry.get("h"):
        return entry["h"]
    return H.PROVISIONAL_PREFIX + person_id


def _seen(current: dict, source: str, version: list | None) -> dict | None:
    """The entry's versions with `version` of `source` added; None when it is not newer than the one applied."""
    versions = current.get("v") or {}
    if version is None:
        return versions
    applied = versions.get(source)
    if applied is not None and version <= applied:
        return None
    return {**versions, source: version}


def _filed_message(person_id: str, entry: dict, at: str | None = None) -> dict:
    return {"op": "filed", "person_id": person_id, "staff_ids": entry["filed"], "at": at, "n": entry.get("n", 0)}


def on_person(person_id: str, entry: dict | None, message: dict, policy: Policy) -> Routed:
    """The person index: which household a person is on, and which staff they are filed relatives of."""
    kind = message["op"]
    if kind == "event":
        return Routed(entry, [], [(HOUSEHOLDS, household_of(person_id, entry), message)])
    current = entry or {"h": None, "filed": []}
    sends: list[tuple[str, str, dict]] = []
    if kind in ("join", "leave"):
        household_id = message["household_id"]
        versions = _seen(current, "h:" + household_id, message.get("v"))
        if versions is None:
            return Routed(entry)  # a membership message of this household delivered again, or older
        if kind == "join":
            new = {**current, "v": versions}
            if current.get("h") != household_id:
                # the person's former household (or their provisional one) hands their facts over
                source = current.get("h") or H.PROVISIONAL_PREFIX + person_id
                new["seq"] = current.get("seq", 0) + 1
                sends.append((HOUSEHOLDS, source, {"op": "handover", "person_id": person_id, "to": household_id,
                                                   "seq": new["seq"]}))
                new["h"] = household_id
            else:  # nothing to hand over, but the household waits for a word about every new member
                sends.append((HOUSEHOLDS, household_id, {"op": "facts", "person_id": person_id, "facts": {}}))
            if current["filed"]:
                sends.append((HOUSEHOLDS, household_id, _filed_message(person_id, new)))
            return Routed(new, [], sends)
        if current.get("h") != household_id:
            return Routed({**current, "v": versions})  # already on another household
        seq = current.get("seq", 0) + 1
        sends.append((HOUSEHOLDS, H.PROVISIONAL_PREFIX + person_id,
                      {"op": "adopt", "person_id": person_id, "facts": message.get("facts") or {}, "seq": seq}))
        return Routed({**current, "h": None, "v": versions, "seq": seq}, [], sends)
    if kind == "filing":
        versions = _seen(current, "s:" + message["staff_id"], message.get("v"))
        if versions is None:
            return Routed(entry)  # a filing message delivered again, or older
        staff = set(current["filed"])
        (staff.add if message["on"] else staff.discard)(message["staff_id"])
        filed = sorted(staff)
        if filed == current["filed"]:
            return Routed({**current, "v": versions})
        new = {**current, "filed": filed, "v": versions, "n": current.get("n", 0) + 1}
        if current.get("h"):
            sends.append((HOUSEHOLDS, current["h"], _filed_message(person_id, new, message.get("at"))))
        return Routed(new, [], sends)
    raise ValueError(f"unknown person message {kind!r}")


# --- households ---------------------------------------------------------------------------------


def on_household(household_id: str, state: dict | None, message: dict, policy: Policy,
                 shortcut: bool = True) -> Routed:
    """Everything that changes one household, through the pure functions of scoring.household."""
    routed = _on_household(household_id, state, message, policy, shortcut)
    if routed.alerts and household_id.startswith(H.PROVISIONAL_PREFIX) and isinstance(routed.state, dict) \
            and "forward_to" not in routed.state:
        return _provisional_alerts(routed, message)
    return routed


def _provisional_alerts(routed: Routed, message: dict) -> Routed:
    """Alerts of a person on no roster: held while their roster record may still be on its way (until
    `hold_until`), else sent and kept, so that a roster record absorbing the household supersedes them."""
    state = dict(routed.state)
    if message.get("hold_until"):
        pending = state.get("pending") or {"until": 0, "alerts": {}}
        alerts = {**pending["alerts"], **{alert["alert_id"]: alert for alert in routed.alerts}}
        state["pending"] = {"until": max(pending["until"], message["hold_until"]), "alerts": alerts}
        return Routed(state, [], routed.sends)
    state["sent"] = {**(state.get("sent") or {}), **{alert["alert_id"]: alert for alert in routed.alerts}}
    return Routed(state, routed.alerts, routed.sends)


def _on_household(household_id: str, state: dict | None, message: dict, policy: Policy, shortcut: bool) -> Routed:
    kind = message["op"]
    forwarded = state is not None and "forward_to" in state
    if forwarded and kind in ("event", "filed", "outcome"):
        # a provisional household whose person joined a roster: late messages follow them
        return Routed(state, [], [(HOUSEHOLDS, state["forward_to"], message)])
    live = None if forwarded else state
    if live is not None and live.get("awaiting") and kind in ("event", "filed", "outcome"):
        # new members' facts are on their way: this waits, so that they join in one fixed order
        held = live.get("held") or []
        if message in held:
            return Routed(state)
        return Routed({**live, "held": [*held, message]})
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
        version = [step.state["roster_t"] or 0, step.state["roster_key"]]
        awaiting = {pid: 1 for pid in (live or {}).get("awaiting") or {} if pid in new_members}
        awaiting.update((pid, 1) for pid in new_members - old_members)
        if awaiting or step.state.get("awaiting"):
            step.state["awaiting"] = awaiting  # a word (facts, maybe none) from each new member's index entry
        sends = [(PERSONS, person_id, {"op": "join", "household_id": household_id, "v": version})
                 for person_id in sorted(new_members - old_members)]
        sends += [(PERSONS, person_id, {"op": "leave", "household_id": household_id, "v": version,
                                        "facts": H.facts_to_move(live, person_id)})
                  for person_id in sorted(old_members - new_members)]
        return Routed(step.state, step.alerts, sends)
    if kind == "handover":
        person_id = message["person_id"]
        if _stale(household_id, state, message):
            # delivered again after the person came back (adopt): the reply may not have gone out, so
            # an empty one, which completes a household still waiting and changes nothing otherwise
            return Routed(state, [], [(HOUSEHOLDS, message["to"], {"op": "facts", "person_id": person_id, "facts": {}})])
        facts = (H.facts_to_move(live, person_id) if live is not None else None) or {}
        # always a reply, empty or not: the new household waits for one about every new member
        sends = [(HOUSEHOLDS, message["to"], {"op": "facts", "person_id": person_id, "facts": facts})]
        if household_id.startswith(H.PROVISIONAL_PREFIX) and live is not None:
            # absorbed by a roster household: held alerts are never sent, sent ones are superseded by
            # the household's own; late events of the person follow them
            superseded = [{**alert, "superseded_by": message["to"]} for alert in (live.get("sent") or {}).values()]
            forward = {"forward_to": message["to"]}
            if message.get("seq") is not None:
                forward["seq"] = message["seq"]
            return Routed(forward, superseded, sends)
        return Routed(state, [], sends)
    if kind == "release":
        pending = (live or {}).get("pending")
        if not pending or message["now"] < pending["until"]:
            return Routed(state)
        alerts = list(pending["alerts"].values())
        new = {key: value for key, value in live.items() if key != "pending"}
        new["sent"] = {**(live.get("sent") or {}), **pending["alerts"]}
        return Routed(new, alerts)
    if kind == "facts":
        if live is None:
            return Routed(state)
        person_id = message["person_id"]
        awaiting = live.get("awaiting") or {}
        if person_id in awaiting:
            rest = {pid: 1 for pid in awaiting if pid != person_id}
            new = {**live, "awaiting": rest, "arrived": {**(live.get("arrived") or {}), person_id: message["facts"]}}
            return _settle(household_id, new, policy, shortcut) if not rest else Routed(new)
        step = H.attach_member_facts(live, person_id, message["facts"], policy)
        return Routed(step.state, step.alerts)
    if kind == "adopt":
        if _stale(household_id, state, message):
            return Routed(state)  # delivered again after the roster record that absorbed the household
        if live is not None:
            step = H.attach_member_facts(live, message["person_id"], message["facts"], policy)
            new, alerts = (step.state if step.state is not live else dict(live)), step.alerts
        else:
            new, alerts = H.provisional_household(message["person_id"], message["facts"] or None), []
        if message.get("seq") is not None:
            new["seq"] = message["seq"]  # the router's own mark: the person's membership change applied
        return Routed(new, alerts)
    if kind == "filed":
        if live is None:
            return Routed(state)
        person_id = message["person_id"]
        applied = (live.get("filed_n") or {}).get(person_id)
        number = message.get("n")
        if applied is not None and number is not None and number < applied:
            return Routed(state)  # an older word of the person's filings, delivered again
        filed = {**live["filed"], person_id: message["staff_ids"]}
        step = H.apply_filed(live, filed, policy, message.get("at"))
        new = step.state if step.state is not live else dict(live)
        if number is not None and number != applied:
            new["filed_n"] = {**(live.get("filed_n") or {}), person_id: number}  # the router's own mark
        elif step.state is live:
            return Routed(state)
        return Routed(new, step.alerts)
    if kind == "outcome":
        if live is None:
            return Routed(state)
        step = H.apply_outcome(live, message["outcome"], policy)
        return Routed(step.state, step.alerts)
    raise ValueError(f"unknown household message {kind!r}")


def _stale(household_id: str, state: dict | None, message: dict) -> bool:
    """Whether a handover or adopt of a provisional household is one delivered again: the person index
    numbers each membership change of a person (`seq`), and the household keeps the last it applied."""
    if not household_id.startswith(H.PROVISIONAL_PREFIX) or state is None:
        return False
    applied, number = state.get("seq"), message.get("seq")
    return applied is not None and number is not None and number <= applied


def _settle(household_id: str, state: dict, policy: Policy, shortcut: bool) -> Routed:
    """Every new member's word has come: their facts join in the order of their IDs, then what waited."""
    arrived = state.pop("arrived", None) or {}
    held = state.pop("held", None) or []
    state.pop("awaiting", None)
    alerts: list[dict] = []
    sends: list[tuple[str, str, dict]] = []
    for person_id in sorted(arrived):
        step = H.attach_member_facts(state, person_id, arrived[person_id], policy)
        state = step.state
        alerts.extend(step.alerts)
    for message in held:
        routed = on_household(household_id, state, message, policy, shortcut)
        state = routed.state
        alerts.extend(routed.alerts)
        sends.extend(routed.sends)
    return Routed(state, alerts, sends)


ROUTERS = {HOUSEHOLDS: on_household, PERSONS: on_person, FILINGS: on_filing}


def route(table: str, key: str, state: object, message: dict, policy: Policy) -> Routed:
    """Deliver one message to the key of a table."""
    return ROUTERS[table](key, state, message, policy)


# --- batches: what one agent forwards to the next ------------------------------------------------

PACK_HEAD, PACK_TAIL = b'{"ops":[', b"]}"


def pack(sends: list[tuple[str, str, dict]], partition_of, encode, max_bytes: int) -> list[tuple[str, int, bytes, list[int]]]:
    """The sends of one batch as few messages: one per (table, partition), in the order they were sent,
    split only where one would exceed `max_bytes`. Each is {"ops": [[key, message], …]}, so the next
    agent pays the framework's cost per message once per batch, not once per op.

    `partition_of(key)` is the partition of the key's table entry (the producer's partitioner), so every
    op still reaches its key's owner and a key's ops keep their order. Returns (table, partition, value,
    indexes into `sends` of the ops it carries); an op that alone exceeds `max_bytes` travels alone (the
    driver dead-letters what the producer refuses).
    """
    groups: dict[tuple[str, int], list[tuple[int, bytes]]] = {}
    for index, (table, key, message) in enumerate(sends):
        groups.setdefault((table, partition_of(key)), []).append((index, b"[" + encode(key) + b"," + encode(message) + b"]"))
    packed: list[tuple[str, int, bytes, list[int]]] = []
    for (table, partition), ops in groups.items():
        start, size = 0, len(PACK_HEAD) + len(PACK_TAIL)
        for end, (_, body) in enumerate(ops):
            if end > start and size + len(body) + 1 > max_bytes:
                packed.append(_packed(table, partition, ops[start:end]))
                start, size = end, len(PACK_HEAD) + len(PACK_TAIL)
            size += len(body) + 1
        packed.append(_packed(table, partition, ops[start:]))
    return packed


def _packed(table: str, partition: int, chunk: list[tuple[int, bytes]]) -> tuple[str, int, bytes, list[int]]:
    return table, partition, PACK_HEAD + b",".join(body for _, body in chunk) + PACK_TAIL, [index for index, _ in chunk]


def unpack(value: dict) -> list[tuple[str, dict]]:
    """The (key, message) ops of a forwarded message, in the order they were sent."""
    return [(key, message) for key, message in value["ops"]]
