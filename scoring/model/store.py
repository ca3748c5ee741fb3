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
    """(mean, scale, coefficients, intercept, calibration) of a calibrated linear pipeline, or None for
    other models: the score is calibration(f) with f = coef·(x − mean)/scale + intercept, in plain
    numpy, exactly as the calibrated pipeline computes it (tests/test_model.py checks they agree)."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if not calibrated or len(calibrated) != 1:
        return None
    steps = getattr(calibrated[0].estimator, "named_steps", None)
    if steps is None or "logistic" not in steps or "scale" not in steps:
        return None
    scale, logistic = steps["scale"], steps["logistic"]
    calibrator = calibrated[0].calibrators[0]
    method = getattr(calibrated[0], "method", None)
    if method == "sigmoid":
        a, b = float(calibrator.a_), float(calibrator.b_)

        def calibration(f: np.ndarray) -> np.ndarray:
            return 1.0 / (1.0 + np.exp(a * f + b))
    elif method == "isotonic" and getattr(calibrator, "out_of_bounds", None) == "clip":
        xs, ys = np.asarray(calibrator.X_thresholds_), np.asarray(calibrator.y_thresholds_)

        def calibration(f: np.ndarray) -> np.ndarray:
            return np.interp(f, xs, ys)
    else:
        return None
    return scale.mean_, scale.scale_, logistic.coef_[0], float(logistic.intercept_[0]), calibration


class Scorer:
    """A loaded model: scores, explains and annotates alerts."""

    def __init__(self, estimator, version: str, kind: str, reference: np.ndarray) -> None:
        self.estimator = estimator
        self.version = version
        self.kind = kind
        self.reference = reference
        self._linear = _linear_parts(estimator)

    def scores(self, x: np.ndarray) -> np.ndarray:
        if self._linear is not None:
            mean, scale, coef, intercept, calibration = self._linear
            return calibration(((x - mean) / scale) @ coef + intercept)
        return self.estimator.predict_proba(x)[:, 1]

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per alert and feature, how far the feature moved the model's log-odds from an average alert:
        exact for the linear model (coefficient × standardised value: the log-odds of the linear part,
        which the calibration maps to the score without changing the order), by occlusion for boosting
        (the feature set to its training mean; all features in one batch)."""
        if self._linear is not None:
            mean, scale, coef, _intercept, _calibration = self._linear
            return ((x - mean) / scale) * coef
        n, m = x.shape
        moved = np.repeat(x[np.newaxis, :, :], m, axis=0)  # (feature, alert, feature)
        for j in range(m):
            moved[j, :, j] = self.reference[j]
        logits = self._logit(self.scores(np.vstack([x, moved.reshape(m * n, m)])))
        base, occluded = logits[:n], logits[n:].reshape(m, n)
        return (base[np.newaxis, :] - occluded).T

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
