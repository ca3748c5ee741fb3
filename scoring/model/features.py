"""Features of a household at the moment an alert is raised (预警时点的家庭特征), as numpy arrays.

Pure: `features_of(alert, household, policy)` reads the alert, the household state dict (the public
keys documented in scoring.household and scoring.facts) and `assess()`'s Assessment; it changes
nothing. The list of features is fixed (`FEATURES`: name and Chinese label); a model file records it
and is refused when it differs (scoring.model.store).

The state features come in two blocks, one for the eligibility kinds (漏保, 漏救: "u_") and one for the
exit and check kinds (应退, 渐退, 备案核查: "c_"), each zero for the other group: a linear model then
weighs income, illness or assets in the direction each kind needs (a high income makes an exit more
likely to be confirmed and a missed coverage less). The income over the standard also comes in bands
(zero, 0–0.3 … 1.5–2, over 2 times) and as its nearness to the standard from half of it (the shape of
what visits find: informal income is found most often near the line), so that one linear model can
follow a curve; the alert's reason codes (the rules' own triggers, `scoring.reasons.CODES_ZH`) and a
new wage behind an exit (a temporary job is often over by the visit) are features of their own.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np

from models.validation import CHINA_STANDARD_TIME
from scoring import facts as F
from scoring.assess import assess
from scoring.policy import Policy
from scoring.reasons import CODES_ZH

DAY = 86_400
KINDS = ("missed_coverage", "missed_assistance", "should_exit", "gradual_exit", "filed_relative_check")
KINDS_ZH = {"missed_coverage": "漏保", "missed_assistance": "漏救", "should_exit": "应退",
            "gradual_exit": "渐退", "filed_relative_check": "备案核查"}
UNCOVERED_KINDS = ("missed_coverage", "missed_assistance")

# (name, Chinese label) of the state features, each once per block
_STATE = (
    ("dim_age_structure", "年龄结构维度得分"),
    ("dim_economic", "经济维度得分"),
    ("dim_health", "健康维度得分"),
    ("dim_disability", "残疾维度得分"),
    ("dim_employment", "就业维度得分"),
    ("dim_shock", "突发事件维度得分"),
    ("hardship_score", "困难综合得分"),
    ("removal_score", "退出评分"),
    ("income_over_standard", "人均收入与低保标准之比"),
    ("income_near_line", "人均收入接近标准（0.8–1.2倍）"),
    ("income_unknown", "收入未知"),
    ("medical_over_standard", "刚性医疗支出（月均人均）与标准之比"),
    ("oop_over_line", "个人自付医疗费超过3万元"),
    ("members_counted", "在家成员数"),
    ("members_absent", "死亡或服刑成员数"),
    ("children", "未成年成员数"),
    ("elderly", "老年成员数"),
    ("oldest_age", "最年长成员年龄（十岁）"),
    ("severe_disability", "重度残疾成员"),
    ("unemployed", "失业成员"),
    ("bills_90d", "近90天医疗账单数"),
    ("hosp_365d", "近一年住院次数"),
    ("serious_illness", "重大疾病住院"),
    ("disaster_365d", "近一年受灾"),
    ("hotline_365d", "近一年求助热线或信访"),
    ("assets", "新增房产、车辆或工商登记"),
    ("wage_announced", "新就业工资"),
    ("pension_announced", "新领养老金"),
    ("income_reports", "收入核报成员数"),
    ("public_servant", "成员录用为公职人员"),
    ("filed_relative", "成员为备案近亲属"),
    ("years_since_roster", "距花名册更新（年）"),
    ("reasons", "预警理由条数"),
    ("income_zero", "人均收入为零（已知收入）"),
    *((f"ratio_band_{i}", f"人均收入为标准的{label}") for i, label in enumerate(
        ("0–0.3倍", "0.3–0.5倍", "0.5–0.7倍", "0.7–0.9倍", "0.9–1倍", "1–1.2倍", "1.2–1.5倍", "1.5–2倍", "2倍以上"))),
    ("near_standard", "人均收入接近标准的程度（半数标准起，至标准为1）"),
)
RATIO_EDGES = (0.3, 0.5, 0.7, 0.9, 1.0, 1.2, 1.5, 2.0)  # upper bounds of ratio_band_0 … ratio_band_7 (included)
REASON_CODES: tuple[str, ...] = tuple(CODES_ZH)
_CONTEXT = (
    *((f"kind_{kind}", f"预警类型：{KINDS_ZH[kind]}") for kind in KINDS),
    ("level", "预警等级"),
    ("coverage_covered", "在保（低保或特困）"),
    ("coverage_edge", "低保边缘"),
    ("provisional", "未在花名册（临时户）"),
    ("should_exit_on_wage", "应退且有新就业工资"),
    ("gradual_exit_on_wage", "渐退且有新就业工资"),
    *((f"reason_{code}", f"预警理由：{label}") for code, label in CODES_ZH.items()),
)
FEATURES: tuple[tuple[str, str], ...] = (
    *_CONTEXT,
    *((f"u_{name}", f"{label}（漏保/漏救）") for name, label in _STATE),
    *((f"c_{name}", f"{label}（应退/渐退/核查）") for name, label in _STATE),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)
FEATURE_LABELS: dict[str, str] = dict(FEATURES)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _age(birth_date: str, today: date) -> int:
    try:
        year, month, day = int(birth_date[:4]), int(birth_date[5:7]), int(birth_date[8:10])
    except (TypeError, ValueError):
        return 0
    return today.year - year - ((today.month, today.day) < (month, day))


def _recent(store: dict | None, since: int) -> int:
    return sum(1 for entry in (store or {}).values() if entry[0] >= since)


def _ratio_bands(ratio: float | None) -> dict[str, float]:
    """The income over the standard as bands (zero; 0–0.3 … 1.5–2, each upper bound included; over 2) and its
    nearness to the standard (0 at half of it or under, rising to 1 at the standard and above); all 0 if unknown."""
    out = {"income_zero": 0.0, **{f"ratio_band_{i}": 0.0 for i in range(len(RATIO_EDGES) + 1)}, "near_standard": 0.0}
    if ratio is None:
        return out
    if ratio == 0:
        out["income_zero"] = 1.0
    else:
        band = next((i for i, edge in enumerate(RATIO_EDGES) if ratio <= edge), len(RATIO_EDGES))
        out[f"ratio_band_{band}"] = 1.0
    out["near_standard"] = min(1.0, max(0.0, (ratio - 0.5) / 0.5))
    return out


def state_features(alert: dict, household: dict, policy: Policy) -> dict[str, float]:
    """The state block of one alert's household (unprefixed names)."""
    a = assess(household, policy)
    as_of = household.get("as_of") or 0
    today = datetime.fromtimestamp(as_of, CHINA_STANDARD_TIME).date() if as_of else date(2000, 1, 1)
    standard = a.dibao_standard_yuan or 1.0
    counted = max(1, a.members_counted)
    ratio = None if a.per_capita_income_yuan is None else a.per_capita_income_yuan / standard
    d = a.dimensions
    out = {
        "dim_age_structure": d.get("age_structure", 0.0) / 100,
        "dim_economic": d.get("economic", 0.0) / 100,
        "dim_health": d.get("health", 0.0) / 100,
        "dim_disability": d.get("disability", 0.0) / 100,
        "dim_employment": d.get("employment", 0.0) / 100,
        "dim_shock": d.get("shock", 0.0) / 100,
        "hardship_score": a.hardship_score / 100,
        "removal_score": a.removal_score / 100,
        "income_over_standard": 0.0 if ratio is None else min(ratio, 5.0),
        "income_near_line": 1.0 if ratio is not None and 0.8 <= ratio <= 1.2 else 0.0,
        "income_unknown": 1.0 if ratio is None else 0.0,
        "medical_over_standard": min(a.oop_total_yuan / 12 / counted / standard, 5.0),
        "oop_over_line": 1.0 if a.oop_total_yuan > policy.oop_line_yuan else 0.0,
        "members_counted": float(a.members_counted),
        "reasons": float(len(alert.get("reasons") or ())),
        **_ratio_bands(ratio),
    }
    absent = children = elderly = severe = unemployed = bills = hosp = serious = 0
    disaster = hotline = assets = wage = pension = reports = servant = 0
    oldest = 0
    since_90, since_365 = as_of - 90 * DAY, as_of - 365 * DAY
    all_facts = household.get("facts") or {}
    for person_id, member in (household.get("members") or {}).items():
        facts = all_facts.get(person_id) or {}
        if facts.get("death") is not None or F.is_jailed(facts):
            absent += 1
            continue
        age = _age(member[0], today)
        oldest = max(oldest, age)
        children += age < policy.child_under
        elderly += age >= policy.elderly_from
        dis = facts.get("dis")
        severe += dis is not None and policy.is_severe_disability(dis[2], dis[3])
        unemployed += F.is_unemployed(facts)
        bills += _recent(facts.get("bills"), since_90)
        hosp_store = facts.get("hosp") or {}
        hosp += _recent(hosp_store, since_365)
        serious += any(entry[1] for entry in hosp_store.values())
        disaster += _recent(facts.get("disaster"), since_365)
        hotline += _recent(facts.get("hotline"), since_365)
        assets += len(facts.get("assets") or ())
        wage += facts.get("wage") is not None
        pension += facts.get("pension") is not None
        reports += facts.get("report") is not None
        servant += facts.get("servant") is not None
    roster_t = household.get("roster_t")
    out.update(
        members_absent=float(absent), children=float(children), elderly=float(elderly),
        oldest_age=oldest / 10, severe_disability=float(min(severe, 2)), unemployed=float(min(unemployed, 2)),
        bills_90d=math.log1p(bills), hosp_365d=math.log1p(hosp), serious_illness=float(serious > 0),
        disaster_365d=float(min(disaster, 3)), hotline_365d=float(min(hotline, 3)), assets=float(min(assets, 3)),
        wage_announced=float(min(wage, 3)), pension_announced=float(min(pension, 3)),
        income_reports=float(min(reports, 5)), public_servant=float(servant > 0),
        filed_relative=float(bool(household.get("filed"))),
        years_since_roster=0.0 if not roster_t else max(0.0, (as_of - roster_t) / (365 * DAY)),
    )
    return out


