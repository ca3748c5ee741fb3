"""The six-dimension hardship score, the removal score and which alert kinds a household's state calls for.

Pure: `assess(household, policy)` reads the household state (see scoring.household) and returns an
Assessment; it never changes the state. Every number comes from the policy file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from models.validation import CHINA_STANDARD_TIME
from scoring import facts as F
from scoring.facts import DAY
from scoring.policy import Policy
from scoring.reasons import ASSETS_ZH, CATEGORIES_ZH, GRADES_ZH, SOURCES_ZH, person_label, reason, yuan

COVERED = ("dibao", "tekun")


@dataclass
class Assessment:
    dimensions: dict[str, float]
    hardship_score: float
    removal_score: float
    # kind -> reasons that call for it; a kind absent here is not called for
    kinds: dict[str, list[dict]] = field(default_factory=dict)
    per_capita_income_yuan: float | None = None
    dibao_standard_yuan: float = 0.0
    oop_total_yuan: float = 0.0  # out-of-pocket medical costs of the members in the window
    oop_limit_yuan: float | None = None  # uncovered: the out-of-pocket total at which 支出型贫困 or 漏救 is called
    members_counted: int = 1  # members living at home (not deceased, not serving a sentence), at least 1
    income_yuan: float | None = None  # the household's monthly income as the rules compute it
    health_bonus: float = 0.0  # the health dimension's part for hospital stays (20 serious, 10 any, else 0)
    # the time (epoch seconds) from which the dimensions that depend on the date alone (ages: age structure
    # and employment; deaths in the shock window) may change; None: never by the date alone
    dated_until: int | None = None


def _clamp(value: float) -> float:
    return 0.0 if value < 0 else 100.0 if value > 100 else value


def _age(birth_date: str, today: date) -> int:
    year, month, day = int(birth_date[:4]), int(birth_date[5:7]), int(birth_date[8:10])
    return today.year - year - ((today.month, today.day) < (month, day))


@dataclass
class HouseholdIncome:
    """The household's monthly income: the roster's, moved by the income events since (DESIGN.md)."""

    total: float
    roster_total: float
    changes: list[tuple[str, F.MemberIncome]]  # members whose income events changed it


def household_income(household: dict, absent: frozenset[str] | set[str] = frozenset()) -> HouseholdIncome | None:
    """Income rules of DESIGN.md over the roster and the members' income facts; None when unknown.

    Where the roster gives a member's income, it stands as their first report: a report replaces it
    and a job loss ends it. Where it gives only the
    household total, a member's first report (with no wage or pension announced before it) is taken
    as already inside that total, up to what is left of it, in the order the first reports came;
    later figures move the income by their difference. Wages and pensions announced are added.
    A member who died or is serving a sentence (`absent`) brings in nothing: their known share leaves.
    """
    roster_total = household["income"]
    if roster_total is None:
        return None
    roster_t = household["roster_t"] or 0
    shares = household.get("member_incomes") or {}
    all_facts = household["facts"]
    total = roster_total
    unattributed = roster_total - sum(shares.values())
    firsts: list[tuple[list, str, float]] = []
    changes: list[tuple[str, F.MemberIncome]] = []
    for person_id in household["members"]:
        facts = all_facts.get(person_id)
        share = shares.get(person_id)
        change = F.member_income(facts, roster_t, share) if facts else None
        gone = person_id in absent
        if change is not None and not gone:
            changes.append((person_id, change))
        if share is not None:  # the member's figure on the roster: the events move it to `current`
            if gone:
                total -= share
            elif change is not None:
                total += change.current - share
            continue
        current = 0.0 if gone or change is None else change.current
        if change is not None and change.replaces_roster_share and change.first_report is not None:
            firsts.append((change.first_report, person_id, current))
        else:
            total += current
    for entry, _person_id, current in sorted(firsts, key=lambda item: (item[0][0], item[0][1])):
        absorbed = min(entry[2], max(0.0, unattributed))
        unattributed -= absorbed
        total += current - absorbed
    return HouseholdIncome(max(0.0, total), roster_total, changes)


def household_income_yuan(household: dict) -> float | None:
    """The household's monthly income (yuan) as the rules compute it, counting every member."""
    absent = {pid for pid, facts in household["facts"].items() if F.is_dead(facts) or F.is_jailed(facts)}
    income = household_income(household, absent)
    return None if income is None else income.total


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CST_SECONDS = 8 * 3600


