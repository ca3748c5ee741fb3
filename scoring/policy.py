"""The policy file: load, check (refusing a bad file with the line that is wrong) and look up standards."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

DIMENSIONS = ("age_structure", "economic", "health", "disability", "employment", "shock")
BUNDLED_POLICY = "policy.yaml"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Policy:
    version: str
    model_version: str
    dibao_standards: tuple[tuple[str, float], ...]  # (prefix, monthly yuan), longest prefix first
    oop_line_yuan: float
    medical_window_days: int
    spread_months: int
    severe_grades: frozenset[int]
    severe_grade3_categories: frozenset[str]
    gradual_exit_upper_ratio: float
    gradual_exit_months: int
    should_exit_ratio: float
    property_value_yuan: float
    vehicle_value_yuan: float
    business_value_yuan: float
    child_under: int
    elderly_from: int
    shock_days: int
    asset_days: int
    max_bills_per_person: int
    weights: tuple[tuple[str, float], ...]
    weighted_mean_share: float
    top_two_share: float
    missed_assistance_share: float  # 漏救: medical costs + disaster losses over this share of annual income
    should_exit_removal: float
    levels: tuple[tuple[float, int], ...]  # (min score, level), highest min first
    filed_relative_check_level: int

    def dibao_standard_yuan(self, division_code: str | None) -> float:
        """最低生活保障标准 for a division: the longest matching prefix."""
        return _standard_for(self.dibao_standards, division_code or "")

    def composite(self, dimensions: dict[str, float]) -> float:
        """The hardship score 0-100 from the six dimension scores."""
        mean = sum(dimensions[name] * weight for name, weight in self.weights)
        first = second = 0.0
        for value in dimensions.values():
            if value > first:
                first, second = value, first
            elif value > second:
                second = value
        return self.weighted_mean_share * mean + self.top_two_share * (first + second) / 2

    def level_for(self, score: float) -> int:
        for minimum, level in self.levels:
            if score >= minimum:
                return level
        return 1

    def is_severe_disability(self, category: str, grade: int) -> bool:
        return grade in self.severe_grades or (grade == 3 and category in self.severe_grade3_categories)


@lru_cache(maxsize=65536)
def _standard_for(standards: tuple[tuple[str, float], ...], division_code: str) -> float:
    for prefix, amount in standards:
        if division_code.startswith(prefix):
            return amount
    raise PolicyError(f"no dibao standard matches division {division_code!r}; add a fallback prefix \"\"")


class _Lines:
    """Remembers the line of every key path in the YAML file, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[tuple, int] = {}

    def to_python(self, node: yaml.Node, path: tuple = ()) -> object:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out = {}
            for key_node, value_node in node.value:
                key = key_node.value
                self.lines[(*path, key)] = key_node.start_mark.line + 1  # the line of the key
                out[key] = self.to_python(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.to_python(item, (*path, index)) for index, item in enumerate(node.value)]
        return yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value

    def fail(self, path: tuple, message: str) -> PolicyError:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        dotted = ".".join(str(part) for part in path) or "(top)"
        return PolicyError(f"{self.source}, line {line}: {dotted}: {message}")


