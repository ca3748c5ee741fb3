"""A simulated district (模拟辖区) like Wuchang, Wuhan: roster, filings, a year of events and the ground truth.

`hardship simulate` writes or streams a deterministic district: households on the civil-affairs
roster (低保 dibao, 特困 tekun, 低保边缘 edge and uncovered), close-relative filings (近亲属备案) of
staff and cadres, a year of departmental events in time order, and, from the simulator's own latent
state (never from scoring/), the truth per household: should it be covered (漏保), should it exit
(应退), is it in the gradual exit band (渐退), or does it hold a filed relative of an official (关系保).

Python API: `generate(...)` returns a `Simulation` with `registry`, `filings`, `events` (time-ordered,
re-generated on each iteration from the seed) and `truth`; `write_files(out_dir, ...)` writes the
four JSON Lines files. Rates, mix and truth rules are documented in docs/simulator.md.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from models.resident_id import make_resident_id
from models.validation import CHINA_STANDARD_TIME, DISABILITY_CATEGORIES, FILING_ROLES

# --- defaults ----------------------------------------------------------------------------------

DEFAULT_HOUSEHOLDS = 15_000
DEFAULT_DAYS = 365
DEFAULT_START = date(2026, 1, 1)
DEFAULT_SEED = 2026
DEFAULT_SCALE = 1.0
# 武昌区城乡低保标准: 1070 yuan per person per month (the policy file, scoring/policy.yaml, holds the
# value the scorer uses; this constant is the simulator's copy for its ground truth).
WUCHANG_DIBAO_STANDARD_YUAN = 1070.0
GRADUAL_EXIT_RATIO = 1.5  # 渐退 band: over the standard, under 1.5 times it; at 1.5 times or more: 应退
OOP_LINE_YUAN = 30_000.0  # 个人自付医疗费用超过3万元 (trailing 12 months)
DISASTER_SHOCK_YUAN = 10_000.0  # a disaster loss at or over this is a hardship shock
VEHICLE_LINE_YUAN = 50_000.0  # a vehicle worth more than this is exit evidence (policy.yaml assets)
WINDOW_DAYS = 365
SPREAD_MONTHS = 12  # 刚性支出扣减: out-of-pocket medical costs spread over 12 months

DISTRICT_CODE = "420106"  # 湖北省武汉市武昌区
STREETS = 14  # 街道 (Wuchang has 14 streets)
COMMUNITIES_PER_STREET = (8, 12)  # 社区 per street, inclusive range
OUTSIDER_SHARE = 0.02  # persons on no roster, as a share of all persons
OUTSIDER_STRONG_SHARE = 0.25  # outsiders given a strong trigger (漏保 on no roster)
FILINGS = 300  # 近亲属备案 per 15,000 households (scaled with households)
FILED_COVERED_SHARE = 0.2  # filings that name a member of a covered household (关系保)
COVERAGE_MIX = (("dibao", 0.08), ("tekun", 0.01), ("edge", 0.06), ("none", 0.85))

_DAY = 86_400
_YEAR = 365 * _DAY
_OTHER_WUHAN = ("420102", "420103", "420104", "420105", "420107", "420111", "420115")
_OTHER_HUBEI = ("420500", "420600", "421000", "421100", "421200", "422801")
_RELATIVES_ELSEWHERE = ("420102", "420111", "421100", "430104", "410105")

# --- the rates table (per person per year at --scale 1; docs/simulator.md repeats it) ------------

# 门诊/药店结算: outpatient and pharmacy settlements by age band; --scale multiplies these only.
OUTPATIENT_PER_YEAR = ((16, 10.0), (60, 16.0), (75, 34.0), (200, 46.0))  # (age under, rate)
HOSPITALIZATION_PER_YEAR = ((16, 0.06), (60, 0.10), (200, 0.30))
SERIOUS_ILLNESS_SHARE = ((16, 0.04), (60, 0.08), (200, 0.12))  # 大病 share of admissions
DEATH_PER_YEAR = ((16, 0.0003), (45, 0.001), (60, 0.004), (70, 0.010), (80, 0.028), (90, 0.08), (200, 0.18))
DISABILITY_PER_YEAR = ((60, 0.005), (200, 0.012))  # 残疾评定 (new certificates)
JOB_LOSS_PER_YEAR = 0.05  # employed, working age
UNEMPLOYMENT_REGISTERED_SHARE = 0.55  # job losses followed by 失业登记 within 3-45 days
EMPLOYMENT_PER_YEAR = {"none": 0.5, "edge": 0.3, "dibao": 0.2, "tekun": 0.0}  # unemployed, working age
PENSION_PER_YEAR = 0.25  # not yet pensioned, men 58+ / women 50+
PROPERTY_PER_YEAR = {"none": 0.012, "edge": 0.004, "dibao": 0.003, "tekun": 0.001}  # adults
VEHICLE_PER_YEAR = {"none": 0.03, "edge": 0.01, "dibao": 0.008, "tekun": 0.001}
BUSINESS_PER_YEAR = {"none": 0.01, "edge": 0.008, "dibao": 0.005, "tekun": 0.0}
PUBLIC_SERVANT_PER_YEAR = 0.004  # ages 20-35
INCARCERATION_PER_YEAR = 0.0008  # ages 18-60
DISASTER_PER_HOUSEHOLD_YEAR = 0.006  # plus a summer flood (内涝) on 6 July in two streets
FLOOD_HIT_SHARE = 0.25
HOTLINE_PER_HOUSEHOLD_YEAR = {"none": 0.03, "edge": 0.15, "dibao": 0.25, "tekun": 0.25}
INCOME_REPORTS_PER_YEAR = 12  # income_reported: monthly, for every employed person

COVERED = ("dibao", "tekun")

# event type -> (source, event id prefix); a few types have several sources, chosen at random
_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "medical_bill": (("medical_insurance", "yb"),),  # 医保
    "hospitalization": (("medical_insurance", "yb"),),
    "disability_certified": (("disabled_persons_federation", "cl"),),  # 残联
    "job_loss": (("human_resources", "rs"),),  # 人社
    "unemployment_registered": (("human_resources", "rs"),),
    "employment_started": (("human_resources", "rs"), ("tax", "sw")),  # 税务
    "income_reported": (("tax", "sw"), ("income_verification", "hd")),  # 核对平台
    "pension_started": (("social_security", "sb"),),  # 社保
    "death": (("civil_registry", "mz"), ("public_security", "ga"), ("health", "wj")),
    "incarceration": (("courts", "fy"),),  # 法院
    "release": (("justice", "sf"),),  # 司法
    "property_acquired": (("real_estate_registry", "bdc"),),  # 不动产登记
    "vehicle_acquired": (("vehicle_registry", "cg"),),  # 车管
    "business_registered": (("market_regulation", "sc"),),  # 市场监管
    "public_servant_hired": (("organisation_department", "zz"),),  # 组织人事
    "disaster": (("emergency_management", "yj"),),  # 应急管理
    "hotline_request": (("hotline_12349", "rx"), ("petitions_office", "xf")),  # 12349 热线 / 信访
}

# truth labels are the alert kinds of the wire contract
LABELS = ("missed_coverage", "missed_assistance", "should_exit", "gradual_exit", "filed_relative_check", "none")
_LABEL_ORDER = {"should_exit": 0, "filed_relative_check": 1, "gradual_exit": 2, "missed_coverage": 3, "missed_assistance": 4}
ASSISTANCE_SHARE = 0.5  # 漏救: medical costs + disaster losses of 12 months over half the annual income
MEMBER_INCOME_SHARE = 0.5  # share of roster records that give each member's income
REASON_TEXT = {
    "low_income": "家庭人均收入不高于低保标准",
    "medical_expense": "扣除12个月医疗自付费用（按月分摊）后人均收入不高于低保标准（支出型贫困）",
    "severe_disability": "低保边缘家庭有重度残疾成员（单人保）",
    "shock_over_income_share": "近12个月医疗自付与灾害损失超过家庭年收入的一半（漏救：临时救助、医疗救助）",
    "large_medical_bill": "未在册人员个人自付医疗费用超过3万元",
    "income_over_exit_line": "家庭人均收入达到低保标准的1.5倍",
    "all_members_died": "保障家庭成员均已死亡",
    "member_incarcerated": "家庭成员服刑",
    "property_acquired": "新购置房产",
    "vehicle_acquired": "新购置车辆（价值超过5万元）",
    "business_registered": "新注册经营实体",
    "public_servant_hired": "家庭成员录用为公职人员",
    "income_over_standard_after_employment": "就业后人均收入超过低保标准但低于1.5倍（街道审核渐退）",
    "income_over_standard": "人均收入超过低保标准但低于1.5倍（渐退期）",
    "filed_relative": "家庭成员为社会救助经办人员或村（居）干部的备案近亲属",
}

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _by_age(table: tuple[tuple[int, float], ...], age: int) -> float:
    for under, value in table:
        if age < under:
            return value
    return table[-1][1]


# --- the latent world ---------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Person:
    index: int
    person_id: str
    birth_date: str
    age: int
    male: bool
    relation: str
    household: Household | None
    wage: float = 0.0  # monthly, from employment (latent truth)
    pension: float = 0.0  # monthly
    alive: bool = True
    incarcerated: bool = False
    severe_event: str | None = None  # event_id of a severe disability certificate (重度残疾)
    oop_yuan: float = 0.0  # out-of-pocket medical costs in the trailing window
    oop_buckets: dict[int, float] | None = None
    income_generation: int = 0  # bumps when monthly income reports stop or restart
    division_code: str = ""  # outsiders: where they live
    episodes: list[dict] | None = None  # outsiders: truth episodes
    big_bill_ids: list[str] = field(default_factory=list)
    jail_event: str | None = None
    # what the inputs reveal of the person's income (DESIGN.md's income rules), beside the latent truth
    roster_share: float | None = None  # the roster's figure for this member, where it gives one
    obs_report: float | None = None
    obs_wage: float = 0.0
    obs_pension: float = 0.0
    obs_pension_known: float = 0.0
    obs_pension_in_report: float = 0.0
    obs_announced: bool = False  # a wage or pension was announced since the roster
    obs_reported: bool = False
    obs_absorbed: float = 0.0  # the part of a household total the first report was taken as

    @property
    def working_age(self) -> bool:
        return 18 <= self.age < 60

    @property
    def counted(self) -> bool:
        return self.alive and not self.incarcerated


@dataclass(slots=True, eq=False)
class Household:
    index: int
    household_id: str
    division_code: str
    coverage: str
    members: list[Person]
    other_income: float = 0.0  # monthly income not tied to a member's wage or pension (零工, 转移性收入)
    oop_yuan: float = 0.0
    oop_buckets: dict[int, float] | None = None
    shocks: list[tuple[int, str, str]] = field(default_factory=list)  # (t, code, event_id)
    disaster_losses: list[tuple[int, float]] = field(default_factory=list)
    big_bill_ids: list[str] = field(default_factory=list)
    employment_event: str | None = None  # the latest employment_started in the household
    exit_evidence: list[tuple[str, str]] = field(default_factory=list)  # (code, event_id)
    severe_events: list[str] = field(default_factory=list)
    filed_by: list[str] = field(default_factory=list)  # staff_ids of filings naming a member
    episodes: list[dict] = field(default_factory=list)  # from what the inputs reveal
    recorded: set[str] = field(default_factory=set)
    labels_now: set[str] = field(default_factory=set)
    latent_episodes: dict[str, dict] = field(default_factory=dict)  # from the latent state
    roster_income: float = 0.0
    obs_unattributed: float = 0.0  # the part of the roster total no member's first report took yet


@dataclass(frozen=True)
class Spec:
    households: int = DEFAULT_HOUSEHOLDS
    days: int = DEFAULT_DAYS
    start: date = DEFAULT_START
    seed: int = DEFAULT_SEED
    scale: float = DEFAULT_SCALE
    dibao_standard_yuan: float = WUCHANG_DIBAO_STANDARD_YUAN
    standard_in_records: bool = False  # write dibao_standard_yuan into registry records

    @property
    def start_epoch(self) -> int:
        return int(datetime(self.start.year, self.start.month, self.start.day, tzinfo=CHINA_STANDARD_TIME).timestamp())


class World:
    """Households, persons and filings built from the seed: the state at the simulation start."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rng = random.Random(f"hardship-simulator/{spec.seed}/world")
        self.persons: list[Person] = []
        self.households: list[Household] = []
        self.outsiders: list[Person] = []
        self.filings: list[dict] = []
        self._used_ids: set[str] = set()
        self._latest_birth = min(spec.start, date.today()) - timedelta(days=1)
        self.communities = self._divisions()
        for index in range(spec.households):
            self._household(index)
        roster_persons = len(self.persons)
        for _ in range(round(roster_persons * OUTSIDER_SHARE / (1 - OUTSIDER_SHARE))):
            self._outsider()
        self._filings()
        self._roster_shares()

    # divisions: 420106 + 3-digit street + 3-digit community
    def _divisions(self) -> list[str]:
        codes = []
        for street in range(1, STREETS + 1):
            for community in range(1, self.rng.randint(*COMMUNITIES_PER_STREET) + 1):
                codes.append(f"{DISTRICT_CODE}{street:03d}{community:03d}")
        return codes

    def _new_person(self, age: int, male: bool, relation: str, household: Household | None) -> Person:
        rng = self.rng
        roll = rng.random()
        area = DISTRICT_CODE if roll < 0.80 else rng.choice(_OTHER_WUHAN) if roll < 0.92 else rng.choice(_OTHER_HUBEI)
        born = self.spec.start - timedelta(days=int(age * 365.2425 + rng.random() * 364) + 1)
        born = min(born, self._latest_birth)
        while True:
            person_id = make_resident_id(area, born, rng.randrange(500) * 2 + (1 if male else 0))
            if person_id not in self._used_ids:
                break
            born -= timedelta(days=1)
        self._used_ids.add(person_id)
        person = Person(len(self.persons) + len(self.outsiders), person_id, born.isoformat(), age, male, relation, household)
        return person

    def _composition(self, coverage: str) -> list[tuple[str, int]]:
        """(relation, age) of each member: 户主 head, 配偶 spouse, 子女 child, 父母 parent, 孙子女 grandchild."""
        rng = self.rng
        if coverage == "tekun":  # 特困: elderly or disabled without support, alone or two
            size = 1 if rng.random() < 0.85 else 2
        elif coverage in ("dibao", "edge"):
            size = rng.choices((1, 2, 3, 4, 5, 6), (30, 26, 24, 12, 5, 3))[0]
        else:
            size = rng.choices((1, 2, 3, 4, 5, 6), (17, 28, 27, 14, 9, 5))[0]
        if size == 1:
            if coverage == "tekun":
                return [("head", rng.randint(60, 92) if rng.random() < 0.8 else rng.randint(25, 59))]
            return [("head", rng.randint(60, 92) if rng.random() < 0.55 else rng.randint(20, 59))]
        patterns = {
            2: ((("spouse",), 65), (("child",), 25), (("parent",), 10)),
            3: ((("spouse", "child"), 70), (("child", "grandchild"), 10), (("spouse", "parent"), 10), (("child", "child"), 10)),
            4: (
                (("spouse", "child", "child"), 45),
                (("spouse", "child", "parent"), 30),
                (("spouse", "child", "grandchild"), 15),
                (("spouse", "child", "other"), 10),
            ),
            5: (
                (("spouse", "child", "parent", "parent"), 50),
                (("spouse", "child", "other", "grandchild"), 30),
                (("spouse", "child", "child", "parent"), 20),
            ),
            6: (
                (("spouse", "child", "child", "parent", "parent"), 50),
                (("spouse", "child", "other", "grandchild", "grandchild"), 50),
            ),
        }
        if size == 2 and coverage == "tekun":
            rest: tuple[str, ...] = ("spouse",)
        else:
            options = patterns[size]
            rest = rng.choices([p for p, _ in options], [w for _, w in options])[0]
        if "grandchild" in rest:
            head = rng.randint(55, 80)
        elif "parent" in rest:
            head = rng.randint(28, 55)
        elif "child" in rest:
            head = rng.randint(26, 62)
        else:
            head = rng.randint(60, 88) if rng.random() < 0.5 else rng.randint(22, 59)
        if coverage == "tekun":
            head = max(head, 60)
        members = [("head", head)]
        child_age = None
        for relation in rest:
            if relation == "spouse":
                age = max(18, head + round(rng.gauss(0, 3)))
            elif relation == "child":
                low = 22 if "grandchild" in rest else 0
                age = max(low, min(head - 20, head - rng.randint(22, 36)), 0)
                if child_age is None:
                    child_age = age
            elif relation == "parent":
                age = min(100, head + rng.randint(22, 34))
            elif relation == "other":  # 子女配偶 and other relatives
                age = max(20, (child_age or head - 28) + round(rng.gauss(0, 3)))
            else:  # grandchild
                age = max(0, (child_age or head - 28) - rng.randint(22, 34))
            members.append((relation, age))
        return members

    def _household(self, index: int) -> None:
        rng = self.rng
        coverage = rng.choices([c for c, _ in COVERAGE_MIX], [w for _, w in COVERAGE_MIX])[0]
        division = rng.choice(self.communities)
        household = Household(index, f"hh-{division}-{index + 1:05d}", division, coverage, [])
        head_male = rng.random() < 0.6
        for relation, age in self._composition(coverage):
            if relation == "head":
                male = head_male
            elif relation == "spouse":
                male = not head_male
            else:
                male = rng.random() < 0.5
            person = self._new_person(age, male, relation, household)
            household.members.append(person)
            self.persons.append(person)
        self._incomes(household)
        self.households.append(household)

    def _incomes(self, household: Household) -> None:
        """Latent monthly incomes; the roster's monthly_income_yuan is their sum at the start."""
        rng = self.rng
        standard = self.spec.dibao_standard_yuan
        members = household.members
        if household.coverage == "none":
            for person in members:
                if person.working_age:
                    if rng.random() < 0.78:
                        person.wage = round(min(40_000.0, max(2_200.0, rng.lognormvariate(math.log(5_200), 0.45))))
                    elif rng.random() < 0.85:
                        household.other_income += round(rng.uniform(1_800, 3_500))  # 灵活就业
                elif person.age >= 60 or (person.age >= 50 and not person.male):
                    if rng.random() < 0.93:  # 职工养老金
                        person.pension = round(min(12_000.0, max(1_800.0, rng.lognormvariate(math.log(3_600), 0.35))))
                    else:  # 城乡居民养老金
                        person.pension = round(rng.uniform(150, 400))
            return
        if household.coverage == "tekun":
            ratio = rng.uniform(0.0, 0.35)
        elif household.coverage == "dibao":
            ratio = rng.uniform(0.15, 0.95)
        else:  # edge 低保边缘: over the standard, under 1.5 times it
            ratio = rng.uniform(1.03, 1.47)
        target = round(ratio * standard * len(members))
        pensions = 0.0
        for person in members:
            if person.age >= 60 and household.coverage != "tekun" and rng.random() < 0.7:
                person.pension = round(rng.uniform(150, 350))
                pensions += person.pension
        remainder = max(0.0, target - pensions)
        workers = [p for p in members if p.working_age]
        if workers and remainder >= 1_800 and household.coverage != "tekun" and rng.random() < 0.6:
            rng.choice(workers).wage = round(remainder)
        else:
            household.other_income = round(remainder)

    def _outsider(self) -> None:
        rng = self.rng
        age = rng.randint(18, 59) if rng.random() < 0.6 else rng.randint(60, 90)
        person = self._new_person(age, rng.random() < 0.5, "other", None)
        person.division_code = rng.choice(self.communities)
        person.episodes = []
        self.outsiders.append(person)

    def _filings(self) -> None:
        rng = self.rng
        count = max(1, round(FILINGS * self.spec.households / DEFAULT_HOUSEHOLDS))
        by_community: dict[str, list[Household]] = {}
        for household in self.households:
            by_community.setdefault(household.division_code, []).append(household)
        covered = [h for h in self.households if h.coverage in COVERED]
        uncovered = [h for h in self.households if h.coverage not in COVERED]
        filed_at = datetime.fromtimestamp(self.spec.start_epoch - 30 * _DAY, CHINA_STANDARD_TIME).isoformat()
        roles = list(FILING_ROLES)
        role_weights = {
            "social_assistance_staff": 22,
            "village_committee_member": 8,
            "community_committee_member": 50,
            "village_group_leader": 8,
            "civil_affairs_official": 12,
        }
        for number in range(1, count + 1):
            role = rng.choices(roles, [role_weights.get(r, 5) for r in roles])[0]
            community = rng.choice(self.communities)
            # 社会救助经办人员 and 民政干部 sit at the street office (街道): code ends in 000
            division = community[:9] + "000" if role in ("social_assistance_staff", "civil_affairs_official") else community
            staff_id = f"staff-{division}-{number:03d}"
            relatives: list[str] = []
            targets: list[Household] = []
            for slot in range(rng.choices((1, 2, 3, 4), (30, 35, 20, 15))[0]):
                if slot == 0 and covered and rng.random() < FILED_COVERED_SHARE:
                    near = [h for h in covered if h.division_code[:9] == community[:9]] or covered
                    targets.append(rng.choice(near))
                elif rng.random() < 0.6 and uncovered:
                    near = [h for h in by_community.get(community, []) if h.coverage not in COVERED] or uncovered
                    targets.append(rng.choice(near))
                else:  # a relative living elsewhere, on no roster here
                    born = date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
                    relatives.append(make_resident_id(rng.choice(_RELATIVES_ELSEWHERE), born, rng.randrange(1000)))
            for household in targets:
                member = rng.choice(household.members)
                if member.person_id not in relatives:
                    relatives.append(member.person_id)
                    household.filed_by.append(staff_id)
            self.filings.append(
                {"staff_id": staff_id, "role": role, "division_code": division, "relative_person_ids": relatives, "filed_at": filed_at}
            )

    def _roster_shares(self) -> None:
        """Half the roster records give each member's income (the other half only the total); the
        household's other income goes to a member out of working age (the oldest), else one without a wage."""
        rng = random.Random(f"hardship-simulator/{self.spec.seed}/roster-members")
        for household in self.households:
            household.roster_income = round(household.other_income + sum(p.wage + p.pension for p in household.members), 2)
            household.obs_unattributed = household.roster_income
            if rng.random() >= MEMBER_INCOME_SHARE:
                continue
            for p in household.members:
                p.roster_share = p.wage + p.pension
            # a child or an elderly member holds it where there is one: they never start a job or report
            holder = max(household.members, key=lambda p: (not p.working_age, p.wage == 0, p.age))
            holder.roster_share = (holder.roster_share or 0.0) + household.other_income
            household.obs_unattributed = 0.0
            for p in household.members:  # the roster's figure stands as the member's first report
                p.obs_report, p.obs_reported = p.roster_share, True

    def registry_records(self) -> list[dict]:
        recorded_at = datetime.fromtimestamp(self.spec.start_epoch, CHINA_STANDARD_TIME).isoformat()
        records = []
        # addresses and phones from a random stream of their own: everything else the seed gives stays as it was
        contacts = random.Random(f"hardship-simulator/{self.spec.seed}/contacts")
        for household in self.households:
            members = []
            for p in household.members:
                member = {"person_id": p.person_id, "birth_date": p.birth_date, "relation": p.relation}
                if p.roster_share is not None:
                    member["monthly_income_yuan"] = round(p.roster_share, 2)
                members.append(member)
            record = {
                "household_id": household.household_id,
                "division_code": household.division_code,
                "members": members,
                "coverage": household.coverage,
                "monthly_income_yuan": household.roster_income,
                "recorded_at": recorded_at,
            }
            if self.spec.standard_in_records:
                record["dibao_standard_yuan"] = self.spec.dibao_standard_yuan
            record.update(invented_contact(contacts))
            records.append(record)
        return records