def _day_of(t: float) -> date:
    """datetime.fromtimestamp(t, CHINA_STANDARD_TIME).date(), by arithmetic for whole seconds (the fixed
    +08:00 offset has no daylight saving)."""
    if isinstance(t, int):
        return _date_of_day((t + _CST_SECONDS) // DAY)
    return datetime.fromtimestamp(t, CHINA_STANDARD_TIME).date()


@lru_cache(maxsize=4096)
def _date_of_day(day: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + day)


def economic_score(ratio: float) -> float:
    """Per-capita income over the standard -> 0..100 (100 = no income)."""
    if ratio <= 0.5:
        return 100.0
    if ratio <= 1.0:
        return 100.0 - (ratio - 0.5) * 60.0  # 70 at the standard
    if ratio <= 1.5:
        return 70.0 - (ratio - 1.0) * 80.0  # 30 at 1.5x
    if ratio <= 3.0:
        return 30.0 - (ratio - 1.5) * 20.0  # 0 at 3x
    return 0.0


def after_medical_ratio(income: float, oop_total: float, count: int, standard: float, policy: Policy) -> float:
    """Per-capita income after the rigid medical spending (the trailing out-of-pocket total spread over
    `spread_months`), over the standard: what the economic dimension and 支出型贫困 read."""
    return max(0.0, income - oop_total / policy.spread_months) / count / standard


def health_score(oop_total: float, bonus: float, policy: Policy) -> float:
    """The health dimension: out-of-pocket costs against the line, plus `bonus` for hospital stays."""
    return _clamp(80.0 * oop_total / policy.oop_line_yuan + bonus)


def _turns(birth_date: str, years: int) -> int:
    """The moment (epoch seconds, midnight China Standard Time) from which `_age` counts a person born on
    `birth_date` as `years` old; a 29 February birthday counts from 1 March in a year without one."""
    year, month, day = int(birth_date[:4]) + years, int(birth_date[5:7]), int(birth_date[8:10])
    try:
        birthday = date(year, month, day)
    except ValueError:
        birthday = date(year, 3, 1)
    return (birthday.toordinal() - _EPOCH_ORDINAL) * DAY - _CST_SECONDS


def assess(household: dict, policy: Policy, texts: bool = True) -> Assessment:  # noqa: C901 - one pass over the members
    """The household's scores and the alert kinds its state calls for, with their reasons.

    `texts=False` leaves out what only an officer reads: the reasons' texts name no person and no
    income change (their codes and event ids, the scores and the kinds are the same). The household
    core assesses that way and writes the texts out only for an alert that it sends.
    """
    as_of = household["as_of"]
    today = _day_of(as_of) if as_of else date(2000, 1, 1)
    members = household["members"]
    all_facts = household["facts"]
    shock_from = as_of - policy.shock_days * DAY
    coverage = household["coverage"]
    provisional = household["provisional"]
    covered = coverage in COVERED

    present = 0
    children = elderly = able_working_age = unemployed = 0
    oop_total = 0.0
    members_with_bills: list[str] = []
    serious_events: list[str] = []
    hosp_any = False
    severe: list[tuple[str, list]] = []
    disability_score = 0.0
    deaths: list[tuple[str, list]] = []
    disaster_loss = 0.0
    disaster_events: list[str] = []
    hotline_events: list[str] = []
    jailed: list[tuple[str, list]] = []
    unemployed_people: list[tuple[str, list]] = []
    over_line: list[tuple[str, float, dict]] = []  # (person, out-of-pocket, the bills behind it)
    assets: list[tuple[str, str, list]] = []
    servants: list[tuple[str, list]] = []
    absent: set[str] = set()
    roster_t = household["roster_t"] or 0
    dated_until: int | None = None

    for person_id, (birth_date, _relation) in members.items():
        facts = all_facts.get(person_id) or {}
        # the household's rigid medical spending and disaster losses count whoever bore them
        bills = facts.get("bills")
        if bills:
            person_oop = F.out_of_pocket(facts)
            oop_total += person_oop
            if person_oop > policy.oop_line_yuan:
                over_line.append((person_id, person_oop, bills))
            members_with_bills.append(person_id)
        disaster = facts.get("disaster")
        if disaster:
            for eid, entry in disaster.items():
                disaster_loss += entry[1]
                disaster_events.append(eid)
        death = facts.get("death")
        if death is not None:
            absent.add(person_id)
            if death[0] >= shock_from:
                deaths.append((person_id, death))
                leaves = death[0] + policy.shock_days * DAY + 1  # out of the shock window from then on
                dated_until = leaves if dated_until is None or leaves < dated_until else dated_until
            continue
        if F.is_jailed(facts):
            absent.add(person_id)
            jailed.append((person_id, facts["jail"]))
            continue
        present += 1
        age = _age(birth_date, today)
        if age < policy.elderly_from:  # the next birthday that moves the member between age groups
            turns = _turns(birth_date, policy.child_under if age < policy.child_under else policy.elderly_from)
            dated_until = turns if dated_until is None or turns < dated_until else dated_until
        dis = facts.get("dis")
        is_severe = dis is not None and policy.is_severe_disability(dis[2], dis[3])
        if age < policy.child_under:
            children += 1
        elif age >= policy.elderly_from:
            elderly += 1
        elif not is_severe:
            able_working_age += 1
            if F.is_unemployed(facts):
                unemployed += 1
                unemployed_people.append((person_id, facts["jobloss"]))
        if dis is not None:
            if is_severe:
                severe.append((person_id, dis))
                disability_score = max(disability_score, 85.0) + (15.0 if len(severe) > 1 else 0.0)
            elif dis[3] == 3:
                disability_score = max(disability_score, 50.0)
            else:
                disability_score = max(disability_score, 30.0)
        hosp = facts.get("hosp")
        if hosp:
            hosp_any = True
            serious_events.extend(eid for eid, entry in hosp.items() if entry[1])
        hotline = facts.get("hotline")
        if hotline:
            hotline_events.extend(hotline)
        if covered:
            for eid, (t, asset_type, value) in (facts.get("assets") or {}).items():
                if t > roster_t and _asset_counts(asset_type, value, policy):
                    assets.append((person_id, eid, [t, asset_type, value]))
            servant = facts.get("servant")
            if servant is not None and servant[0] > roster_t:
                servants.append((person_id, servant))

    standard = household["standard"] or policy.dibao_standard_yuan(household["division"])
    count = present if present else 1
    income_view = household_income(household, absent)
    income = None if income_view is None else income_view.total
    rigid_monthly = oop_total / policy.spread_months
    if income is None:
        per_capita = None
        ratio = ratio_after_medical = None
        economic = 50.0  # unknown income: neither raises nor lowers the score
    else:
        per_capita = income / count
        ratio = per_capita / standard
        ratio_after_medical = after_medical_ratio(income, oop_total, count, standard, policy)
        economic = economic_score(ratio_after_medical)

    dependents = children + elderly
    age_structure = _clamp(70.0 * dependents / count + (30.0 if present and able_working_age == 0 else 0.0))
    health_bonus = 20.0 if serious_events else 10.0 if hosp_any else 0.0
    health = health_score(oop_total, health_bonus, policy)
    employment = _clamp(100.0 * unemployed / able_working_age) if able_working_age else 0.0
    shock_parts = []
    if deaths:
        shock_parts.append(60.0)
    if disaster_events:
        shock_parts.append(40.0 + min(60.0, 60.0 * disaster_loss / (standard * 12)))
    if hotline_events:
        shock_parts.append(30.0)
    if jailed:
        shock_parts.append(30.0)
    shock = _clamp(max(shock_parts) + 10.0 * (len(shock_parts) - 1)) if shock_parts else 0.0
    dimensions = {
        "age_structure": round(age_structure, 1),
        "economic": round(economic, 1),
        "health": round(health, 1),
        "disability": round(_clamp(disability_score), 1),
        "employment": round(employment, 1),
        "shock": round(shock, 1),
    }
    hardship = round(policy.composite(dimensions), 1)

    label = _labeller(members) if texts else _no_label
    kinds: dict[str, list[dict]] = {}
    triggers: list[dict] = []
    for person_id, amount, eids in over_line:
        triggers.append(
            reason(
                "MEDICAL_OOP_OVER_LINE",
                f"{label(person_id)}近12个月个人自付医疗费用{yuan(amount)}，超过{yuan(policy.oop_line_yuan)}",
                eids,
            )
        )
    if serious_events:
        triggers.append(reason("SERIOUS_ILLNESS", "家庭成员因重特大疾病住院", serious_events))
    for person_id, dis in severe:
        triggers.append(
            reason(
                "SEVERE_DISABILITY",
                f"{label(person_id)}持{CATEGORIES_ZH.get(dis[2], dis[2])}{GRADES_ZH.get(dis[3], dis[3])}残疾证（重度残疾）",
                [dis[1]],
            )
        )
    for person_id, jobloss in unemployed_people:
        triggers.append(reason("REGISTERED_UNEMPLOYMENT", f"{label(person_id)}失业（已登记），尚未再就业", [jobloss[1]]))
    for person_id, death in deaths:
        triggers.append(reason("MEMBER_DEATH", f"{label(person_id)}死亡", [death[1]]))
    if disaster_events:
        triggers.append(reason("DISASTER", f"家庭遭遇自然灾害，损失{yuan(disaster_loss)}", disaster_events))
    if hotline_events:
        triggers.append(reason("HOTLINE_REQUEST", "通过12349热线或信访求助", hotline_events))

    living = present + len(jailed)
    income_note = _income_note(income_view, per_capita, standard, label, texts)
    if provisional:
        strong = [r for r in triggers if r["code"] in ("MEDICAL_OOP_OVER_LINE", "SEVERE_DISABILITY")]
        if strong and living:
            kinds["missed_coverage"] = [
                reason("PERSON_OUTSIDE_ROSTER", "此人不在任何在册家庭中，需入户核实并建立家庭档案"),
                *strong,
            ]
    elif coverage in ("none", "edge") and present and income is not None:  # someone at home to cover
        eligible = _missed_coverage(
            coverage, per_capita, ratio, ratio_after_medical, standard, rigid_monthly,
            lambda: [eid for pid in members_with_bills for eid in all_facts[pid]["bills"]], severe, label,
            income_note,
        )
        if eligible:
            kinds["missed_coverage"] = eligible + triggers
        else:
            assistance = _missed_assistance(
                income, oop_total, disaster_loss, members_with_bills, disaster_events, all_facts, policy
            )
            if assistance:
                kinds["missed_assistance"] = assistance + triggers

    removal = 0.0
    if covered:
        removal, exit_reasons, gradual_reasons = _removal(
            household, present, living, deaths, jailed, ratio, per_capita, standard, assets, servants,
            income_view, income_note, label, policy,
        )
        if exit_reasons:
            kinds["should_exit"] = exit_reasons
        elif gradual_reasons:
            kinds["gradual_exit"] = gradual_reasons
        filed = household["filed"]
        if filed:
            staff = sorted({s for ids in filed.values() for s in ids})
            kinds["filed_relative_check"] = [
                reason(
                    "FILED_RELATIVE",
                    "、".join(label(pid) for pid in sorted(filed))
                    + f"为社会救助经办人员或村（居）干部的备案近亲属（{len(staff)}名工作人员），需由无亲属关系人员核查",
                )
            ]

    oop_limit = None
    if coverage in ("none", "edge") and income is not None:
        # the out-of-pocket total at which 支出型贫困 (or 漏救) would change the finding
        oop_limit = min(
            policy.spread_months * (income - standard * count),
            policy.missed_assistance_share * 12 * income - disaster_loss,
        )
    return Assessment(
        members_counted=count,
        oop_total_yuan=oop_total,
        oop_limit_yuan=oop_limit,
        dimensions=dimensions,
        hardship_score=hardship,
        removal_score=round(removal, 1),
        kinds=kinds,
        per_capita_income_yuan=None if per_capita is None else round(per_capita, 2),
        dibao_standard_yuan=standard,
        income_yuan=income,
        health_bonus=health_bonus,
        dated_until=dated_until,
    )


def _asset_counts(asset_type: str, value: float, policy: Policy) -> bool:
    if asset_type == "vehicle":
        return value > policy.vehicle_value_yuan
    if asset_type == "property":
        return value >= policy.property_value_yuan
    return value >= policy.business_value_yuan


def _no_label(_person_id: str) -> str:
    return ""


def _labeller(members: dict):
    def label(person_id: str) -> str:
        member = members.get(person_id)
        return person_label(person_id, member[1] if member else None)

    return label


def _missed_coverage(
    coverage, per_capita, ratio, ratio_after_medical, standard, rigid_monthly, bill_event_ids, severe, label,
    income_note,
) -> list[dict]:
    """Why an uncovered (or edge) household is eligible (漏保): the income test, or 单人保. Empty: not eligible."""
    eligible: list[dict] = []
    if ratio is not None and ratio <= 1.0:
        eligible.append(
            reason(
                "INCOME_UNDER_STANDARD",
                f"家庭月人均收入{yuan(per_capita)}，不高于当地低保标准{yuan(standard)}{income_note[0]}",
                income_note[1],
            )
        )
    elif ratio_after_medical is not None and ratio_after_medical <= 1.0:
        eligible.append(
            reason(
                "EXPENDITURE_POVERTY",
                f"扣除近12个月刚性医疗支出（月均{yuan(rigid_monthly)}）后家庭月人均收入"
                f"{yuan(ratio_after_medical * standard)}，不高于低保标准{yuan(standard)}（支出型贫困）",
                bill_event_ids(),
            )
        )
    if coverage == "edge" and severe:
        eligible.append(
            reason(
                "SINGLE_PERSON_COVERAGE",
                "低保边缘家庭中的重度残疾人可单独纳入低保（单人保）："
                + "、".join(label(pid) for pid, _ in severe),
                [dis[1] for _, dis in severe],
            )
        )
    return eligible


def _missed_assistance(income, oop_total, disaster_loss, members_with_bills, disaster_events, all_facts, policy):
    """漏救: a household over the line whose medical costs and disaster losses of the trailing 12 months
    exceed the policy's share of its annual income: temporary or medical assistance, not dibao."""
    burden = oop_total + disaster_loss
    annual = 12 * income
    if burden <= policy.missed_assistance_share * annual:
        return []
    share = f"{burden / annual:.0%}" if annual else "全部"
    text = (
        f"近12个月个人自付医疗费用{yuan(oop_total)}与灾害损失{yuan(disaster_loss)}合计{yuan(burden)}，"
        f"占家庭年收入{yuan(annual)}的{share}，超过{policy.missed_assistance_share:.0%}，"
        "应给予临时救助或医疗救助（防范漏救）"
    )
    event_ids = [eid for pid in members_with_bills for eid in all_facts[pid]["bills"]] + list(disaster_events)
    return [reason("SHOCK_OVER_INCOME_SHARE", text, event_ids)]


def _removal(
    household, present, living, deaths, jailed, ratio, per_capita, standard, assets, servants, income_view,
    income_note, label, policy,
) -> tuple[float, list[dict], list[dict]]:
    """The removal score and the reasons for 应退 and 渐退 of a covered household."""
    parts: list[float] = []
    exit_reasons: list[dict] = []
    gradual: list[dict] = []
    if living == 0:
        parts.append(100.0)
        exit_reasons.append(
            reason("ALL_MEMBERS_DECEASED", "保障家庭成员均已死亡", [death[1] for _, death in deaths])
        )
    elif present == 0:
        parts.append(90.0)
        exit_reasons.append(reason("NO_MEMBER_PRESENT", "家庭成员均在服刑", [jail[1] for _, jail in jailed]))
    elif jailed:
        parts.append(65.0)
        for person_id, jail in jailed:
            exit_reasons.append(reason("INCARCERATION", f"{label(person_id)}正在服刑，不再计入保障人口", [jail[1]]))
    gradual_until = household.get("gradual_until")
    in_gradual_period = gradual_until is not None and household["as_of"] < gradual_until
    if ratio is not None and present:
        text = f"家庭月人均收入{yuan(per_capita)}，为低保标准{yuan(standard)}的{ratio:.2f}倍{income_note[0]}"
        events = income_note[1]
        if ratio >= policy.should_exit_ratio:
            parts.append(80.0 + min(20.0, (ratio - policy.should_exit_ratio) * 40.0))
            exit_reasons.append(reason("INCOME_OVER_EXIT_LINE", text + "，达到标准的1.5倍以上", events))
        elif ratio > 1.0:
            parts.append(30.0 + (ratio - 1.0) * 60.0)
            if gradual_until is not None and not in_gradual_period:
                exit_reasons.append(reason("GRADUAL_EXIT_ENDED", "6个月渐退期已满，" + text, events))
                parts.append(policy.should_exit_removal)
            elif gradual_until is None:
                employed = income_view is not None and any(
                    item[4] == "wage" for _pid, change in income_view.changes for item in change.changed
                )
                if employed:
                    gradual.append(reason(
                        "GRADUAL_EXIT_AFTER_EMPLOYMENT",
                        text + "，超过标准但低于1.5倍；成员就业后收入超标，由街道（乡镇）审核确定是否给予6个月渐退期",
                        events,
                    ))
                else:
                    gradual.append(reason(
                        "GRADUAL_EXIT_BAND", text + "，超过标准但低于1.5倍，给予6个月渐退期", events
                    ))
    for person_id, eid, (_t, asset_type, value) in assets:
        score = {"property": 85.0, "vehicle": 75.0, "business": 70.0}[asset_type]
        parts.append(score)
        worth = f"（价值{yuan(value)}）" if value else ""
        code = {"property": "PROPERTY_ACQUIRED", "vehicle": "VEHICLE_ACQUIRED", "business": "BUSINESS_REGISTERED"}[asset_type]
        exit_reasons.append(reason(code, f"{label(person_id)}新增{ASSETS_ZH[asset_type]}{worth}", [eid]))
    for person_id, servant in servants:
        parts.append(90.0)
        exit_reasons.append(reason(
            "PUBLIC_SERVANT_HIRED", f"{label(person_id)}被录用为公职人员，需重新核查家庭经济状况", [servant[1]]
        ))
    if not parts:
        return 0.0, [], gradual
    removal = min(100.0, max(parts) + 5.0 * (len(parts) - 1))
    return removal, exit_reasons, gradual


_INCOME_KINDS_ZH = {"wage": "新就业工资", "pension": "新领养老金", "report": "报告月收入", "fired": "报告失业，工资收入终止"}


def _income_note(income_view: HouseholdIncome | None, per_capita, standard, label,
                 texts: bool = True) -> tuple[str, list[str]]:
    """Whose income changed since the roster, from which department, and to what: text and event ids."""
    if income_view is None or not income_view.changes:
        return "", []
    if not texts:
        return "", [item[1] for _person_id, change in income_view.changes for item in change.changed]
    parts: list[str] = []
    event_ids: list[str] = []
    for person_id, change in income_view.changes:
        latest = change.changed[-1]
        amount = "" if latest[4] == "fired" else yuan(latest[2])
        parts.append(
            f"{label(person_id)}：{SOURCES_ZH.get(latest[3], latest[3] or '有关部门')}"
            f"{_date(latest[0])}{_INCOME_KINDS_ZH[latest[4]]}{amount}"
        )
        event_ids.extend(item[1] for item in change.changed)
    moved = income_view.total - income_view.roster_total
    direction = "增加" if moved > 0 else "减少" if moved < 0 else "不变"
    text = (
        f"（在册家庭月收入{yuan(income_view.roster_total)}，现为{yuan(income_view.total)}，{direction}"
        f"{yuan(abs(moved)) if moved else ''}：" + "；".join(parts) + "）"
    )
    return text, event_ids


def _date(t: float) -> str:
    day = datetime.fromtimestamp(t, CHINA_STANDARD_TIME).date()
    return f"{day.year}年{day.month}月{day.day}日"
