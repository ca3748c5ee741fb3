"""An in-memory monitor of a whole district: the router of scoring.routing over dict tables and a local queue.

Used by `hardship replay`, the benchmarks and the tests. Each validated input goes to its first key
(`routing.inbound`), and every message the router sends on is delivered from a first-in, first-out
queue until none is left, so the inputs are applied one after another, in order. The Faust agents
(streams/app.py) run the same router over Kafka topics and Faust tables.
"""

from __future__ import annotations

from collections import deque

from scoring import routing as R
from scoring.policy import Policy, load_policy
from scoring.routing import supersedes

__all__ = ["Monitor", "supersedes"]


class Monitor:
    def __init__(self, policy: Policy | None = None, shortcut: bool = True, model=None, features: bool = False) -> None:
        self.policy = policy or load_policy()
        self.shortcut = shortcut
        # the learned model (scoring.model): adds its fields to the alerts a household raises, nothing else
        from scoring.model.hook import annotator

        self.annotate = annotator(model, self.policy, features)
        self.tables: dict[str, dict[str, object]] = {table: {} for table in R.TABLES}

    @property
    def households(self) -> dict[str, dict]:
        """Households held (roster and provisional), without the forwarding marks of absorbed ones."""
        return {key: state for key, state in self.tables[R.HOUSEHOLDS].items() if "forward_to" not in state}

    def deliver(self, table: str, key: str, message: dict) -> R.Routed:
        """One message to one key: the table is updated, nothing is sent on."""
        states = self.tables[table]
        state = states.get(key)
        if table == R.HOUSEHOLDS:
            routed = R.on_household(key, state, message, self.policy, self.shortcut)
            if self.annotate is not None and routed.alerts:
                routed = self.annotate(routed)
        else:
            routed = R.route(table, key, state, message, self.policy)
        if routed.state is not state:
            if routed.state is None:
                states.pop(key, None)
            else:
                states[key] = routed.state
        return routed

    def feed(self, stream: str, record: dict) -> list[dict]:
        """A validated record of a stream (registry, filings, events, outcomes), applied in full."""
        first = R.inbound(stream, record)
        if first[0] == R.PERSONS and first[2]["op"] == "event":
            # the person index only looks an event's household up (`routing.on_person` changes nothing):
            # the same lookup here saves a hop per event
            person_id = first[1]
            first = (R.HOUSEHOLDS, R.household_of(person_id, self.tables[R.PERSONS].get(person_id)), first[2])
        routed = self.deliver(*first)
        if not routed.sends:  # most inputs: one event, one household, nothing sent on
            return routed.alerts
        alerts = list(routed.alerts)
        queue = deque(routed.sends)
        while queue:
            routed = self.deliver(*queue.popleft())
            alerts.extend(routed.alerts)
            queue.extend(routed.sends)
        return alerts

    def registry(self, record: dict) -> list[dict]:
        return self.feed("registry", record)

    def filing(self, record: dict) -> list[dict]:
        return self.feed("filings", record)

    def event(self, event: dict) -> list[dict]:
        return self.feed("events", event)

    def outcome(self, outcome: dict) -> list[dict]:
        return self.feed("outcomes", outcome)