def features_of(alert: dict, household: dict, policy: Policy) -> dict[str, float]:
    """All features of one alert, by name (the `model_features` an alert carries)."""
    kind = alert["kind"]
    coverage = household.get("coverage")
    values = dict.fromkeys(FEATURE_NAMES, 0.0)
    values[f"kind_{kind}"] = 1.0
    values["level"] = float(alert["level"])
    values["coverage_covered"] = float(coverage in ("dibao", "tekun"))
    values["coverage_edge"] = float(coverage == "edge")
    values["provisional"] = float(bool(household.get("provisional")))
    for reason in alert.get("reasons") or ():
        key = f"reason_{reason.get('code')}"
        if key in values:
            values[key] = 1.0
    prefix = "u_" if kind in UNCOVERED_KINDS else "c_"
    state = state_features(alert, household, policy)
    for name, value in state.items():
        values[prefix + name] = round(float(value), 6)
    if state["wage_announced"] > 0:
        if kind == "should_exit":
            values["should_exit_on_wage"] = 1.0
        elif kind == "gradual_exit":
            values["gradual_exit_on_wage"] = 1.0
    return values


def vector(features: dict[str, float], names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    """A feature dict as a row in `names` order; a missing feature is an error (never a silent zero)."""
    missing = [name for name in names if name not in features]
    if missing:
        raise KeyError(f"alert features lack {', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}")
    return np.array([float(features[name]) for name in names], dtype=np.float64)


def matrix(rows: list[dict[str, float]], names: tuple[str, ...] = FEATURE_NAMES) -> np.ndarray:
    if not rows:
        return np.zeros((0, len(names)))
    return np.vstack([vector(row, names) for row in rows])