# invented road names of a Wuchang-like district (the addresses are made up, as the people are)
_ROADS = ("中山路", "和平大道", "积玉桥路", "中北路", "武珞路", "徐东大街", "友谊大道", "中华路", "解放路", "民主路",
          "首义路", "彭刘杨路", "粮道街", "张之洞路", "秦园路", "八一路", "东湖路", "南湖大道")
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
                    "156", "157", "158", "159", "177", "180", "181", "182", "185", "186", "187", "188", "189", "199")


def invented_contact(rng: random.Random) -> dict:
    """A plausible invented address (住址) and contact phone (联系电话) of a roster record: a mobile in most
    households, a Wuhan landline in some, none in a few."""
    floor = rng.randint(1, 18)
    contact = {"address": f"武汉市武昌区{rng.choice(_ROADS)}{rng.randint(1, 399)}号{rng.randint(1, 24)}栋"
                          f"{rng.randint(1, 4)}单元{floor}{rng.randint(1, 6):02d}室"}
    roll = rng.random()
    if roll < 0.85:
        contact["contact_phone"] = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    elif roll < 0.95:
        contact["contact_phone"] = f"027-8{rng.randrange(10**7):07d}"
    return contact


# --- the run: events in time order, latent state, truth -----------------------------------------

def life_rates(p: Person) -> list[tuple[str, float]]:
    """Rates per year of the life events open to a person in their present state."""
    coverage = p.household.coverage if p.household else "none"
    sick = 1.5 if coverage in COVERED else 1.0
    rates = [
        ("hospitalization", _by_age(HOSPITALIZATION_PER_YEAR, p.age) * (1.3 if coverage in COVERED else 1.0)),
        ("death", _by_age(DEATH_PER_YEAR, p.age) * sick),
        ("disability_certified", _by_age(DISABILITY_PER_YEAR, p.age)),
    ]
    if p.household is None:
        return rates
    if p.working_age:
        if p.wage > 0:
            rates.append(("job_loss", JOB_LOSS_PER_YEAR))
        else:
            rates.append(("employment_started", EMPLOYMENT_PER_YEAR[coverage]))
    if p.pension == 0 and (p.age >= 58 if p.male else p.age >= 50):
        rates.append(("pension_started", PENSION_PER_YEAR))
    if p.age >= 18:
        rates.append(("property_acquired", PROPERTY_PER_YEAR[coverage]))
        rates.append(("vehicle_acquired", VEHICLE_PER_YEAR[coverage]))
        rates.append(("business_registered", BUSINESS_PER_YEAR[coverage]))
    if 20 <= p.age <= 35:
        rates.append(("public_servant_hired", PUBLIC_SERVANT_PER_YEAR * (0.5 if coverage in COVERED else 1.0)))
    if 18 <= p.age <= 60:
        rates.append(("incarceration", INCARCERATION_PER_YEAR))
    return rates


