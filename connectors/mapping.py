"""Department mappings (YAML): Chinese column headers -> contract fields, with value conversion.

A mapping names the stream (events, registry, filings), the department's `source`, the event
type (fixed, or taken from a column through a table of values), and for each contract field the
column headers it may come under (身份证号 / 公民身份号码 ...) and the kind of value (money, time,
date, resident_id, bool, int, text, with an optional table of coded values such as 一级 -> 1).
Registry and filing mappings gather several rows into one record (`group_by`, `items`): one row
per household member, or one row per filed relative. The bundled mappings live in
connectors/mappings/; `load_mapping` takes a bundled name or a path.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import yaml

from connectors.readers import FileRejected
from connectors.values import CONVERTERS, clean_text, to_time
from models.privacy import pseudonym
from models.validation import EVENT_TYPES, Rejected

BUNDLED_DIR = Path(__file__).parent / "mappings"
STREAMS = ("events", "registry", "filings")
CONTRACT = "contract"  # the pass-through mapping: the input already has the contract's field names

_UNIT_SUFFIX = re.compile(r"\([^()]*\)$")


def normalise_header(header: str) -> str:
    """个人自付金额（元） -> 个人自付金额: NFKC, no spaces, no unit in brackets at the end."""
    text = unicodedata.normalize("NFKC", str(header)).replace(" ", "").strip()
    stripped = _UNIT_SUFFIX.sub("", text)
    return stripped or text


class MappingError(ValueError):
    """The mapping file itself is wrong (a developer or operator error, not a data error)."""


@dataclass(frozen=True)
class FieldSpec:
    path: str  # "person_id", "attributes.out_of_pocket_yuan"
    columns: tuple[str, ...]
    kind: str = "text"
    values: dict | None = None
    default: object = None
    required: bool = False

    @classmethod
    def parse(cls, path: str, spec: object) -> FieldSpec:
        if isinstance(spec, str | list):
            spec = {"columns": spec}
        if not isinstance(spec, dict):
            raise MappingError(f"field {path}: expected a column name, a list of names or a table")
        columns = spec.get("columns", spec.get("column", ()))
        if isinstance(columns, str):
            columns = [columns]
        kind = spec.get("kind", "text")
        if kind not in CONVERTERS:
            raise MappingError(f"field {path}: kind {kind!r} is not one of {', '.join(CONVERTERS)}")
        values = spec.get("values")
        if values is not None:
            values = {unicodedata.normalize("NFKC", str(k)).strip(): v for k, v in values.items()}
        return cls(path, tuple(str(c) for c in columns), kind, values, spec.get("default"), bool(spec.get("required")))

    def resolve(self, header_index: dict[str, str]) -> list[str]:
        """The file's columns that carry this field, in the mapping's order of preference."""
        found = [header_index.get(normalise_header(column)) for column in self.columns]
        return list(dict.fromkeys(c for c in found if c is not None))

    def convert(self, raw: object, label: str) -> object:
        if self.values is not None:
            text = clean_text(raw)
            if text is None:
                return self.default
            if text in self.values:
                return self.values[text]
            allowed = set(self.values.values())
            try:
                converted = CONVERTERS[self.kind](raw, self.path, label)
            except Rejected:
                converted = None
            if converted in allowed:
                return converted
            shown = "、".join(list(self.values)[:12])
            raise Rejected("BAD_ATTRIBUTE" if self.path != "type" else "UNKNOWN_EVENT_TYPE",
                           f"{label} {text[:30]!r} is not one of {shown}", self.path)
        value = CONVERTERS[self.kind](raw, self.path, label)
        return self.default if value is None else value


@dataclass
class Mapping:
    """A compiled department mapping; `bind(header)` gives the row mapper for one file."""

    name: str
    stream: str
    source: str | None
    label: str = ""
    type_fixed: str | None = None
    type_spec: FieldSpec | None = None
    event_id: FieldSpec | None = None
    event_id_prefix: str = ""
    event_id_pseudonymise: bool = False  # the id column is a personal number (残疾人证号): send a keyed hash of it
    fields: list[FieldSpec] = field(default_factory=list)
    group_by: str | None = None
    items_into: str | None = None
    item_fields: list[FieldSpec] = field(default_factory=list)
    item_value: FieldSpec | None = None
    constants: dict = field(default_factory=dict)

    @property
    def passthrough(self) -> bool:
        return self.name == CONTRACT

    @property
    def grouped(self) -> bool:
        return self.group_by is not None

    def all_specs(self) -> Iterator[FieldSpec]:
        yield from self.fields
        yield from self.item_fields
        for spec in (self.type_spec, self.event_id, self.item_value):
            if spec is not None:
                yield spec

    def bind(self, header: Iterable[str]) -> RowMapper:
        """Resolve the columns against a file's header; a missing required column refuses the file."""
        header = [h for h in header if h]
        index = {normalise_header(h): h for h in header}
        columns: dict[int, list[str]] = {}
        missing: list[str] = []
        for spec in self.all_specs():
            found = spec.resolve(index)
            columns[id(spec)] = found
            if not found and spec.required:
                missing.append(f"{spec.path} ({' / '.join(spec.columns)})")
        if missing:
            raise FileRejected(
                "MISSING_COLUMN",
                f"the header lacks a column for {'; '.join(missing)}; the mapping {self.name} accepts these names",
            )
        return RowMapper(self, columns, dynamic=False)

    def dynamic(self) -> RowMapper:
        """A mapper that resolves columns row by row (JSON Lines, where each object has its own keys)."""
        return RowMapper(self, {}, dynamic=True)


