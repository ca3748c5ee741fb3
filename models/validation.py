"""Input validation of the wire contract: every rejection carries a stable reason code and a next step.

`validate_event`, `validate_registry`, `validate_filing` and `validate_outcome` take a decoded JSON
object and return a normalised plain dict (times parsed to epoch seconds under the key `t`), or
raise `Rejected`. Connectors, agents and `hardship replay` all call these, so a record is judged
the same way wherever it enters.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal, Union

import msgspec

from models.resident_id import ResidentIdError, normalize_resident_id

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

COVERAGES = ("none", "dibao", "tekun", "edge")  # 无 / 最低生活保障 / 特困供养 / 低保边缘
DISABILITY_CATEGORIES = ("physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple")
HOTLINE_CHANNELS = ("12349", "petition")
FILING_ROLES = (
    "social_assistance_staff",  # 社会救助经办人员
    "village_committee_member",  # 村民委员会成员
    "community_committee_member",  # 居民委员会成员
    "village_group_leader",  # 村（居）民小组长
    "civil_affairs_official",  # 民政干部
)
OUTCOME_DECISIONS = ("confirmed", "dismissed", "merged")
VISIT_METHODS = ("home_visit", "neighbour_interview", "letter_evidence")  # 入户调查 / 邻里访问 / 信函索证
VISIT_FINDINGS = ("confirmed", "not_confirmed")  # after the visit: 属实 / 不属实 (the learned model's label)

MAX_MONEY_YUAN = 1_000_000_000  # one billion yuan: larger is a unit or typing error
MAX_MEMBERS = 30
MAX_ID_LENGTH = 128
MAX_ADDRESS = 200  # characters of a registry record's optional address (住址)

# Attribute kinds: "money" (yuan, >= 0), "time" (ISO 8601), "bool", "grade" (1-4), or a tuple of allowed strings.
# Each entry: attribute name -> (kind, required)
EVENT_TYPES: dict[str, dict[str, tuple[object, bool]]] = {
    "hospitalization": {"admitted_at": ("time", False), "discharged_at": ("time", False), "serious_illness": ("bool", False)},
    "medical_bill": {"total_yuan": ("money", False), "out_of_pocket_yuan": ("money", True)},
    "disability_certified": {"category": (DISABILITY_CATEGORIES, True), "grade": ("grade", True)},
    "job_loss": {},
    "unemployment_registered": {},
    "employment_started": {"monthly_wage_yuan": ("money", True)},
    "income_reported": {"monthly_income_yuan": ("money", True)},
    "pension_started": {"monthly_pension_yuan": ("money", True)},
    "death": {},
    "incarceration": {},
    "release": {},
    "property_acquired": {"value_yuan": ("money", False)},
    "vehicle_acquired": {"value_yuan": ("money", False)},
    "business_registered": {"value_yuan": ("money", False)},
    "public_servant_hired": {},
    "disaster": {"loss_yuan": ("money", True)},
    "hotline_request": {"channel": (HOTLINE_CHANNELS, True)},
}

EVENT_FIELDS = ("event_id", "source", "type", "person_id", "occurred_at", "attributes")
REGISTRY_FIELDS = ("household_id", "division_code", "members", "coverage", "monthly_income_yuan")
FILING_FIELDS = ("staff_id", "role", "division_code", "relative_person_ids")
OUTCOME_FIELDS = ("outcome_id", "alert_id", "household_id", "decision", "decided_by", "decided_at")

_SOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_DIVISION_RE = re.compile(r"^[1-9][0-9]{11}$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{3,30}[0-9]$")
_BARE_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Control characters (Unicode category Cc: C0, DEL, C1). PostgreSQL cannot store NUL in text at all, and
# the rest corrupt files, terminals and logs; identifiers may hold none, free texts keep tab and line breaks.
_CONTROL_IN_ID_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MAX_NESTING = 32  # deeper JSON is refused: no contract record nests more than a few levels


@dataclass(frozen=True)
class Rejected(Exception):  # noqa: N818 - the domain word
    """A record that the contract refuses: `code` is stable, `message` says what to do next."""

    code: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.code}{where}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


# --- small parsers -----------------------------------------------------------------------------


def _control_rejection(value: str, match: re.Match, field: str | None) -> Rejected:
    return Rejected(
        "CONTROL_CHARACTER",
        f"{field or 'a value'} holds the control character U+{ord(match.group(0)):04X} at position {match.start()}; "
        "remove it at the source (a NUL byte usually comes from a fixed-width or binary export) and send the "
        "record again",
        field,
    )


def refuse_control_characters(value: str, field: str | None, *, text: bool = False) -> str:
    """`value` unchanged, or Rejected CONTROL_CHARACTER; `text` allows tab, CR and LF (free text)."""
    match = (_CONTROL_IN_TEXT_RE if text else _CONTROL_IN_ID_RE).search(value)
    if match is not None:
        raise _control_rejection(value, match, field)
    return value


def check_strings(obj: object, field: str | None = None, depth: int = 0) -> None:
    """Every string (and key) inside a decoded JSON value is free of control characters; nesting is bounded.

    Texts may carry tab and line breaks; keys never. Raises Rejected (CONTROL_CHARACTER, TOO_DEEP).
    """
    if isinstance(obj, str):
        refuse_control_characters(obj, field, text=True)
    elif isinstance(obj, dict):
        if depth >= MAX_NESTING:
            raise Rejected("TOO_DEEP", f"the record nests deeper than {MAX_NESTING} levels; send flat JSON", field)
        for key, value in obj.items():
            where = f"{field}.{key}" if field else str(key)
            if isinstance(key, str):
                refuse_control_characters(key, where)
            check_strings(value, where, depth + 1)
    elif isinstance(obj, list | tuple):
        if depth >= MAX_NESTING:
            raise Rejected("TOO_DEEP", f"the record nests deeper than {MAX_NESTING} levels; send flat JSON", field)
        for index, value in enumerate(obj):
            check_strings(value, f"{field}[{index}]" if field else f"[{index}]", depth + 1)


def parse_time(value: object, field: str) -> int:
    """ISO 8601 with an offset -> epoch seconds; a bare date means midnight China Standard Time."""
    if not isinstance(value, str):
        raise Rejected("BAD_TIMESTAMP", "give an ISO 8601 time such as 2026-11-01T10:00:00+08:00", field)
    refuse_control_characters(value, field)
    try:
        if len(value) == 10 and _BARE_DATE_RE.match(value):
            moment = datetime.fromisoformat(value).replace(tzinfo=CHINA_STANDARD_TIME)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected(
            "BAD_TIMESTAMP", f"{value!r} is not an ISO 8601 time; use 2026-11-01T10:00:00+08:00 or 2026-11-01", field
        ) from None
    if moment.tzinfo is None:
        raise Rejected(
            "TIMESTAMP_WITHOUT_OFFSET", f"{value!r} has no UTC offset; add +08:00 for China Standard Time", field
        )
    if not 1900 <= moment.year <= 2100:
        raise Rejected("BAD_TIMESTAMP", f"{value!r} is outside the years 1900-2100", field)
    return int(moment.timestamp())


def parse_money(value: object, field: str) -> float:
    """A number of yuan, zero or more."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected("BAD_MONEY", f"{field} must be a number of yuan, not {type(value).__name__} {value!r}", field)
    if not math.isfinite(value):
        raise Rejected("BAD_MONEY", f"{field} must be a finite number of yuan", field)
    if value < 0:
        raise Rejected("NEGATIVE_MONEY", f"{field} is {value}; amounts of yuan cannot be negative", field)
    if value > MAX_MONEY_YUAN:
        raise Rejected("MONEY_TOO_LARGE", f"{field} is {value} yuan; check the unit (yuan, not fen)", field)
    return value