def load_policy(path: str | Path | None = None) -> Policy:
    """Load and check a policy file; None means the bundled one."""
    if path is None:
        text = resources.files("scoring").joinpath(BUNDLED_POLICY).read_text(encoding="utf-8")
        source = "bundled policy.yaml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc.strerror}; give an existing YAML file") from None
        source = str(path)
    return parse_policy(text, source)


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise PolicyError(f"{source}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    lines = _Lines(source)
    if node is None:
        raise PolicyError(f"{source}: the file is empty; start from the bundled scoring/policy.yaml")
    data = lines.to_python(node)
    if not isinstance(data, dict):
        raise lines.fail((), "the policy must be a mapping of settings")

    def get(*path: str | int, kind: type | tuple = (int, float), minimum: float | None = None, maximum: float | None = None):
        value: object = data
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                raise lines.fail(path, "missing; every setting of the bundled scoring/policy.yaml is required")
        if kind == (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise lines.fail(path, f"must be a number, not {value!r}")
        elif not isinstance(value, kind):
            raise lines.fail(path, f"must be {getattr(kind, '__name__', kind)}, not {value!r}")
        if minimum is not None and value < minimum:
            raise lines.fail(path, f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise lines.fail(path, f"must be at most {maximum}, not {value}")
        return value

    version = get("policy_version", kind=str)
    standards_raw = get("dibao_standards", kind=list)
    standards: list[tuple[str, float]] = []
    for index in range(len(standards_raw)):
        prefix = get("dibao_standards", index, "prefix", kind=str)
        if prefix and (not prefix.isdigit() or len(prefix) > 12):
            raise lines.fail(("dibao_standards", index, "prefix"), "must be up to 12 digits of a division code")
        amount = get("dibao_standards", index, "monthly_yuan", minimum=1)
        standards.append((prefix, float(amount)))
    if not any(prefix == "" for prefix, _ in standards):
        raise lines.fail(("dibao_standards",), 'needs a fallback entry with prefix "" for divisions not listed')
    standards.sort(key=lambda item: len(item[0]), reverse=True)

    weights = {name: float(get("weights", name, minimum=0, maximum=1)) for name in DIMENSIONS}
    extra = set(get("weights", kind=dict)) - set(DIMENSIONS)
    if extra:
        raise lines.fail(("weights", sorted(extra)[0]), f"is not a dimension; the six are {', '.join(DIMENSIONS)}")
    if abs(sum(weights.values()) - 1.0) > 1e-6:
        raise lines.fail(("weights",), f"must sum to 1, not {sum(weights.values()):.3f}")

    mean_share = float(get("composite", "weighted_mean_share", minimum=0, maximum=1))
    top_share = float(get("composite", "top_two_share", minimum=0, maximum=1))
    if abs(mean_share + top_share - 1.0) > 1e-6:
        raise lines.fail(("composite",), f"weighted_mean_share and top_two_share must sum to 1, not {mean_share + top_share:.3f}")

    levels_raw = get("levels", kind=list)
    levels: list[tuple[float, int]] = []
    for index in range(len(levels_raw)):
        minimum = float(get("levels", index, "min", minimum=0, maximum=100))
        level = get("levels", index, "level", kind=int, minimum=1, maximum=4)
        levels.append((minimum, level))
    if not levels or min(m for m, _ in levels) > 0:
        raise lines.fail(("levels",), "needs a band with min 0")
    levels.sort(reverse=True)

    grades = get("disability", "severe_grades", kind=list)
    for index, grade in enumerate(grades):
        if not isinstance(grade, int) or not 1 <= grade <= 4:
            raise lines.fail(("disability", "severe_grades", index), "must be a grade 1-4")
    categories = get("disability", "severe_grade3_categories", kind=list)

    lower = get("income", "gradual_exit_upper_ratio", minimum=1)
    return Policy(
        version=version,
        model_version=str(data.get("model_version", "rules-only")),
        dibao_standards=tuple(standards),
        oop_line_yuan=float(get("medical", "out_of_pocket_line_yuan", minimum=1)),
        medical_window_days=int(get("medical", "window_days", kind=int, minimum=1, maximum=3660)),
        spread_months=int(get("medical", "spread_months", kind=int, minimum=1, maximum=120)),
        severe_grades=frozenset(grades),
        severe_grade3_categories=frozenset(categories),
        gradual_exit_upper_ratio=float(lower),
        gradual_exit_months=int(get("income", "gradual_exit_months", kind=int, minimum=0, maximum=60)),
        should_exit_ratio=float(get("income", "should_exit_ratio", minimum=lower)),
        property_value_yuan=float(get("assets", "property_value_yuan", minimum=0)),
        vehicle_value_yuan=float(get("assets", "vehicle_value_yuan", minimum=0)),
        business_value_yuan=float(get("assets", "business_value_yuan", minimum=0)),
        child_under=int(get("ages", "child_under", kind=int, minimum=0, maximum=30)),
        elderly_from=int(get("ages", "elderly_from", kind=int, minimum=40, maximum=100)),
        shock_days=int(get("windows", "shock_days", kind=int, minimum=1, maximum=3660)),
        asset_days=int(get("windows", "asset_days", kind=int, minimum=1, maximum=3660)),
        max_bills_per_person=int(get("windows", "max_bills_per_person", kind=int, minimum=1, maximum=10000)),
        weights=tuple(weights.items()),
        weighted_mean_share=mean_share,
        top_two_share=top_share,
        missed_assistance_share=float(get("assistance", "share_of_annual_income", minimum=0, maximum=10)),
        should_exit_removal=float(get("thresholds", "should_exit_removal", minimum=0, maximum=100)),
        levels=tuple(levels),
        filed_relative_check_level=int(get("filed_relative_check_level", kind=int, minimum=1, maximum=4)),
    )