class RowMapper:
    def __init__(self, mapping: Mapping, columns: dict[int, list[str]], dynamic: bool) -> None:
        self.mapping = mapping
        self.columns = columns
        self.dynamic = dynamic

    def _columns(self, spec: FieldSpec, cells: dict) -> list[str]:
        if not self.dynamic:
            return self.columns[id(spec)]
        present = [column for column in spec.columns if column in cells]
        if present:
            return present
        return spec.resolve({normalise_header(k): k for k in cells if isinstance(k, str)})

    def _value(self, spec: FieldSpec, cells: dict) -> object:
        """The first non-empty cell among the field's columns (结算日期, else 入院日期), converted."""
        columns = self._columns(spec, cells)
        if not columns:
            if spec.required and self.dynamic:
                raise Rejected("MISSING_FIELD", f"no {' / '.join(spec.columns)} in the record", spec.path)
            return spec.default
        for column in columns:
            raw = cells.get(column)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            return spec.convert(raw, column)
        return spec.default

    def _fill(self, specs: list[FieldSpec], cells: dict, target: dict) -> None:
        for spec in specs:
            value = self._value(spec, cells)
            if value is None:
                continue
            head, _, tail = spec.path.partition(".")
            if tail:
                target.setdefault(head, {})[tail] = value
            else:
                target[head] = value

    def map_row(self, cells: dict) -> dict:
        """One row -> a contract-shaped record (not yet validated); raises Rejected for a bad cell."""
        if "__refused__" in cells:
            raise Rejected(*cells["__refused__"])
        if "__malformed__" in cells:
            raise Rejected("MALFORMED_JSON", f"not valid JSON ({cells['__error__']}); each line must be one JSON object")
        if "__not_object__" in cells:
            raise Rejected("NOT_AN_OBJECT", "each line must be one JSON object")
        if "__extra_cells__" in cells:
            raise Rejected("EXTRA_CELLS", "the row has more cells than the header; check for a comma inside a value")
        mapping = self.mapping
        if mapping.passthrough:
            record = {key: _plain(value) for key, value in cells.items()}
            if mapping.stream == "events":
                if mapping.source and record.get("source") is None:
                    record["source"] = mapping.source
                elif mapping.source and record.get("source") != mapping.source:
                    # a department posts only its own events (the HTTP push refuses the same way)
                    raise Rejected("SOURCE_MISMATCH", f"the record says source {str(record.get('source'))[:64]!r} but "
                                   f"was dropped in the folder of {mapping.source}; drop it in its own department's "
                                   "folder", "source")
                attributes = record.get("attributes")
                if isinstance(attributes, str):  # a table column holding JSON text
                    try:
                        record["attributes"] = json.loads(attributes) if attributes.strip() else {}
                    except ValueError:
                        raise Rejected("BAD_ATTRIBUTES", "the attributes column is not a JSON object", "attributes") from None
            return record
        record: dict = dict(mapping.constants)
        self._fill(mapping.fields, cells, record)
        if mapping.stream == "events":
            record["source"] = mapping.source
            if mapping.type_fixed is not None:
                record["type"] = mapping.type_fixed
            else:
                record["type"] = self._value(mapping.type_spec, cells)
            event_id = self._value(mapping.event_id, cells) if mapping.event_id else None
            if event_id is None:
                event_id = row_digest(mapping.source or mapping.name, cells)
            elif mapping.event_id_pseudonymise:
                event_id = f"{mapping.event_id_prefix}{pseudonym(str(event_id), mapping.source or mapping.name)}"
            else:
                event_id = f"{mapping.event_id_prefix}{event_id}"
            record["event_id"] = event_id
            record.setdefault("attributes", {})
        return record

    def map_item(self, cells: dict) -> object:
        """The per-row part of a grouped record: a member {person_id, ...} or a relative's ID."""
        mapping = self.mapping
        if mapping.item_value is not None:
            return self._value(mapping.item_value, cells)
        item: dict = {}
        self._fill(mapping.item_fields, cells, item)
        return item