def parse_date(value: object, field: str) -> str:
    if not isinstance(value, str) or not _BARE_DATE_RE.match(value):
        raise Rejected("BAD_DATE", f"{field} must be a date YYYY-MM-DD", field)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise Rejected("BAD_DATE", f"{field} {value!r} is not a real date", field) from None
    return value


def parse_division_code(value: object, field: str = "division_code") -> str:
    if not isinstance(value, str) or not _DIVISION_RE.match(value):
        raise Rejected(
            "BAD_DIVISION_CODE",
            f"{field} must be a 12-digit statistical division code such as 420106002003, not {value!r}",
            field,
        )
    return value


def parse_identifier(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Rejected("MISSING_FIELD" if value in (None, "") else "BAD_IDENTIFIER", f"{field} must be a non-empty string", field)
    if len(value) > MAX_ID_LENGTH:
        raise Rejected("BAD_IDENTIFIER", f"{field} is longer than {MAX_ID_LENGTH} characters", field)
    return refuse_control_characters(value, field)


def parse_text(value: object, field: str, max_length: int = 4000) -> str:
    """A free text (a reason, a finding): a string without control characters other than tab and line breaks."""
    if not isinstance(value, str):
        raise Rejected("BAD_TEXT", f"{field} must be a string, not {type(value).__name__}", field)
    if len(value) > max_length:
        raise Rejected("BAD_TEXT", f"{field} is longer than {max_length} characters", field)
    return refuse_control_characters(value, field, text=True)


# A cache of IDs already found valid: most events are about people seen before.
_VALID_IDS: dict[str, str] = {}
_VALID_IDS_LIMIT = 500_000


def parse_person_id(value: object, field: str = "person_id") -> str:
    cached = _VALID_IDS.get(value) if isinstance(value, str) else None
    if cached is not None:
        return cached
    try:
        rid = normalize_resident_id(value)
    except ResidentIdError as exc:
        raise Rejected(exc.code, str(exc), field) from None
    if len(_VALID_IDS) >= _VALID_IDS_LIMIT:
        _VALID_IDS.clear()
    _VALID_IDS[value] = rid  # type: ignore[index]
    return rid


def _require_object(obj: object, what: str) -> dict:
    if not isinstance(obj, dict):
        raise Rejected("NOT_AN_OBJECT", f"a {what} must be a JSON object, not {type(obj).__name__}")
    return obj


def _require_fields(obj: dict, fields: tuple[str, ...], what: str) -> None:
    for name in fields:
        if name not in obj or obj[name] is None:
            raise Rejected("MISSING_FIELD", f"the {what} has no {name!r}; see the wire contract in DESIGN.md", name)


# --- records -----------------------------------------------------------------------------------


def validate_event(obj: object) -> dict:
    """A department's event -> normalised dict with `t` (epoch seconds of occurred_at)."""
    obj = _require_object(obj, "event")
    _require_fields(obj, EVENT_FIELDS[:-1], "event")
    event_type = obj["type"]
    spec = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if spec is None:
        raise Rejected(
            "UNKNOWN_EVENT_TYPE",
            f"event type {event_type!r} is not in the contract; known types: {', '.join(sorted(EVENT_TYPES))}",
            "type",
        )
    source = obj["source"]
    if not isinstance(source, str) or not _SOURCE_RE.match(source):
        raise Rejected("BAD_SOURCE", f"source must be a lower-case name such as medical_insurance, not {source!r}", "source")
    attributes = obj.get("attributes")
    if attributes is None:
        attributes = {}
    elif not isinstance(attributes, dict):
        raise Rejected("BAD_ATTRIBUTES", "attributes must be a JSON object", "attributes")
    clean: dict[str, object] = {}
    for name, (kind, required) in spec.items():
        value = attributes.get(name)
        if value is None:
            if required:
                raise Rejected(
                    "MISSING_ATTRIBUTE", f"a {event_type} event needs attributes.{name}", f"attributes.{name}"
                )
            continue
        clean[name] = _parse_attribute(kind, value, f"attributes.{name}")
    for name, value in attributes.items():  # extra attributes travel along untouched, but clean of control characters
        if name not in clean and value is not None:
            check_strings({name: value}, "attributes")
            clean[name] = value
    return {
        "event_id": parse_identifier(obj["event_id"], "event_id"),
        "source": source,
        "type": event_type,
        "person_id": parse_person_id(obj["person_id"]),
        "occurred_at": obj["occurred_at"],
        "t": parse_time(obj["occurred_at"], "occurred_at"),
        "attributes": clean,
    }


def _parse_attribute(kind: object, value: object, field: str) -> object:
    if kind == "money":
        return parse_money(value, field)
    if kind == "time":
        parse_time(value, field)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise Rejected("BAD_ATTRIBUTE", f"{field} must be true or false", field)
        return value
    if kind == "grade":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            raise Rejected("BAD_ATTRIBUTE", f"{field} must be a disability grade 1-4 (一级 to 四级), not {value!r}", field)
        return value
    if isinstance(kind, tuple):
        if value not in kind:
            raise Rejected("BAD_ATTRIBUTE", f"{field} must be one of {', '.join(kind)}, not {value!r}", field)
        return value
    raise AssertionError(f"unknown attribute kind {kind!r}")  # pragma: no cover


def validate_registry(obj: object) -> dict:
    """A household roster record (one per household and per change)."""
    obj = _require_object(obj, "registry record")
    _require_fields(obj, REGISTRY_FIELDS, "registry record")
    household_id = parse_identifier(obj["household_id"], "household_id")
    if household_id.startswith("person:"):
        raise Rejected("BAD_IDENTIFIER", "household_id may not start with 'person:' (kept for provisional households)", "household_id")
    coverage = obj["coverage"]
    if coverage not in COVERAGES:
        raise Rejected("BAD_COVERAGE", f"coverage must be one of {', '.join(COVERAGES)}, not {coverage!r}", "coverage")
    members_in = obj["members"]
    if not isinstance(members_in, list) or not members_in:
        raise Rejected("BAD_MEMBERS", "members must be a non-empty list of {person_id, birth_date, relation}", "members")
    if len(members_in) > MAX_MEMBERS:
        raise Rejected("BAD_MEMBERS", f"a household of {len(members_in)} members is over {MAX_MEMBERS}; check the roster", "members")
    members: list[dict] = []
    seen: set[str] = set()
    for index, member in enumerate(members_in):
        where = f"members[{index}]"
        if not isinstance(member, dict):
            raise Rejected("BAD_MEMBERS", f"{where} must be an object", where)
        person_id = parse_person_id(member.get("person_id"), f"{where}.person_id")
        if person_id in seen:
            raise Rejected("DUPLICATE_MEMBER", f"{where} repeats person {person_id[:6]}…", f"{where}.person_id")
        seen.add(person_id)
        birth = member.get("birth_date") or f"{person_id[6:10]}-{person_id[10:12]}-{person_id[12:14]}"
        birth = parse_date(birth, f"{where}.birth_date")
        if birth.replace("-", "") != person_id[6:14]:
            raise Rejected(
                "BIRTH_DATE_MISMATCH",
                f"{where}.birth_date {birth} differs from the date in the resident ID; correct the roster",
                f"{where}.birth_date",
            )
        relation = member.get("relation") or "other"
        if not isinstance(relation, str) or len(relation) > 32:
            raise Rejected("BAD_MEMBERS", f"{where}.relation must be a short text", f"{where}.relation")
        refuse_control_characters(relation, f"{where}.relation")
        entry = {"person_id": person_id, "birth_date": birth, "relation": relation}
        if member.get("monthly_income_yuan") is not None:  # the member's own monthly income, where the roster gives it
            entry["monthly_income_yuan"] = parse_money(member["monthly_income_yuan"], f"{where}.monthly_income_yuan")
        members.append(entry)
    standard = obj.get("dibao_standard_yuan")
    if standard is not None:
        standard = parse_money(standard, "dibao_standard_yuan")
        if standard <= 0:
            raise Rejected("BAD_MONEY", "dibao_standard_yuan must be above zero", "dibao_standard_yuan")
    recorded_at = obj.get("recorded_at")
    record = {
        "household_id": household_id,
        "division_code": parse_division_code(obj["division_code"]),
        "members": members,
        "coverage": coverage,
        "monthly_income_yuan": parse_money(obj["monthly_income_yuan"], "monthly_income_yuan"),
        "dibao_standard_yuan": standard,
        "recorded_at": recorded_at,
        "t": parse_time(recorded_at, "recorded_at") if recorded_at is not None else None,
    }
    # optional contact fields (住址, 联系电话) for the officer who visits; only present when given, never scored
    if obj.get("address") is not None:
        address = parse_text(obj["address"], "address", MAX_ADDRESS)
        if "\n" in address or "\r" in address or "\t" in address:
            raise Rejected("BAD_TEXT", "address must be one line", "address")
        if address.strip():
            record["address"] = address.strip()
    if obj.get("contact_phone") is not None:
        record["contact_phone"] = parse_phone(obj["contact_phone"], "contact_phone")
    return record


def parse_phone(value: object, field: str) -> str:
    """A contact phone: digits with an optional leading + and - or spaces between (5 to 20 digits)."""
    if not isinstance(value, str) or not _PHONE_RE.match(value.strip()):
        raise Rejected("BAD_PHONE", f"{field} must be a phone number (digits, optional + - and spaces), "
                       f"e.g. 13812345678 or 027-88886666", field)
    digits = re.sub(r"\D", "", value)
    if not 5 <= len(digits) <= 20:
        raise Rejected("BAD_PHONE", f"{field} must hold 5 to 20 digits", field)
    return value.strip()


def validate_filing(obj: object) -> dict:
    """A close-relative filing (近亲属备案) of a staff member or cadre."""
    obj = _require_object(obj, "filing")
    _require_fields(obj, FILING_FIELDS, "filing")
    role = obj["role"]
    if role not in FILING_ROLES:
        raise Rejected("BAD_ROLE", f"role must be one of {', '.join(FILING_ROLES)}, not {role!r}", "role")
    relatives_in = obj["relative_person_ids"]
    if not isinstance(relatives_in, list):
        raise Rejected("BAD_RELATIVES", "relative_person_ids must be a list of resident IDs", "relative_person_ids")
    relatives = sorted({parse_person_id(pid, f"relative_person_ids[{i}]") for i, pid in enumerate(relatives_in)})
    filed_at = obj.get("filed_at")
    return {
        "staff_id": parse_identifier(obj["staff_id"], "staff_id"),
        "role": role,
        "division_code": parse_division_code(obj["division_code"]),
        "relative_person_ids": relatives,
        "filed_at": filed_at,
        "t": parse_time(filed_at, "filed_at") if filed_at is not None else None,
    }


def validate_outcome(obj: object) -> dict:
    """A decision of the workbench about an alert, flowing back into household state."""
    obj = _require_object(obj, "outcome")
    _require_fields(obj, OUTCOME_FIELDS, "outcome")
    decision = obj["decision"]
    if decision not in OUTCOME_DECISIONS:
        raise Rejected("BAD_DECISION", f"decision must be one of {', '.join(OUTCOME_DECISIONS)}, not {decision!r}", "decision")
    reason = obj.get("reason")
    if reason is not None:
        reason = parse_text(reason, "reason")
    finding = obj.get("finding")
    if finding is not None:
        finding = parse_text(finding, "finding")
    if decision == "dismissed" and (not isinstance(reason, str) or not reason.strip()):
        raise Rejected("MISSING_REASON", "a dismissal needs a written reason (书面告知理由)", "reason")
    new_coverage = obj.get("new_coverage")
    if new_coverage is not None and new_coverage not in COVERAGES:
        raise Rejected("BAD_COVERAGE", f"new_coverage must be one of {', '.join(COVERAGES)}", "new_coverage")
    visit_method = obj.get("visit_method")
    if visit_method is not None and visit_method not in VISIT_METHODS:
        raise Rejected("BAD_VISIT_METHOD", f"visit_method must be one of {', '.join(VISIT_METHODS)}", "visit_method")
    visit_finding = obj.get("visit_finding")
    if visit_finding is not None and visit_finding not in VISIT_FINDINGS:
        raise Rejected("BAD_VISIT_FINDING", f"visit_finding must be one of {', '.join(VISIT_FINDINGS)}", "visit_finding")
    return {
        "outcome_id": parse_identifier(obj["outcome_id"], "outcome_id"),
        "alert_id": parse_identifier(obj["alert_id"], "alert_id"),
        "household_id": parse_identifier(obj["household_id"], "household_id"),
        "decision": decision,
        "new_coverage": new_coverage,
        "reason": reason,
        "finding": finding,
        "visit_method": visit_method,
        "visit_finding": visit_finding,
        "decided_by": parse_identifier(obj["decided_by"], "decided_by"),
        "decided_at": obj["decided_at"],
        "t": parse_time(obj["decided_at"], "decided_at"),
    }


VALIDATORS = {
    "events": validate_event,
    "registry": validate_registry,
    "filings": validate_filing,
    "outcomes": validate_outcome,
}


def decode_json(raw: bytes | str) -> object:
    """json.loads with the contract's reason code on failure."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected("MALFORMED_JSON", f"not valid JSON ({exc}); each line must be one JSON object") from None


def dead_letter(stream: str, raw: object, rejected: Rejected, **where: object) -> dict:
    """The dead-letter record: the input as received, the reason, and where it came from."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    record = {"stream": stream, "input": raw, "reason": rejected.code, "message": rejected.message, "field": rejected.field}
    record.update({key: value for key, value in where.items() if value is not None})
    return record


# --- decoding and validating an event in one pass ----------------------------------------------
#
# `decode_event` is `validate_event(json.loads(line))` for the hot path of replay and the stream: msgspec
# decodes the line straight into a typed record of its event type (one struct per type, tagged by
# "type"), which checks the JSON and the attribute types in the same pass; what a type cannot say (the
# resident ID's checksum, a time, a source name, control characters, money bounds) is checked after.
# Whatever the fast path does not accept for certain (an unknown attribute, a null, a bool where a
# number belongs, invalid JSON, …) goes the slow way, json.loads and validate_event, which gives the
# reason code and message; so both ways accept the same records, normalise them alike and reject the
# others with the same reasons (tests/test_validation.py checks this on valid and invalid lines).

_Number = int | float  # msgspec keeps an integer an int, as json.loads does


def _attribute_struct(event_type: str, spec: dict[str, tuple[object, bool]]) -> type[msgspec.Struct]:
    fields = []
    for name, (kind, required) in spec.items():
        if kind == "money":
            annotation: object = _Number
        elif kind == "time":
            annotation = str
        elif kind == "bool":
            annotation = bool
        elif kind == "grade":
            annotation = Annotated[int, msgspec.Meta(ge=1, le=4)]
        else:
            annotation = Literal[kind]  # type: ignore[valid-type]
        fields.append((name, annotation) if required else (name, annotation | None, None))
    return msgspec.defstruct(f"_{event_type}_attributes", fields, forbid_unknown_fields=True, kw_only=True)


class _EventBase(msgspec.Struct, tag_field="type"):
    event_id: str
    source: str
    person_id: str
    occurred_at: str


def _event_struct(event_type: str, spec: dict[str, tuple[object, bool]]) -> type[msgspec.Struct]:
    attributes = _attribute_struct(event_type, spec)
    if any(required for _kind, required in spec.values()):
        field: tuple = ("attributes", attributes)
    else:
        field = ("attributes", attributes | None, None)
    return msgspec.defstruct(f"_{event_type}_event", [field], bases=(_EventBase,), tag=event_type, kw_only=True)


_EVENT_STRUCTS = {event_type: _event_struct(event_type, spec) for event_type, spec in EVENT_TYPES.items()}
# per type: (attribute name, kind) in the contract's order, for the normalised dict
_TYPE_OF = {struct: event_type for event_type, struct in _EVENT_STRUCTS.items()}
_ATTRIBUTE_ORDER = {event_type: tuple((name, kind) for name, (kind, _) in spec.items()) for event_type, spec in EVENT_TYPES.items()}
_MONEY_ONLY = {
    event_type: tuple(name for name, _kind in order)
    for event_type, order in _ATTRIBUTE_ORDER.items() if order and all(kind == "money" for _name, kind in order)
}
_EVENT_DECODER = msgspec.json.Decoder(Union[tuple(_EVENT_STRUCTS.values())])  # noqa: UP007 - a runtime union
_GOOD_SOURCES: set[str] = set()
# parse_time of the usual shape, 2026-11-01T10:00:00+08:00, in two cached halves: the day with its offset
# ("2026-11-01+08:00" -> epoch of that midnight) and the time of day ("T10:00:00" -> seconds)
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}[+-]\d{2}:\d{2}", re.ASCII)
_TIME_OF_DAY_RE = re.compile(r"T\d{2}:\d{2}:\d{2}", re.ASCII)
_DAY_STARTS: dict[str, int | None] = {}  # None: not a day parse_time takes in that shape
_TIMES_OF_DAY: dict[str, int | None] = {}


