"""Where the learned model meets the drivers: the alerts of one routed household message get the model's fields.

`annotator(scorer, policy, features)` returns a function Routed -> Routed used by the dict-table
monitor (`hardship replay`) and the Faust households agent alike, applied where a driver takes the
alerts a household message raised, so the model scores alerts only, never every event. It copies
each alert and adds `model_score`, `model_reasons`, `model_version` and `model_features` (with
`features` and no model: only `model_features`); the household state, the sends and which alerts
exist stay exactly as the rules made them. A superseded notice (an absorbed provisional household)
has no household state left to read and passes unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from scoring.policy import Policy
from scoring.routing import Routed


def annotator(scorer, policy: Policy, features: bool = False) -> Callable[[Routed], Routed] | None:
    """None when there is nothing to add (no model, no features asked): the drivers then run as without."""
    if scorer is None and not features:
        return None
    from scoring.model.store import add_features

    def annotate(routed: Routed) -> Routed:
        state = routed.state
        if not routed.alerts or not isinstance(state, dict) or "members" not in state:
            return routed
        items: list[tuple[dict, dict]] = []
        alerts: list[dict] = []
        for alert in routed.alerts:
            if alert.get("superseded_by"):
                alerts.append(alert)
                continue
            copy = dict(alert)
            items.append((copy, state))
            alerts.append(copy)
        if scorer is not None:
            scorer.annotate_many(items, policy)
        else:
            add_features(items, policy)
        return Routed(routed.state, alerts, routed.sends)

    return annotate