def _pick(rates: list[tuple[str, float]], point: float) -> str:
    for name, rate in rates:
        point -= rate
        if point < 0:
            return name
    return rates[-1][0]


# heap entry kinds
_OUTPATIENT, _LIFE, _INCOME, _HOUSEHOLD, _SCHEDULED = range(5)


def expected_outpatient_per_year(person: Person, scale: float) -> float:
    return _by_age(OUTPATIENT_PER_YEAR, person.age) * scale


class Run:
    """One pass over the year: pops the next event of any person from a heap, applies it to the
    latent state, re-checks the household's truth, and yields (epoch seconds, event)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.world = World(spec)
        self.rng = random.Random(f"hardship-simulator/{spec.seed}/events")
        self.start = spec.start_epoch
        self.end = self.start + spec.days * _DAY
        self.standard = spec.dibao_standard_yuan
        self.long_run = spec.days > WINDOW_DAYS
        self.heap: list[tuple] = []
        self.seq = 0
        self.count = 0
        self.by_type: Counter[str] = Counter()
        self.last_t = self.start
        self.persons = self.world.persons + self.world.outsiders
        self._dates = [(self.spec.start + timedelta(days=d)).isoformat() for d in range(spec.days + 1)]
        self._months = self._month_starts()

    # -- helpers
    def _month_starts(self) -> list[int]:
        months = []
        year, month = self.spec.start.year, self.spec.start.month
        while True:
            moment = int(datetime(year, month, 1, tzinfo=CHINA_STANDARD_TIME).timestamp())
            if moment >= self.end:
                return months
            months.append(moment)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def iso(self, t: int) -> str:
        day, sec = divmod(t - self.start, _DAY)
        if 0 <= day < len(self._dates):
            hours, rest = divmod(sec, 3600)
            return f"{self._dates[day]}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}+08:00"
        return datetime.fromtimestamp(t, CHINA_STANDARD_TIME).isoformat()

    def _push(self, t: float, kind: int, person: Person, payload: object = None) -> None:
        if t < self.end:
            self.seq += 1
            heapq.heappush(self.heap, (int(t), self.seq, kind, person.index, payload))

    def _office_time(self, raw: float, opens: int = 8 * 3600, span: int = 10 * 3600) -> float:
        """Fold a moment of the day into opening hours (order within a day is kept)."""
        day_start = self.start + (int(raw) - self.start) // _DAY * _DAY
        return day_start + opens + (raw - day_start) * span / _DAY

    def _next_poisson(self, now: float, per_year: float) -> float:
        if per_year <= 0:
            return math.inf
        return now + self.rng.expovariate(per_year / _YEAR)

    # -- set-up
    def _seed_streams(self) -> None:
        start, rng = self.start, self.rng
        for p in self.persons:
            self._push_outpatient(p, start)
            self._push_poisson(_LIFE, p, start, sum(r for _, r in life_rates(p)))
            if p.wage > 0:
                self._schedule_income(p, 0)
        for h in self.world.households:
            self._push_poisson(_HOUSEHOLD, h.members[0], start, DISASTER_PER_HOUSEHOLD_YEAR + HOTLINE_PER_HOUSEHOLD_YEAR[h.coverage])
        # 内涝: a summer flood on 6 July in two streets, if the run covers that day
        for year in range(self.spec.start.year, self.spec.start.year + self.spec.days // 365 + 2):
            flood = int(datetime(year, 7, 6, 10, tzinfo=CHINA_STANDARD_TIME).timestamp())
            if start <= flood < self.end:
                streets = rng.sample(range(1, STREETS + 1), 2)
                for h in self.world.households:
                    if int(h.division_code[6:9]) in streets and rng.random() < FLOOD_HIT_SHARE:
                        loss = round(min(200_000.0, rng.lognormvariate(math.log(12_000), 0.8)), 2)
                        at = flood + rng.randint(0, 3 * _DAY)
                        self._push(at, _SCHEDULED, h.members[0], ("disaster", {"loss_yuan": loss}, "household"))
        # 漏保 on no roster: strong triggers for a share of the outsiders
        for p in self.world.outsiders:
            if rng.random() >= OUTSIDER_STRONG_SHARE:
                continue
            at = start + rng.random() * (self.end - start)
            if rng.random() < 0.6:
                self._push(self._office_time(at), _SCHEDULED, p, ("serious_hospitalization", {}, None))
            else:
                category = rng.choice(DISABILITY_CATEGORIES)
                grade = rng.choice((1, 2)) if category not in ("intellectual", "mental") else rng.choice((1, 2, 3))
                self._push(self._office_time(at), _SCHEDULED, p, ("disability_certified", {"category": category, "grade": grade}, None))

    def _push_poisson(self, kind: int, p: Person, now: float, per_year: float) -> None:
        """The next arrival of a Poisson stream, folded into opening hours; the raw time rides along."""
        raw = self._next_poisson(now, per_year)
        if raw < self.end:
            self._push(self._office_time(raw), kind, p, (raw, per_year))

    def _push_outpatient(self, p: Person, now: float) -> None:
        rate = expected_outpatient_per_year(p, self.spec.scale)
        raw = self._next_poisson(now, rate)
        if raw < self.end:
            self._push(self._office_time(raw, 7 * 3600, 15 * 3600), _OUTPATIENT, p, raw)

    def _schedule_income(self, p: Person, month: int) -> None:
        """Monthly income report on the person's own day of the month, from month index `month`."""
        if month >= len(self._months):
            return
        day = (p.index * 7919) % 28  # a fixed day per person, 1st-28th
        at = self._months[month] + day * _DAY + 9 * 3600 + (p.index * 104_729) % (8 * 3600)
        if at < self.start:
            self._schedule_income(p, month + 1)
            return
        self._push(at, _INCOME, p, (p.income_generation, month))

    # -- events
    def _event(self, t: int, etype: str, p: Person, attributes: dict, pick: int | None = None) -> dict:
        sources = _SOURCES[etype]
        if pick is None:
            pick = 0 if len(sources) == 1 else self.rng.randrange(len(sources))
        source, prefix = sources[pick]
        self.count += 1
        self.by_type[etype] += 1
        return {
            "event_id": f"{prefix}-{self.spec.seed}-{self.count:08d}",
            "source": source,
            "type": etype,
            "person_id": p.person_id,
            "occurred_at": self.iso(t),
            "attributes": attributes,
        }

    def events(self) -> Iterator[tuple[int, dict]]:
        """(epoch seconds, contract event) in time order; the latent state follows along."""
        self._seed_streams()
        for h in self.world.households:
            self.evaluate(h, self.start, None)
        heap, persons, rng = self.heap, self.persons, self.rng
        pop = heapq.heappop
        while heap:
            t, _, kind, index, payload = pop(heap)
            p = persons[index]
            self.last_t = t
            if kind == _OUTPATIENT:
                if not p.alive:  # the stream ends with the person
                    continue
                self._push_outpatient(p, payload)
                if p.incarcerated:
                    continue
                yield t, self._outpatient_bill(t, p)
            elif kind == _INCOME:
                generation, month = payload
                if generation != p.income_generation or not p.counted or p.wage <= 0:
                    continue
                self._schedule_income(p, month + 1)
                total = p.wage + p.pension  # a report states the member's whole income
                event = self._event(t, "income_reported", p, {"monthly_income_yuan": total})
                if p.household is not None:
                    before = self.observed_income(p.household)
                    self._observe_report(p, total)
                    if self.observed_income(p.household) != before:
                        self.evaluate(p.household, t, event["event_id"])
                yield t, event
            elif kind == _LIFE:
                if not p.alive:
                    continue
                rates = life_rates(p)
                total = sum(r for _, r in rates)
                self._push_poisson(_LIFE, p, payload[0], total)
                if p.incarcerated or total <= 0:
                    continue
                yield from self._life_event(t, _pick(rates, rng.random() * total), p)
            elif kind == _HOUSEHOLD:
                h = p.household
                if not any(m.alive for m in h.members):
                    continue
                living = [m for m in h.members if m.counted]
                raw, rate = payload
                self._push_poisson(_HOUSEHOLD, p, raw, rate)
                if not living:
                    continue
                who = living[0]
                if rng.random() * rate < DISASTER_PER_HOUSEHOLD_YEAR:
                    loss = round(min(300_000.0, rng.lognormvariate(math.log(8_000), 1.0)), 2)
                    yield from self._disaster(t, who, loss)
                else:
                    channel = "12349" if rng.random() < 0.8 else "petition"
                    yield t, self._event(t, "hotline_request", who, {"channel": channel}, 0 if channel == "12349" else 1)
            else:  # scheduled follow-ups
                etype, attributes, _scope = payload
                if etype == "release":
                    if not p.alive or not p.incarcerated:
                        continue
                    p.incarcerated = False
                    p.jail_event = None
                    event = self._event(t, "release", p, {})
                    if p.household:
                        self.evaluate(p.household, t, event["event_id"])
                    yield t, event
                    continue
                if not p.counted and etype != "medical_bill":
                    continue
                if etype == "disaster":
                    living = [m for m in p.household.members if m.counted] if p.household else []
                    if living:
                        yield from self._disaster(t, living[0], attributes["loss_yuan"])
                elif etype == "serious_hospitalization":
                    yield from self._hospitalization(t, p, serious=True, outsider_trigger=True)
                elif etype == "hospital_bill":
                    yield t, self._bill(t, p, attributes["total_yuan"], attributes["out_of_pocket_yuan"])
                elif etype == "unemployment_registered":
                    if p.wage > 0:
                        continue
                    event = self._event(t, etype, p, {})
                    if p.household:
                        p.household.shocks.append((t, "unemployment", event["event_id"]))
                        self.evaluate(p.household, t, event["event_id"])
                    yield t, event
                elif etype == "medical_bill":
                    yield t, self._bill(t, p, attributes["total_yuan"], attributes["out_of_pocket_yuan"])
                elif etype == "disability_certified":
                    yield t, self._disability(t, p, attributes["category"], attributes["grade"])

    # -- event kinds
    def _self_pay_share(self, p: Person, inpatient: bool) -> float:
        coverage = p.household.coverage if p.household else "none"
        if coverage in COVERED:  # 医疗救助 lowers the self-paid share of dibao/tekun members
            return self.rng.uniform(0.05, 0.15) if inpatient else self.rng.uniform(0.15, 0.4)
        if coverage == "edge":
            return self.rng.uniform(0.15, 0.3) if inpatient else self.rng.uniform(0.25, 0.6)
        return self.rng.uniform(0.2, 0.4) if inpatient else self.rng.uniform(0.3, 0.75)

    def _outpatient_bill(self, t: int, p: Person) -> dict:
        rng = self.rng
        out_of_pocket = min(3_000.0, max(3.0, rng.lognormvariate(3.555, 0.9)))  # median about 35 yuan
        total = out_of_pocket / self._self_pay_share(p, False)
        return self._bill(t, p, round(total, 2), round(out_of_pocket, 2))

    def _bill(self, t: int, p: Person, total: float, out_of_pocket: float) -> dict:
        event = self._event(t, "medical_bill", p, {"total_yuan": total, "out_of_pocket_yuan": out_of_pocket})
        before = p.oop_yuan
        self._add_oop(p, t, out_of_pocket)
        if out_of_pocket >= 1_000:
            p.big_bill_ids.append(event["event_id"])
        h = p.household
        if h is None:
            if before <= OOP_LINE_YUAN < p.oop_yuan:
                self._outsider_episode(p, t, "large_medical_bill", p.big_bill_ids[-10:])
            return event
        if out_of_pocket >= 1_000:
            h.big_bill_ids.append(event["event_id"])
            del h.big_bill_ids[:-20]
        if h.coverage not in COVERED:  # 支出型贫困 and 漏救 follow every bill of an uncovered household
            self.evaluate(h, t, event["event_id"])
        return event

    def _add_oop(self, p: Person, t: int, amount: float) -> None:
        p.oop_yuan += amount
        h = p.household
        if h is not None:
            h.oop_yuan += amount
        if not self.long_run:
            return
        bucket = (t - self.start) // (30 * _DAY)
        for holder in (p, h):
            if holder is None:
                continue
            if holder.oop_buckets is None:
                holder.oop_buckets = {}
            holder.oop_buckets[bucket] = holder.oop_buckets.get(bucket, 0.0) + amount
            for old in [b for b in holder.oop_buckets if b < bucket - 12]:  # 30-day buckets, ~12 months
                holder.oop_yuan -= holder.oop_buckets.pop(old)

    def _hospitalization(self, t: int, p: Person, serious: bool, outsider_trigger: bool = False) -> Iterator[tuple[int, dict]]:
        rng = self.rng
        admitted = t - (rng.randint(10, 40) if serious else rng.randint(2, 14)) * _DAY  # length of stay
        admitted = max(admitted, self.start - 60 * _DAY)
        discharged = t  # the record arrives with the discharge (出院)
        event = self._event(
            discharged,
            "hospitalization",
            p,
            {"admitted_at": self.iso(admitted), "discharged_at": self.iso(discharged), "serious_illness": serious},
        )
        yield discharged, event
        if serious:
            total = min(800_000.0, max(40_000.0, rng.lognormvariate(math.log(120_000), 0.5)))
        else:
            total = min(80_000.0, max(2_000.0, rng.lognormvariate(math.log(12_000), 0.6)))
        out_of_pocket = total * self._self_pay_share(p, True)
        if outsider_trigger:  # a missed family: the bill alone crosses 30,000 yuan
            total = max(total, 150_000.0)
            out_of_pocket = max(total * rng.uniform(0.25, 0.4), OOP_LINE_YUAN + rng.uniform(1_000, 20_000))
        settled = discharged + rng.randint(600, 3 * 3600)  # 出院结算
        self._push(settled, _SCHEDULED, p, ("hospital_bill", {"total_yuan": round(total, 2), "out_of_pocket_yuan": round(out_of_pocket, 2)}, None))
        if serious:  # 大病 follow-up treatment (化疗, 复查): 2-6 more bills over the next months
            for _ in range(rng.randint(2, 6)):
                at = self._office_time(settled + rng.randint(15, 180) * _DAY)
                total = min(60_000.0, max(2_000.0, rng.lognormvariate(math.log(9_000), 0.6)))
                share = self._self_pay_share(p, True)
                self._push(at, _SCHEDULED, p, ("medical_bill", {"total_yuan": round(total, 2), "out_of_pocket_yuan": round(total * share, 2)}, None))

    def _life_event(self, t: int, etype: str, p: Person) -> Iterator[tuple[int, dict]]:
        rng = self.rng
        h = p.household
        if etype == "hospitalization":
            serious = rng.random() < _by_age(SERIOUS_ILLNESS_SHARE, p.age)
            yield from self._hospitalization(t, p, serious)
            return
        if etype == "disability_certified":
            category = rng.choices(DISABILITY_CATEGORIES, (40, 12, 15, 2, 8, 12, 11))[0]
            grade = rng.choices((1, 2, 3, 4), (15, 20, 30, 35))[0]
            yield t, self._disability(t, p, category, grade)
            return
        if etype == "death":
            event = self._event(t, "death", p, {})
            p.alive = False
            p.income_generation += 1
            if h is not None:
                h.shocks.append((t, "death", event["event_id"]))
                self.evaluate(h, t, event["event_id"])
            yield t, event
            return
        if etype == "job_loss":
            event = self._event(t, "job_loss", p, {})
            p.wage = 0.0
            p.income_generation += 1
            p.obs_wage = 0.0  # DESIGN.md: a job loss ends the wage and the earned part of the reports
            if p.obs_report is not None:
                p.obs_report = min(p.obs_report, p.obs_pension_in_report)
            if rng.random() < UNEMPLOYMENT_REGISTERED_SHARE:
                self._push(self._office_time(t + rng.randint(3, 45) * _DAY), _SCHEDULED, p, ("unemployment_registered", {}, None))
            self.evaluate(h, t, event["event_id"])
            yield t, event
        elif etype == "employment_started":
            if h.coverage in COVERED:
                wage = round(rng.uniform(1_800, 4_500))
            else:
                wage = round(min(30_000.0, max(2_200.0, rng.lognormvariate(math.log(4_500), 0.4))))
            event = self._event(t, "employment_started", p, {"monthly_wage_yuan": wage})
            p.wage = float(wage)
            p.income_generation += 1
            p.obs_wage, p.obs_announced = float(wage), True
            self._schedule_income(p, self._month_index(t) + 1)
            h.employment_event = event["event_id"]
            self.evaluate(h, t, event["event_id"])
            yield t, event
        elif etype == "pension_started":
            hidden_rate = 0.6 if h.coverage in COVERED else 0.88
            if rng.random() < hidden_rate:  # 职工养老金
                pension = round(min(12_000.0, max(1_800.0, rng.lognormvariate(math.log(3_400), 0.35))))
            else:  # 城乡居民养老金
                pension = round(rng.uniform(150, 400))
            event = self._event(t, "pension_started", p, {"monthly_pension_yuan": pension})
            p.pension = float(pension)
            p.obs_pension = p.obs_pension_known = float(pension)
            p.obs_announced = True
            if p.wage > 0:  # 退休
                p.wage = 0.0
                p.income_generation += 1
            self.evaluate(h, t, event["event_id"])
            yield t, event
        elif etype in ("property_acquired", "vehicle_acquired", "business_registered"):
            if etype == "property_acquired":
                value = round(min(8_000_000.0, max(300_000.0, rng.lognormvariate(math.log(1_500_000), 0.4))))
            elif etype == "vehicle_acquired":
                value = round(min(600_000.0, max(20_000.0, rng.lognormvariate(math.log(110_000), 0.6))))
            else:
                value = round(min(2_000_000.0, max(5_000.0, rng.lognormvariate(math.log(60_000), 1.0))))
            event = self._event(t, etype, p, {"value_yuan": value})
            counts = etype != "vehicle_acquired" or value > VEHICLE_LINE_YUAN
            if counts and h.coverage in COVERED:
                h.exit_evidence.append((etype, event["event_id"]))
                self.evaluate(h, t, event["event_id"])
            yield t, event
        elif etype == "public_servant_hired":
            event = self._event(t, etype, p, {})
            p.wage = float(round(rng.uniform(5_000, 9_000)))
            p.income_generation += 1
            if h.coverage in COVERED:
                h.exit_evidence.append((etype, event["event_id"]))
            yield t, event
            # the organisation department's HR reports the salary too (录用后工资)
            salary = self._event(t, "employment_started", p, {"monthly_wage_yuan": p.wage}, 0)
            p.obs_wage, p.obs_announced = p.wage, True
            self._schedule_income(p, self._month_index(t) + 1)
            self.evaluate(h, t, event["event_id"])
            yield t, salary
        elif etype == "incarceration":
            event = self._event(t, etype, p, {})
            p.incarcerated = True
            p.jail_event = event["event_id"]
            p.wage = 0.0
            p.income_generation += 1
            self._push(self._office_time(t + rng.randint(90, 900) * _DAY), _SCHEDULED, p, ("release", {}, None))
            self.evaluate(h, t, event["event_id"])
            yield t, event

    def _month_index(self, t: int) -> int:
        index = 0
        for i, moment in enumerate(self._months):
            if moment <= t:
                index = i
        return index

    def _disability(self, t: int, p: Person, category: str, grade: int) -> dict:
        event = self._event(t, "disability_certified", p, {"category": category, "grade": grade})
        severe = grade in (1, 2) or (grade == 3 and category in ("intellectual", "mental"))  # 重度残疾
        if severe and p.severe_event is None:
            p.severe_event = event["event_id"]
            if p.household is None:
                self._outsider_episode(p, t, "severe_disability", [event["event_id"]])
            else:
                p.household.severe_events.append(event["event_id"])
                self.evaluate(p.household, t, event["event_id"])
        return event

    def _disaster(self, t: int, p: Person, loss: float) -> Iterator[tuple[int, dict]]:
        event = self._event(t, "disaster", p, {"loss_yuan": loss})
        h = p.household
        h.disaster_losses.append((t, loss))
        if loss >= DISASTER_SHOCK_YUAN:
            h.shocks.append((t, "disaster", event["event_id"]))
        self.evaluate(h, t, event["event_id"])
        yield t, event

    # -- truth
    def _outsider_episode(self, p: Person, t: int, reason: str, event_ids: list[str]) -> None:
        if p.episodes:
            return
        p.episodes.append(
            {"kind": "missed_coverage", "knowable_at": self.iso(t), "reason": reason, "reason_text": REASON_TEXT[reason],
             "event_ids": list(event_ids), "observable": True}
        )

    def household_income(self, h: Household) -> tuple[float, int]:
        """The latent monthly income of the counted members (alive, not in prison), and their number."""
        counted = [m for m in h.members if m.counted]
        return h.other_income + sum(m.wage + m.pension for m in counted), len(counted)

    def _observe_report(self, p: Person, value: float) -> None:
        """An income report as DESIGN.md reads it: the member's whole income, replacing their earlier
        figures; a first report with nothing announced before it is taken as inside the roster total."""
        h = p.household
        if not p.obs_reported and p.roster_share is None and not p.obs_announced:
            p.obs_absorbed = min(value, max(0.0, h.obs_unattributed))
            h.obs_unattributed -= p.obs_absorbed
        p.obs_reported = True
        p.obs_pension_in_report = p.obs_pension_known
        p.obs_report, p.obs_wage, p.obs_pension = value, 0.0, 0.0

    def observed_income(self, h: Household) -> float:
        """The household's monthly income as the roster and the income events reveal it (DESIGN.md)."""
        total = h.roster_income
        for p in h.members:
            gone = not p.counted
            replaced = p.roster_share if p.roster_share is not None else p.obs_absorbed
            current = 0.0 if gone else (p.obs_report or 0.0) + p.obs_wage + p.obs_pension
            total += current - replaced
        return max(0.0, total)

    def labels_of(self, h: Household, t: int, income: float | None = None) -> dict[str, tuple[str, list[str]]]:
        """The alert kinds the policy rules of DESIGN.md call for now: kind -> (reason code, event_ids).
        `income` is the household's monthly income (default: the latent one)."""
        standard = self.standard
        latent, n = self.household_income(h)
        if income is None:
            income = latent
        labels: dict[str, tuple[str, list[str]]] = {}
        if self.long_run:
            cutoff = t - WINDOW_DAYS * _DAY
            h.shocks = [s for s in h.shocks if s[0] >= cutoff]
            h.disaster_losses = [d for d in h.disaster_losses if d[0] >= cutoff]
        if h.coverage in COVERED:
            evidence = list(h.exit_evidence)
            if not any(m.alive for m in h.members):
                evidence.insert(0, ("all_members_died", [s[2] for s in h.shocks if s[1] == "death"][-6:]))
            jailed = [m.jail_event for m in h.members if m.alive and m.incarcerated and m.jail_event]
            if jailed:
                evidence.append(("member_incarcerated", jailed))
            if evidence:
                code, ids = evidence[0]
                labels["should_exit"] = (code, [ids] if isinstance(ids, str) else list(ids))
            elif n:
                per_capita = income / n
                ids = [h.employment_event] if h.employment_event else []
                if per_capita >= GRADUAL_EXIT_RATIO * standard:
                    labels["should_exit"] = ("income_over_exit_line", ids)
                elif per_capita > standard:
                    code = "income_over_standard_after_employment" if h.employment_event else "income_over_standard"
                    labels["gradual_exit"] = (code, ids)
            if h.filed_by:
                labels["filed_relative_check"] = ("filed_relative", [])
            return labels
        if n == 0:
            return labels
        after_medical = (income - h.oop_yuan / SPREAD_MONTHS) / n
        if after_medical <= standard:
            code = "low_income" if income / n <= standard else "medical_expense"
            labels["missed_coverage"] = (code, [] if code == "low_income" else list(h.big_bill_ids[-10:]))
        elif h.coverage == "edge" and any(m.severe_event and m.counted for m in h.members):
            labels["missed_coverage"] = ("severe_disability", [m.severe_event for m in h.members if m.severe_event and m.counted])
        else:
            losses = sum(loss for _, loss in h.disaster_losses)
            if h.oop_yuan + losses > ASSISTANCE_SHARE * 12 * income:
                labels["missed_assistance"] = ("shock_over_income_share", list(h.big_bill_ids[-10:]))
        return labels

    def evaluate(self, h: Household, t: int, cause: str | None) -> None:
        """Record the kinds that became true: from what the inputs reveal (scored) and from the latent
        state (where the two disagree, the kind is unobservable and not scored)."""
        observed = self.labels_of(h, t, self.observed_income(h))
        latent = self.labels_of(h, t)
        h.labels_now = set(observed)
        for kinds, seen, add in ((observed, h.recorded, h.episodes.append), (latent, h.latent_episodes, None)):
            for kind in sorted(kinds, key=_LABEL_ORDER.__getitem__):
                if kind in seen:
                    continue
                reason, ids = kinds[kind]
                event_ids = list(dict.fromkeys([*ids, cause] if cause and cause not in ids else ids))
                episode = {"kind": kind, "knowable_at": self.iso(t), "reason": reason, "reason_text": REASON_TEXT[reason],
                           "event_ids": event_ids}
                if add is None:
                    seen[kind] = episode
                else:
                    seen.add(kind)
                    add(episode)

    def truth_rows(self) -> Iterator[dict]:
        """One row per household (and per outsider with a strong trigger): the kinds that must be raised,
        each with the time it became knowable from the inputs; `observable` false where the latent state
        and what the inputs reveal disagree (not scored)."""
        for h in self.world.households:
            income, n = self.household_income(h)
            kinds = [{**episode, "observable": episode["kind"] in h.latent_episodes} for episode in h.episodes]
            kinds += [{**episode, "observable": False} for kind, episode in h.latent_episodes.items() if kind not in h.recorded]
            scored = [k for k in kinds if k["observable"]]
            yield {
                "household_id": h.household_id,
                "division_code": h.division_code,
                "coverage": h.coverage,
                "members": len(h.members),
                "label": scored[0]["kind"] if scored else "none",
                "kinds": kinds,
                "true_at_end": sorted(h.labels_now),
                "per_capita_income_yuan_at_end": round(income / n, 2) if n else None,
                "filed_by": h.filed_by,
            }
        for p in self.world.outsiders:
            if not p.episodes:
                continue
            yield {
                "household_id": "person:" + p.person_id,
                "division_code": p.division_code,
                "coverage": "none",
                "members": 1,
                "label": "missed_coverage",
                "kinds": p.episodes,
                "true_at_end": ["missed_coverage"],
                "per_capita_income_yuan_at_end": None,
                "filed_by": [],
            }


