"""The JSON Schemas, the Faust records and the validators describe one contract: they must not drift."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from models import records
from models.validation import (
    COVERAGES,
    EVENT_FIELDS,
    EVENT_TYPES,
    FILING_FIELDS,
    FILING_ROLES,
    OUTCOME_DECISIONS,
    OUTCOME_FIELDS,
    REGISTRY_FIELDS,
    VALIDATORS,
    Rejected,
)
from scoring.monitor import Monitor
from tests.builders import event, filing, household, outcome, person


def schema(name: str) -> dict:
    return json.loads(resources.files("models").joinpath(f"schemas/{name}.schema.json").read_text(encoding="utf-8"))


RECORD_OF_SCHEMA = {
    "event": records.Event,
    "registry": records.RegistryRecord,
    "filing": records.Filing,
    "alert": records.Alert,
    "outcome": records.Outcome,
}
REQUIRED_BY_VALIDATOR = {
    "event": EVENT_FIELDS[:-1],
    "registry": REGISTRY_FIELDS,
    "filing": FILING_FIELDS,
    "outcome": OUTCOME_FIELDS,
}


@pytest.mark.parametrize("name", sorted(RECORD_OF_SCHEMA))
def test_schema_and_faust_record_have_the_same_fields(name):
    document = schema(name)
    jsonschema.Draft202012Validator.check_schema(document)
    fields = RECORD_OF_SCHEMA[name]._options.fields
    assert set(document["properties"]) == set(fields)
    defaults = RECORD_OF_SCHEMA[name]._options.defaults
    required_by_record = {field for field in fields if field not in defaults}
    assert set(document["required"]) == required_by_record


@pytest.mark.parametrize("name", sorted(REQUIRED_BY_VALIDATOR))
def test_schema_and_validator_require_the_same_fields(name):
    assert set(schema(name)["required"]) == set(REQUIRED_BY_VALIDATOR[name])


def test_schema_enums_match_the_validator():
    event_schema = schema("event")
    assert event_schema["properties"]["type"]["enum"] == list(EVENT_TYPES)
    for branch in event_schema["allOf"]:
        event_type = branch["if"]["properties"]["type"]["const"]
        attributes = branch["then"]["properties"]["attributes"]
        spec = EVENT_TYPES[event_type]
        assert set(attributes["properties"]) == set(spec)
        assert set(attributes.get("required", [])) == {name for name, (_, required) in spec.items() if required}
    assert schema("registry")["properties"]["coverage"]["enum"] == list(COVERAGES)
    assert schema("filing")["properties"]["role"]["enum"] == list(FILING_ROLES)
    assert schema("outcome")["properties"]["decision"]["enum"] == list(OUTCOME_DECISIONS)


def _samples():
    pid = person("1960-02-02")
    other = person("1990-03-03")
    yield "event", event("medical_bill", pid, out_of_pocket_yuan=35000, total_yuan=50000)
    yield "event", event("disability_certified", pid, category="mental", grade=3)
    yield "event", event("hospitalization", pid, admitted_at="2026-03-01", serious_illness=True)
    yield "event", event("death", pid)
    yield "registry", household("H-s", [(pid, "head"), (other, "child")], "edge", 2500)
    yield "filing", filing("staff-1", [pid])


@pytest.mark.parametrize(("name", "record"), list(_samples()))
def test_valid_samples_pass_schema_validator_and_record(name, record):
    jsonschema.validate(record, schema(name))
    VALIDATORS[{"event": "events", "registry": "registry", "filing": "filings"}[name]](record)
    RECORD_OF_SCHEMA[name].from_data(record)


def _rejected_samples():
    pid = person("1960-02-02")
    yield "event", event("medical_bill", pid, out_of_pocket_yuan=-5)
    yield "event", event("unheard_of", pid)
    yield "event", event("disability_certified", pid, category="mental", grade=7)
    yield "event", event("hotline_request", pid, channel="fax")
    yield "event", {k: v for k, v in event("death", pid).items() if k != "occurred_at"}
    yield "registry", household("H-x", [(pid, "head")], "generous", 100)
    yield "registry", {**household("H-y", [(pid, "head")]), "division_code": "4201"}


@pytest.mark.parametrize(("name", "record"), list(_rejected_samples()))
def test_rejected_samples_fail_both_schema_and_validator(name, record):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, schema(name))
    with pytest.raises(Rejected):
        VALIDATORS[{"event": "events", "registry": "registry", "filing": "filings"}[name]](record)


def test_alerts_of_the_core_fit_the_alert_schema_and_record():
    pid = person("1950-01-01")
    monitor = Monitor()
    alerts = monitor.event(VALIDATORS["events"](event("medical_bill", pid, out_of_pocket_yuan=40000)))
    assert alerts
    for alert in alerts:
        alert["emitted_at"] = "2026-11-23T10:00:00+08:00"
        jsonschema.validate(alert, schema("alert"), format_checker=jsonschema.FormatChecker())
        record = records.Alert.from_data(alert)
        assert json.loads(record.dumps())["alert_id"] == alert["alert_id"]
    decision = outcome(alerts[0], "dismissed", reason="已由医保二次报销")
    jsonschema.validate(decision, schema("outcome"))
    VALIDATORS["outcomes"](decision)
