"""HTTP push against the real embedded broker: tokens per department, per-item answers, clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.http_push import TokenBook, create_app, hash_token
from connectors.kafka_out import KafkaOut
from streams.config import DEADLETTER_TOPIC, EVENTS_TOPIC
from tests.builders import event
from tests.connector_fixtures import distinct_person, module_broker, read_topic  # noqa: F401 - fixture

pytestmark = pytest.mark.broker

MEDICAL_TOKEN = "yb-secret-token-2026"
COURTS_TOKEN = "fy-secret-token-2026"


@pytest.fixture(scope="module")
def client(module_broker):  # noqa: F811
    from fastapi.testclient import TestClient

    out = KafkaOut(module_broker.url)
    tokens = TokenBook({"medical_insurance": MEDICAL_TOKEN, "courts": hash_token(COURTS_TOKEN)})
    with TestClient(create_app(out, tokens, max_items=50, max_bytes=64 * 1024), raise_server_exceptions=False) as c:
        yield c
    out.close()


def auth(token=MEDICAL_TOKEN):
    return {"Authorization": f"Bearer {token}"}


def bill(**extra):
    record = event("medical_bill", distinct_person(), when="2026-11-01T10:00:00+08:00", source="medical_insurance",
                   out_of_pocket_yuan=1200.0)
    record.update(extra)
    return record


def test_batch_answers_per_item_and_lands_on_the_topics(client, module_broker):  # noqa: F811
    good = [bill(event_id="http-good-1"), bill(event_id="http-good-2")]
    bad_money = bill(event_id="http-bad-money")
    bad_money["attributes"]["out_of_pocket_yuan"] = "35,000"
    no_source = bill(event_id="http-no-source")
    del no_source["source"]
    wrong_source = bill(event_id="http-wrong-source", source="courts")
    response = client.post("/v1/events/medical_insurance", headers=auth(),
                           json={"events": [*good, bad_money, no_source, wrong_source, "not an object"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (3, 3)
    statuses = [(item["index"], item["status"], item.get("reason")) for item in body["items"]]
    assert statuses == [(0, "accepted", None), (1, "accepted", None), (2, "rejected", "BAD_MONEY"),
                        (3, "accepted", None), (4, "rejected", "SOURCE_MISMATCH"), (5, "rejected", "NOT_AN_OBJECT")]
    events = {r["value"]["event_id"] for r in read_topic(module_broker.bootstrap, EVENTS_TOPIC, expect=3)}
    assert {"http-good-1", "http-good-2", "http-no-source"} <= events
    letters = [r["value"] for r in read_topic(module_broker.bootstrap, DEADLETTER_TOPIC, expect=3)
               if r["value"].get("request") == body["request_id"]]
    assert sorted((v["index"], v["reason"]) for v in letters) == [(2, "BAD_MONEY"), (4, "SOURCE_MISMATCH"),
                                                                   (5, "NOT_AN_OBJECT")]
    assert all(v["connector"] == "http" and v["source"] == "medical_insurance" for v in letters)


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, "MISSING_TOKEN"),
    ({"Authorization": "Bearer wrong"}, 401, "BAD_TOKEN"),
    ({"Authorization": f"Basic {MEDICAL_TOKEN}"}, 401, "BAD_TOKEN"),
    ({"Authorization": f"Bearer {COURTS_TOKEN}"}, 403, "TOKEN_FOR_OTHER_SOURCE"),
])
def test_tokens(client, headers, status, code):
    response = client.post("/v1/events/medical_insurance", headers=headers, json=[bill()])
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]


def test_a_hashed_token_works_and_unknown_sources_are_404(client):
    record = event("release", distinct_person(), when="2026-10-01", source="courts")
    assert client.post("/v1/events/courts", headers=auth(COURTS_TOKEN), json=[record]).json()["accepted"] == 1
    response = client.post("/v1/events/tax", headers=auth(), json=[bill()])
    assert response.status_code == 404 and response.json()["error"] == "UNKNOWN_SOURCE"


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "MALFORMED_JSON"),
    (b"\xff\xfe\x00", 400, "MALFORMED_JSON"),
    (b"", 400, "MALFORMED_JSON"),
    (b'"a string"', 400, "BAD_BATCH"),
    (b'{"events": 3}', 400, "BAD_BATCH"),
    (b"[]", 400, "EMPTY_BATCH"),
    (json.dumps([{"event_id": str(i)} for i in range(51)]).encode(), 413, "TOO_MANY_ITEMS"),
    (b"[" + b" " * 70_000 + b"]", 413, "BATCH_TOO_LARGE"),
])
def test_bad_bodies_get_clear_errors(client, body, status, code):
    response = client.post("/v1/events/medical_insurance", headers={**auth(), "Content-Type": "application/json"},
                           content=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


def test_oversized_body_without_content_length(client):
    def chunks():
        yield b"["
        for _ in range(100):
            yield b" " * 1024
        yield b"]"

    response = client.post("/v1/events/medical_insurance", headers=auth(), content=chunks())
    assert response.status_code == 413 and response.json()["error"] == "BATCH_TOO_LARGE"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
event_like = st.fixed_dictionaries({}, optional={
    "event_id": json_values | st.text(max_size=10), "source": st.sampled_from(["medical_insurance", "courts", 7]),
    "type": st.sampled_from(["medical_bill", "death", "nope", None]) | json_values,
    "person_id": st.just(distinct_person()) | json_values, "occurred_at": st.sampled_from(["2026-11-01", "x"]),
    "attributes": json_values})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.lists(event_like | json_values, min_size=1, max_size=5) | json_values,
       raw=st.binary(max_size=40))
def test_never_a_500_for_bad_input(client, payload, raw):
    for body in (json.dumps(payload).encode(), raw):
        response = client.post("/v1/events/medical_insurance", headers=auth(), content=body)
        assert response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/json")
