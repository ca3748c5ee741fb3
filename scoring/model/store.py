"""Saving and loading a learned model with skops (never pickle), and scoring alerts with it (模型打分).

A model folder holds `model.skops` (the scikit-learn estimator and the list of its features) and the
model card (`card.json`, `card.md`). `load_model(dir)` refuses, with the reason and what to do, a file
that is not a skops file, one holding types other than scikit-learn's and numpy's, and one whose
features differ from `scoring.model.features.FEATURE_NAMES`: a worker started with such a model stops
at start, never mid-stream.

`Scorer.annotate(alert, household, policy)` adds `model_score`, `model_reasons` (Chinese),
`model_version` and `model_features` to an alert and changes nothing else: the model ranks alerts;
it never raises, suppresses or closes one.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np

from scoring.model.features import FEATURE_LABELS, FEATURE_NAMES, features_of, matrix, vector
from scoring.policy import Policy

MODEL_FILE = "model.skops"
CARD_JSON = "card.json"
CARD_MD = "card.md"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")
REASONS = 3


class ModelError(Exception):
    """A model folder that cannot be used; the message says why and what to do."""


def save_model(out_dir: Path, estimator, card: dict, card_md: str) -> Path:
    import skops.io as sio

    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"estimator": estimator, "features": list(FEATURE_NAMES), "version": card["version"],
               "kind": card["estimator"], "reference": [float(x) for x in card["reference"]]}
    path = out_dir / MODEL_FILE
    sio.dump(payload, path)
    (out_dir / CARD_JSON).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out_dir / CARD_MD).write_text(card_md, encoding="utf-8")
    return path


def load_model(model_dir: Path | str) -> Scorer:
    import skops.io as sio

    model_dir = Path(model_dir)
    path = model_dir / MODEL_FILE if model_dir.is_dir() else model_dir
    if not path.is_file():
        raise ModelError(f"no model at {path}: give the folder that `hardship model train --out DIR` wrote")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a skops file (a skops file is a zip archive); only skops files are "
                         "loaded, never pickle: retrain with `hardship model train`")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - any damage of the archive is the same refusal
        raise ModelError(f"{path} is not a readable skops file ({exc}); retrain with `hardship model train`") from None
    foreign = [name for name in untrusted if not name.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise ModelError(f"{path} holds types that are not scikit-learn's or numpy's ({', '.join(foreign[:3])}); "
                         "refused: load only models that `hardship model train` wrote")
    try:
        payload = sio.load(path, trusted=untrusted)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path} could not be loaded ({exc}); retrain with `hardship model train`") from None
    if not isinstance(payload, dict) or not {"estimator", "features", "version"} <= set(payload):
        raise ModelError(f"{path} is a skops file but not a hardship model (no estimator, features and version); "
                         "retrain with `hardship model train`")
    features = tuple(payload["features"])
    if features != FEATURE_NAMES:
        extra = sorted(set(features) - set(FEATURE_NAMES))
        lacking = sorted(set(FEATURE_NAMES) - set(features))
        raise ModelError(
            f"{path} was trained on other features than this version computes "
            f"(unknown to this version: {', '.join(extra[:5]) or 'none'}; missing from the model: "
            f"{', '.join(lacking[:5]) or 'none'}; or another order): retrain with `hardship model train` "
            "on alerts replayed by this version")
    return Scorer(payload["estimator"], str(payload["version"]), str(payload.get("kind", "linear")),
                  np.asarray(payload.get("reference") or np.zeros(len(FEATURE_NAMES)), dtype=np.float64))


def _linear_parts(estimator):
    """(scaler, logistic regression) of a linear pipeline, calibrated or not; None for other models."""
    inner = estimator
    if hasattr(inner, "calibrated_classifiers_"):
        inner = inner.calibrated_classifiers_[0].estimator
    steps = getattr(inner, "named_steps", None)
    if steps is None or "logistic" not in steps:
        return None
    return steps["scale"], steps["logistic"]


class Scorer:
    """A loaded model: scores, explains and annotates alerts."""

    def __init__(self, estimator, version: str, kind: str, reference: np.ndarray) -> None:
        self.estimator = estimator
        self.version = version
        self.kind = kind
        self.reference = reference
        self._linear = _linear_parts(estimator)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(x)[:, 1]

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per alert and feature, how far the feature moved the model's log-odds from an average alert:
        exact for the linear model (coefficient × standardised value), by occlusion (the feature set to
        its training mean) for boosting."""
        if self._linear is not None:
            scale, logistic = self._linear
            z = (x - scale.mean_) / scale.scale_
            return z * logistic.coef_[0]
        base = self._logit(self.scores(x))
        out = np.zeros_like(x)
        for j in range(x.shape[1]):
            if np.all(x[:, j] == self.reference[j]):
                continue
            moved = x.copy()
            moved[:, j] = self.reference[j]
            out[:, j] = base - self._logit(self.scores(moved))
        return out

    @staticmethod
    def _logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    def reasons(self, row: np.ndarray, contributions: np.ndarray) -> list[str]:
        order = np.argsort(-np.abs(contributions))
        out = []
        for j in order[:REASONS]:
            c = contributions[j]
            if abs(c) < 0.05:
                break
            name = FEATURE_NAMES[j]
            value = row[j]
            shown = f"{value:g}" if not math.isclose(value, round(value)) else f"{int(round(value))}"
            out.append(f"{FEATURE_LABELS[name]}为{shown}，{'提高' if c > 0 else '降低'}核实可能")
        return out

    def annotate_many(self, items: list[tuple[dict, dict]], policy: Policy) -> None:
        """(alert, household state when it was raised) pairs: each alert gets the model's fields."""
        if not items:
            return
        feats = [features_of(alert, household, policy) for alert, household in items]
        x = matrix(feats)
        scores = self.scores(x)
        contributions = self.contributions(x)
        for i, (alert, _household) in enumerate(items):
            alert["model_version"] = self.version
            alert["model_score"] = round(float(scores[i]), 4)
            alert["model_reasons"] = self.reasons(x[i], contributions[i])
            alert["model_features"] = feats[i]

    def score_features(self, feats: list[dict[str, float]]) -> np.ndarray:
        return self.scores(matrix(feats))


def add_features(alerts_and_households: list[tuple[dict, dict]], policy: Policy) -> None:
    """Without a model (`hardship replay --features`): only `model_features`, for a first training set."""
    for alert, household in alerts_and_households:
        alert["model_features"] = features_of(alert, household, policy)


__all__ = ["ModelError", "Scorer", "add_features", "load_model", "save_model", "vector"]