# --- Python API ---------------------------------------------------------------------------------


class Simulation:
    """A simulated district. `registry` and `filings` are lists; `events` is a fresh, time-ordered
    iterator on each access (the same for the same seed); `truth` is the ground truth of the full run."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._world = World(spec)
        self.registry: list[dict] = self._world.registry_records()
        self.filings: list[dict] = [dict(f) for f in self._world.filings]
        self._truth: list[dict] | None = None
        self.last_run: Run | None = None

    @property
    def persons(self) -> int:
        return len(self._world.persons)

    @property
    def outsiders(self) -> int:
        return len(self._world.outsiders)

    def timed_events(self) -> Iterator[tuple[int, dict]]:
        run = Run(self.spec)
        self.last_run = run
        yield from run.events()
        self._truth = list(run.truth_rows())

    @property
    def events(self) -> Iterator[dict]:
        return (event for _, event in self.timed_events())

    @property
    def truth(self) -> list[dict]:
        if self._truth is None:
            for _ in self.timed_events():
                pass
        return self._truth  # type: ignore[return-value]

    def expected_events(self) -> int:
        return expected_events(self._world)

    def write_files(self, out_dir: str | os.PathLike[str], bad_fraction: float = 0.0, progress: bool = False) -> Summary:
        return _write(self, Path(out_dir), bad_fraction=bad_fraction, progress=progress)


def generate(
    households: int = DEFAULT_HOUSEHOLDS,
    days: int = DEFAULT_DAYS,
    start: date | str = DEFAULT_START,
    seed: int = DEFAULT_SEED,
    scale: float = DEFAULT_SCALE,
    dibao_standard_yuan: float | None = None,
) -> Simulation:
    """A deterministic simulated district; nothing of the year is generated until `events` is read."""
    if isinstance(start, str):
        start = date.fromisoformat(start)
    if households < 1 or days < 1 or scale < 0:
        raise ValueError("households and days must be at least 1 and scale not negative")
    spec = Spec(
        households=households,
        days=days,
        start=start,
        seed=seed,
        scale=scale,
        dibao_standard_yuan=dibao_standard_yuan or WUCHANG_DIBAO_STANDARD_YUAN,
        standard_in_records=dibao_standard_yuan is not None,
    )
    return Simulation(spec)


def write_files(out_dir: str | os.PathLike[str], bad_fraction: float = 0.0, progress: bool = False, **options: object) -> Summary:
    """generate(**options) and write registry.jsonl, filings.jsonl, events.jsonl and truth.jsonl."""
    return generate(**options).write_files(out_dir, bad_fraction=bad_fraction, progress=progress)  # type: ignore[arg-type]


def expected_events(world: World) -> int:
    """The expected number of events from the rates table (without running the year)."""
    spec = world.spec
    per_year = 0.0
    for p in world.persons + world.outsiders:
        per_year += expected_outpatient_per_year(p, spec.scale)
        hospital = _by_age(HOSPITALIZATION_PER_YEAR, p.age)
        serious = _by_age(SERIOUS_ILLNESS_SHARE, p.age)
        per_year += hospital * (2 + serious * 4)  # the stay, its bill and 大病 follow-ups
        per_year += sum(r for name, r in life_rates(p) if name != "hospitalization")
        if p.wage > 0:
            per_year += INCOME_REPORTS_PER_YEAR
    for h in world.households:
        per_year += DISASTER_PER_HOUSEHOLD_YEAR + HOTLINE_PER_HOUSEHOLD_YEAR[h.coverage]
    return round(per_year * spec.days / 365)


# --- output: files, broker, bad records ----------------------------------------------------------


@dataclass
class Summary:
    households: int = 0
    persons: int = 0
    outsiders: int = 0
    registry: int = 0
    filings: int = 0
    events: int = 0
    events_by_type: Counter[str] = field(default_factory=Counter)
    bad_by_kind: Counter[str] = field(default_factory=Counter)
    truth_by_label: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    interrupted: bool = False
    send_errors: int = 0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


BAD_KINDS = ("broken_check_digit", "unknown_type", "negative_money", "malformed_json")


class BadRecords:
    """Injects a share of invalid lines beside the good ones (dead-letter testing); own RNG, so the
    good records are the same with and without injection."""

    def __init__(self, seed: int, fraction: float) -> None:
        self.rng = random.Random(f"hardship-simulator/{seed}/bad")
        self.fraction = fraction
        self.counts: Counter[str] = Counter()

    def maybe(self, record: dict, stream: str) -> str | None:
        if self.fraction <= 0 or self.rng.random() >= self.fraction:
            return None
        kind = self.rng.choice(BAD_KINDS)
        self.counts[kind] += 1
        bad = json.loads(_dumps(record))
        if stream == "events":
            bad["event_id"] = bad["event_id"] + "-bad"
        if stream == "filings" and kind != "malformed_json":  # a filing has no money and no coverage
            if kind == "broken_check_digit" and bad["relative_person_ids"]:
                pid = bad["relative_person_ids"][0]
                bad["relative_person_ids"][0] = pid[:17] + ("0" if pid[17] != "0" else "1")
            elif kind == "unknown_type":
                bad["role"] = "landlord"  # not a role the contract knows
            else:
                bad["relative_person_ids"] = "none"  # not a list of resident IDs
        elif kind == "broken_check_digit":
            target = bad if stream == "events" else bad["members"][0]
            pid = target["person_id"]
            target["person_id"] = pid[:17] + ("0" if pid[17] != "0" else "1")
        elif kind == "unknown_type":
            if stream == "events":
                bad["type"] = "lottery_win"
            else:
                bad["coverage"] = "wubao"  # 五保: the old name, not in the contract
        elif kind == "negative_money":
            if stream == "events":
                bad["type"], bad["source"] = "medical_bill", "medical_insurance"
                bad["attributes"] = {"total_yuan": 120.0, "out_of_pocket_yuan": -round(self.rng.uniform(10, 5000), 2)}
            else:
                bad["monthly_income_yuan"] = -abs(bad["monthly_income_yuan"]) - 1
        else:
            return _dumps(bad)[: self.rng.randint(10, 60)]  # a line cut off in transfer
        return _dumps(bad)


def _key(stream: str, record: dict) -> str:
    return record["person_id"] if stream == "events" else record["household_id"] if stream == "registry" else record["staff_id"]


class _FileSink:
    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.files = {
            name: open(out_dir / f"{name}.jsonl", "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
            for name in ("registry", "filings", "events")
        }
        self.pending: dict[str, list[str]] = {name: [] for name in self.files}

    def send(self, stream: str, key: str, line: str) -> None:
        pending = self.pending[stream]
        pending.append(line)
        if len(pending) >= 5_000:
            self.flush_stream(stream)

    def flush_stream(self, stream: str) -> None:
        pending = self.pending[stream]
        if pending:
            self.files[stream].write("\n".join(pending) + "\n")
            pending.clear()

    def close(self) -> None:
        for stream, handle in self.files.items():
            self.flush_stream(stream)
            handle.close()


class _KafkaSink:
    def __init__(self, broker: str) -> None:
        from kafka import KafkaProducer

        from streams.broker import create_topics
        from streams.config import EVENTS_TOPIC, FILINGS_TOPIC, REGISTRY_TOPIC
        from streams.kafka_client import client_config

        create_topics(broker)  # the partition count we mean, not the broker's auto-create default
        self.topics = {"events": EVENTS_TOPIC, "registry": REGISTRY_TOPIC, "filings": FILINGS_TOPIC}
        self.errors = 0
        self.producer = KafkaProducer(
            **client_config(broker).kafka_python("simulator"),  # brokers, TLS/SASL, client id
            acks="all",
            retries=5,
            enable_idempotence=False,  # tansu has no idempotent producers (DESIGN.md)
            max_in_flight_requests_per_connection=1,  # keeps per-key order across retries
            linger_ms=20,
            batch_size=256 * 1024,
        )

    def _failed(self, _exc: BaseException) -> None:
        self.errors += 1

    def send(self, stream: str, key: str, line: str) -> None:
        future = self.producer.send(self.topics[stream], key=key.encode("utf-8"), value=line.encode("utf-8"))
        future.add_errback(self._failed)

    def flush_stream(self, stream: str) -> None:
        self.producer.flush(timeout=60)

    def close(self) -> None:
        try:
            self.producer.flush(timeout=30)
        finally:
            self.producer.close(timeout=10)


# The pacer sleeps only once it is this far ahead, so events leave in bursts of 10 ms: a sleep every few events
# cost a sizeable share of a core on a 2-core machine, taken from the worker beside it (docs/benchmarks.md).
PACE_TICK_SECONDS = 0.01


class Pacer:
    """--rate (events per second) and --speedup (simulated seconds per real second); `hardship bench stream`
    paces its latency phase with it too."""

    def __init__(self, rate: float, speedup: float, sim_start: int) -> None:
        self.rate, self.speedup, self.sim_start = rate, speedup, sim_start
        self.real_start = time.monotonic()
        self.sent = 0

    def wait(self, t: int) -> None:
        self.sent += 1
        target = 0.0
        if self.rate > 0:
            target = self.sent / self.rate
        if self.speedup > 0:
            target = max(target, (t - self.sim_start) / self.speedup)
        delay = self.real_start + target - time.monotonic()
        if delay > PACE_TICK_SECONDS:
            time.sleep(delay)


def _emit(
    simulation: Simulation,
    sinks: list,
    out_dir: Path | None,
    bad_fraction: float = 0.0,
    progress: bool = False,
    pacer: Pacer | None = None,
    on_event: Callable[[int], None] | None = None,
) -> Summary:
    began = time.perf_counter()
    bad = BadRecords(simulation.spec.seed, bad_fraction)
    summary = Summary(households=len(simulation.registry), persons=simulation.persons, outsiders=simulation.outsiders)

    def put(stream: str, record: dict) -> None:
        key = _key(stream, record)
        line = _dumps(record)
        for sink in sinks:
            sink.send(stream, key, line)
        broken = bad.maybe(record, stream)
        if broken is not None:
            for sink in sinks:
                sink.send(stream, key, broken)

    for record in simulation.registry:
        put("registry", record)
    summary.registry = len(simulation.registry)
    for record in simulation.filings:
        put("filings", record)
    summary.filings = len(simulation.filings)
    for sink in sinks:
        sink.flush_stream("registry")

    bar = None
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("[bold]simulating[/] {task.description}"),
            BarColumn(),
            TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        bar.start()
        task = bar.add_task("0 events", total=simulation.spec.days)
    run_start = simulation.spec.start_epoch
    events = simulation.timed_events()
    count = 0
    try:
        for t, event in events:
            if pacer is not None:
                pacer.wait(t)
            put("events", event)
            count += 1
            if bar is not None and count % 2_000 == 0:
                bar.update(task, completed=(t - run_start) // _DAY, description=f"{count:,} events")
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if bar is not None:
            bar.update(task, completed=simulation.spec.days if not summary.interrupted else bar.tasks[0].completed,
                       description=f"{count:,} events")
            bar.stop()
        for sink in sinks:
            try:
                sink.close()
            except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C while flushing
                summary.interrupted = True
    run = simulation.last_run
    assert run is not None
    truth = list(run.truth_rows())
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir / "truth.jsonl", "w", encoding="utf-8") as handle:
            for row in truth:
                handle.write(_dumps(row) + "\n")
        _write_outcomes(run, simulation.spec, truth, out_dir / "outcomes.jsonl")
    summary.events = count
    summary.events_by_type = Counter(run.by_type)
    summary.bad_by_kind = bad.counts
    summary.truth_by_label = Counter(
        kind["kind"] if kind["observable"] else "unobservable" for row in truth for kind in row["kinds"]
    )
    summary.truth_by_label["none"] = sum(1 for row in truth if row["label"] == "none")
    summary.seconds = time.perf_counter() - began
    summary.send_errors = sum(getattr(sink, "errors", 0) for sink in sinks)
    return summary


def _write_outcomes(run, spec: Spec, truth: list[dict], path: Path) -> None:
    """Simulated visit findings (connectors.visits) from the latent state of each household."""
    from connectors.visits import simulated_outcomes

    def epoch(value: str) -> int:
        return int(datetime.fromisoformat(value).timestamp())

    rows = []
    for h in run.world.households:
        since = {kind: epoch(e["knowable_at"]) for kind, e in h.latent_episodes.items()}
        counted = sum(1 for m in h.members if m.counted)
        ratio = run.observed_income(h) / counted / run.standard if counted else None
        rows.append({"household_id": h.household_id, "coverage": h.coverage, "latent": set(h.latent_episodes),
                     "since": since, "income_ratio": ratio, "wage_evidence": h.employment_event is not None})
    for row in truth:
        if row["household_id"].startswith("person:"):
            rows.append({"household_id": row["household_id"], "coverage": "none", "latent": {"missed_coverage"},
                         "since": {"missed_coverage": epoch(row["kinds"][0]["knowable_at"])}})
    end = spec.start_epoch + spec.days * _DAY
    with open(path, "w", encoding="utf-8") as handle:
        for record in simulated_outcomes(rows, spec.seed, end):
            handle.write(_dumps(record) + "\n")


def _write(simulation: Simulation, out_dir: Path, bad_fraction: float = 0.0, progress: bool = False) -> Summary:
    return _emit(simulation, [_FileSink(out_dir)], out_dir, bad_fraction=bad_fraction, progress=progress)


def stream(
    simulation: Simulation,
    broker: str,
    out_dir: Path | None = None,
    rate: float = 0.0,
    speedup: float = 0.0,
    bad_fraction: float = 0.0,
    progress: bool = False,
) -> Summary:
    """Produce registry, filings, then events to the broker (and files to out_dir if given)."""
    sinks: list = [_KafkaSink(broker)]
    if out_dir is not None:
        sinks.append(_FileSink(out_dir))
    pacer = Pacer(rate, speedup, simulation.spec.start_epoch) if rate > 0 or speedup > 0 else None
    return _emit(simulation, sinks, out_dir, bad_fraction=bad_fraction, progress=progress, pacer=pacer)


# --- command line -------------------------------------------------------------------------------


def _print_summary(summary: Summary, out_dir: Path | None, broker: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = "stopped by Ctrl-C" if summary.interrupted else "done"
    console.print(
        f"[bold]{head}[/]: {summary.households:,} households, {summary.persons:,} persons on the roster, "
        f"{summary.outsiders:,} on no roster, {summary.filings:,} filings, {summary.events:,} events "
        f"in {summary.seconds:.1f} s ({summary.events_per_second:,.0f} events/s)"
    )
    table = Table(title="events by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for name, number in sorted(summary.events_by_type.items(), key=lambda kv: -kv[1]):
        if number:
            table.add_row(name, f"{number:,}")
    console.print(table)
    truth = Table(title="ground truth: alert kinds to be raised (households with none)")
    truth.add_column("kind")
    truth.add_column("households", justify="right")
    for label in (*LABELS, "unobservable"):
        truth.add_row(label, f"{summary.truth_by_label.get(label, 0):,}")
    console.print(truth)
    if summary.bad_by_kind:
        bad = ", ".join(f"{kind} {number:,}" for kind, number in sorted(summary.bad_by_kind.items()))
        console.print(f"invalid records injected (--bad-fraction): {sum(summary.bad_by_kind.values()):,} ({bad})")
    if out_dir is not None:
        console.print(f"files: {out_dir}/registry.jsonl, filings.jsonl, events.jsonl, truth.jsonl, outcomes.jsonl")
    if broker:
        console.print(f"produced to {broker}" + (f" ([red]{summary.send_errors:,} send errors[/])" if summary.send_errors else ""))


@click.command(
    name="simulate",
    epilog=(
        "Output files (JSON Lines, UTF-8): registry.jsonl (one roster record per household, "
        "recorded_at = the start), filings.jsonl (近亲属备案 of staff and cadres), events.jsonl (the "
        "contract's events in time order), truth.jsonl (one row per household and per off-roster "
        "person with a strong trigger: `kinds`, the alert kinds the policy rules call for, each with "
        "knowable_at, reason, event_ids and `observable`; `hardship evaluate` reads it). See docs/simulator.md."
    ),
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for registry.jsonl, filings.jsonl, events.jsonl and truth.jsonl (created if missing).")
@click.option("--households", type=click.IntRange(min=1), default=DEFAULT_HOUSEHOLDS, show_default=True,
              help="Households on the simulated roster (persons: about 2.8 per household, plus 2% on no roster).")
@click.option("--days", type=click.IntRange(min=1), default=DEFAULT_DAYS, show_default=True,
              help="Length of the simulated period in days.")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d"]), default=DEFAULT_START.isoformat(), show_default=True,
              help="First day of the simulation (China Standard Time); registry records are recorded at its midnight.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Random seed: the same seed and options give byte-identical files.")
@click.option("--scale", type=click.FloatRange(min=0), default=DEFAULT_SCALE, show_default=True,
              help="Multiplier of the routine outpatient/pharmacy bill rate (the bulk of the events); 1 gives about "
                   "1.1 million events a year for 15,000 households. Life events keep their realistic rates.")
@click.option("--bad-fraction", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of records followed by an invalid copy (broken check digit, unknown type, negative money, "
                   "malformed JSON line) for dead-letter testing; counted in the summary.")
@click.option("--dibao-standard", type=click.FloatRange(min=1), default=None,
              help=f"Monthly dibao standard per person in yuan for the ground truth (default {WUCHANG_DIBAO_STANDARD_YUAN:.0f}, "
                   "Wuchang's; when given it is also written into each registry record).")
@click.option("--broker", default=None, metavar="kafka://HOST:PORT",
              help="Stream to this broker instead of (or besides) files: registry and filings first, then events. "
                   "Default: HARDSHIP_BROKER from the environment.")
@click.option("--files-only", is_flag=True, help="Write files only, even when HARDSHIP_BROKER is set.")
@click.option("--rate", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="EVENTS_PER_S",
              help="Stream mode: at most this many events per second (0: as fast as the broker takes them).")
@click.option("--speedup", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Stream mode: simulated seconds per real second, e.g. 86400 plays a day each second (0: no pacing).")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def simulate(
    out_dir: Path | None,
    households: int,
    days: int,
    start: datetime,
    seed: int,
    scale: float,
    bad_fraction: float,
    dibao_standard: float | None,
    broker: str | None,
    files_only: bool,
    rate: float,
    speedup: float,
    quiet: bool,
) -> None:
    """A simulated district like Wuchang, Wuhan (武昌区), with ground truth for measuring detection.

    File mode (--out DIR) writes the roster, the close-relative filings, a year of departmental events
    in time order and the truth per household. Stream mode (--broker, or HARDSHIP_BROKER) produces the
    roster and filings, then the events, to the hardship.* topics with kafka-python; --out then also
    receives the files and truth.jsonl. Ctrl-C stops cleanly, writing the truth of what was sent.
    """
    if not files_only:
        broker = broker or os.environ.get("HARDSHIP_BROKER") or None
    else:
        broker = None
    if out_dir is None and broker is None:
        raise click.UsageError(
            "nothing to do: give --out DIR to write files, or --broker kafka://host:port (or set HARDSHIP_BROKER) "
            "to stream; without a broker the simulator writes files only"
        )
    simulation = generate(households=households, days=days, start=start.date(), seed=seed, scale=scale,
                          dibao_standard_yuan=dibao_standard)
    show = not quiet and (households * days >= 200_000)
    previous = signal.getsignal(signal.SIGINT)
    previous_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # SIGTERM (how `hardship demo` stops its children) stops as cleanly as Ctrl-C: the truth of what was sent is written
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if broker:
            if out_dir is None and not quiet:
                click.echo("note: no --out given, so truth.jsonl is not written", err=True)
            try:
                summary = stream(simulation, broker, out_dir, rate=rate, speedup=speedup, bad_fraction=bad_fraction,
                                 progress=show)
            except Exception as exc:  # noqa: BLE001 - reported as a clear error
                if exc.__class__.__module__.startswith(("kafka", "streams")):
                    raise click.ClickException(f"cannot stream to {broker}: {exc}") from exc
                raise
        else:
            summary = simulation.write_files(out_dir, bad_fraction=bad_fraction, progress=show)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    if not quiet:
        _print_summary(summary, out_dir, broker)
    if summary.send_errors:
        raise click.ClickException(f"{summary.send_errors:,} records could not be delivered to {broker}")
    if summary.interrupted:
        sys.exit(130)