def _day_start(day: str) -> int | None:
    start = None
    if _DAY_RE.fullmatch(day) is not None:
        try:
            start = parse_time(day[:10] + "T00:00:00" + day[10:], "occurred_at")
        except Rejected:
            start = None
    if len(_DAY_STARTS) > 100_000:
        _DAY_STARTS.clear()
    _DAY_STARTS[day] = start
    return start


def _time_of_day(text: str) -> int | None:
    seconds = None
    if _TIME_OF_DAY_RE.fullmatch(text) is not None:
        hour, minute, second = int(text[1:3]), int(text[4:6]), int(text[7:9])
        if hour <= 23 and minute <= 59 and second <= 59:
            seconds = hour * 3600 + minute * 60 + second
    if len(_TIMES_OF_DAY) > 100_000:
        _TIMES_OF_DAY.clear()
    _TIMES_OF_DAY[text] = seconds
    return seconds


def _fast_time(value: str) -> int | None:
    """parse_time of the usual shape without building a datetime; None when the value is not of that
    shape for certain (then parse_time decides)."""
    if len(value) != 25:
        return None
    day = value[:10] + value[19:]
    start = _DAY_STARTS.get(day, -1)
    if start == -1:
        start = _day_start(day)
    if start is None:
        return None
    text = value[10:19]
    seconds = _TIMES_OF_DAY.get(text, -1)
    if seconds == -1:
        seconds = _time_of_day(text)
    if seconds is None:
        return None
    return start + seconds