def _plain(value: object) -> object:
    """Database values as JSON would carry them: times as ISO 8601 (China Standard Time when naive),
    decimals as numbers."""
    if isinstance(value, datetime | date):
        return to_time(value, "time")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def row_digest(source: str, cells: dict) -> str:
    """A stable event_id for a row without one: the same row in a re-export gets the same ID."""
    text = "\x1f".join(f"{k}\x1e{'' if v is None else v}" for k, v in sorted(cells.items(), key=lambda kv: str(kv[0])))
    return f"{source}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:20]}"


def parse_mapping(data: dict, name: str | None = None) -> Mapping:
    if not isinstance(data, dict):
        raise MappingError("a mapping is a YAML table")
    name = data.get("name") or name
    if not name:
        raise MappingError("the mapping has no name")
    stream = data.get("stream", "events")
    if stream not in STREAMS:
        raise MappingError(f"stream must be one of {', '.join(STREAMS)}")
    mapping = Mapping(name=name, stream=stream, source=data.get("source"), label=data.get("label", ""))
    if name == CONTRACT:
        return mapping
    mapping.fields = [FieldSpec.parse(path, spec) for path, spec in (data.get("fields") or {}).items()]
    mapping.constants = dict(data.get("constants") or {})
    if stream == "events":
        if not mapping.source:
            raise MappingError(f"mapping {name}: an event mapping needs `source` (e.g. medical_insurance)")
        type_spec = data.get("type")
        if isinstance(type_spec, str):
            if type_spec not in EVENT_TYPES:
                raise MappingError(f"mapping {name}: event type {type_spec!r} is not in the contract")
            mapping.type_fixed = type_spec
        elif isinstance(type_spec, dict):
            mapping.type_spec = FieldSpec.parse("type", {**type_spec, "required": type_spec.get("default") is None})
            for value in (mapping.type_spec.values or {}).values():
                if value not in EVENT_TYPES:
                    raise MappingError(f"mapping {name}: event type {value!r} is not in the contract")
        else:
            raise MappingError(f"mapping {name}: `type` must be an event type or a table {{columns, values}}")
        event_id = data.get("event_id")
        if event_id is not None:
            mapping.event_id = FieldSpec.parse("event_id", event_id)
            mapping.event_id_prefix = str(event_id.get("prefix", "")) if isinstance(event_id, dict) else ""
            mapping.event_id_pseudonymise = bool(event_id.get("pseudonymise")) if isinstance(event_id, dict) else False
    group_by = data.get("group_by")
    if group_by is not None:
        mapping.group_by = group_by
        items = data.get("items") or {}
        mapping.items_into = items.get("into")
        if not mapping.items_into:
            raise MappingError(f"mapping {name}: a grouped mapping needs items.into (members, relative_person_ids)")
        if "value" in items:
            mapping.item_value = FieldSpec.parse(mapping.items_into, items["value"])
        else:
            mapping.item_fields = [FieldSpec.parse(path, spec) for path, spec in (items.get("fields") or {}).items()]
        if not any(spec.path == group_by for spec in mapping.fields):
            raise MappingError(f"mapping {name}: group_by {group_by!r} is not one of its fields")
    elif stream != "events":
        raise MappingError(f"mapping {name}: a {stream} mapping needs group_by (one record per household / staff)")
    return mapping


def load_mapping(name_or_path: str | Path) -> Mapping:
    """A bundled mapping by name (medical_insurance, ...), `contract`, or a YAML file path."""
    text = str(name_or_path)
    if text == CONTRACT:
        return Mapping(name=CONTRACT, stream="events", source=None)
    path = Path(text)
    if not path.suffix and not path.exists():
        path = BUNDLED_DIR / f"{text}.yaml"
    if not path.exists():
        raise MappingError(f"no mapping {text!r}; bundled ones: {', '.join(bundled_mappings())}")
    with path.open(encoding="utf-8") as handle:
        return parse_mapping(yaml.safe_load(handle), name=path.stem)


def bundled_mappings() -> list[str]:
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml"))


def contract_mapping(stream: str, source: str | None = None) -> Mapping:
    return Mapping(name=CONTRACT, stream=stream, source=source)
