"""The best ordering of simulated visits any model could reach (标签噪声下的上限): a diagnostic, never a model input.

A simulated visit finding (connectors.visits) differs from the household's latent truth at a rate that depends on
the kind, the income the data show and a new wage; no feature can predict the draw itself. This module re-runs the
simulator for a seed (the same seed and options give the same district), rebuilds the rows that
`connectors.simulator` gives to `simulated_outcomes`, and computes for each visited alert the chance that its visit
finds it confirmed: 1 − the disagreement rate where the kind is latently true, the disagreement rate where it is not.
Ordering the alerts by that chance is the best any model can do: its top-quarter share is the ceiling to read beside
the target (`hardship model ceiling`). It reads simulator internals that no department holds; the model never does.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from connectors.visits import COVERED_KINDS, disagreement


def confirm_chance(kind: str, row: dict) -> float:
    """The chance that a simulated visit of `kind` on the household of `row` finds it confirmed."""
    real = kind in row["latent"]
    flip = disagreement(kind, real, row.get("income_ratio"), bool(row.get("wage_evidence")))
    return 1.0 - flip if real else flip


def visit_rows(households: int, seed: int, days: int | None = None, start: str | None = None) -> dict[str, dict]:
    """household_id -> the row `connectors.simulator` builds for the visits of a district simulated with these options
    (the same computation as `connectors.simulator._write_outcomes`: a change there must be made here too;
    tests/test_model.py::test_the_ceiling_of_simulated_findings runs both on one district)."""
    from connectors import simulator

    options: dict = {"households": households, "seed": seed}
    if days is not None:
        options["days"] = days
    if start is not None:
        options["start"] = start
    simulation = simulator.generate(**options)
    truth = simulation.truth  # runs the year
    run = simulation.last_run

    def epoch(value: str) -> int:
        return int(datetime.fromisoformat(value).timestamp())

    rows: dict[str, dict] = {}
    for h in run.world.households:
        counted = sum(1 for m in h.members if m.counted)
        ratio = run.observed_income(h) / counted / run.standard if counted else None
        rows[h.household_id] = {"household_id": h.household_id, "coverage": h.coverage,
                                "latent": set(h.latent_episodes), "income_ratio": ratio,
                                "since": {kind: epoch(e["knowable_at"]) for kind, e in h.latent_episodes.items()},
                                "wage_evidence": h.employment_event is not None}
    for row in truth:
        if row["household_id"].startswith("person:"):
            rows[row["household_id"]] = {"household_id": row["household_id"], "coverage": "none",
                                         "latent": {"missed_coverage"},
                                         "since": {"missed_coverage": epoch(row["kinds"][0]["knowable_at"])}}
    return rows


def summary(chances: np.ndarray, y: np.ndarray, kinds: list[str], share: float = 0.25) -> dict:
    from scoring.model.train import _auc

    n = max(1, int(round(len(y) * share)))
    order = np.argsort(-chances, kind="stable")
    top = order[:n]
    return {
        "count": int(len(y)),
        "confirmed_share": round(float(y.mean()), 4),
        "expected_top_quarter": round(float(chances[top].mean()), 4),
        "realised_top_quarter": round(float(y[top].mean()), 4),
        "auc": _auc(y, chances),
        "exit_and_check_kinds_in_top": int(sum(1 for i in top if kinds[i] in COVERED_KINDS)),
    }