def _fast_attributes(event_type: str, attributes: msgspec.Struct) -> dict | None:
    clean: dict[str, object] = {}
    for name, kind in _ATTRIBUTE_ORDER[event_type]:
        value = getattr(attributes, name)
        if value is None:
            continue
        if kind == "money":
            if not 0 <= value <= MAX_MONEY_YUAN:
                return None  # NaN cannot come from msgspec's JSON
        elif kind == "time" and _fast_time(value) is None:
            return None
        clean[name] = value
    return clean


def _fast_event(line: bytes | str) -> dict | None:
    try:
        record = _EVENT_DECODER.decode(line)
    except (msgspec.DecodeError, UnicodeError):
        return None
    event_id = record.event_id
    if not event_id.strip() or len(event_id) > MAX_ID_LENGTH or _CONTROL_IN_ID_RE.search(event_id) is not None:
        return None
    source = record.source
    if source not in _GOOD_SOURCES:
        if _SOURCE_RE.match(source) is None:
            return None
        if len(_GOOD_SOURCES) < 10_000:
            _GOOD_SOURCES.add(source)
    person_id = _VALID_IDS.get(record.person_id)
    if person_id is None:
        return None  # not seen yet: parse_person_id checks it (and caches it)
    occurred_at = record.occurred_at
    t = _fast_time(occurred_at)
    if t is None:
        return None
    event_type = _TYPE_OF[record.__class__]
    attributes = record.attributes
    if attributes is None:
        clean = {}
    else:
        money = _MONEY_ONLY.get(event_type)
        if money is not None:  # the hot types: one or two amounts of yuan
            clean = {}
            for name in money:
                value = getattr(attributes, name)
                if value is not None:
                    if not 0 <= value <= MAX_MONEY_YUAN:
                        return None
                    clean[name] = value
        else:
            clean = _fast_attributes(event_type, attributes)
            if clean is None:
                return None
    return {
        "event_id": event_id,
        "source": source,
        "type": event_type,
        "person_id": person_id,
        "occurred_at": occurred_at,
        "t": t,
        "attributes": clean,
    }


def decode_event(line: bytes | str) -> dict:
    """validate_event(json.loads(line)) in one pass: the same record, or Rejected with the same reason."""
    event = _fast_event(line)
    if event is not None:
        return event
    return validate_event(decode_json(line))
