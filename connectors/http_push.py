"""HTTP push: departments POST batches of events with their own bearer token and get an answer per item.

POST /v1/events/{source} with `Authorization: Bearer <token>` and a JSON array of events (or
{"events": [...]}). Each item is validated with the contract; accepted items are on
hardship.events when the answer comes (the broker acknowledged them), rejected ones are on
hardship.deadletter with the request id, the item index and the reason. A missing or wrong token
is 401, a token of another department's source is 403, an oversized batch 413, malformed JSON
400; a broker that cannot be reached is 503 (retry the batch: events carry their own event_id,
so a resend is recognised downstream). Bad input never gets a 500.

Tokens come from a YAML file `{source: token}`; a value may be `sha256:<hex>` so that the file
need not hold the token itself (`hardship connector http --hash-token` prints one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors import metrics as M
from connectors.core import Shipper
from connectors.kafka_out import KafkaOut, SendFailed
from models.validation import Rejected

log = logging.getLogger(__name__)

DEFAULT_MAX_ITEMS = 1000
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


# The placeholders of the committed example (dashboards/compose/http-tokens.yaml): never accepted.
PLACEHOLDER_TOKENS = ("change-me-medical-insurance", "change-me-human-resources")


class TokenBook:
    """source -> token (plain or sha256:<hex>); answers which source a presented token belongs to."""

    def __init__(self, tokens: dict[str, str]) -> None:
        from streams.secrets import is_placeholder

        placeholders = {hash_token(token) for token in PLACEHOLDER_TOKENS}
        self.hashes: dict[str, str] = {}
        for source, token in tokens.items():
            if not isinstance(token, str) or not token:
                raise ValueError(f"the token of {source} is empty")
            self.hashes[source] = token if token.startswith("sha256:") else hash_token(token)
            if self.hashes[source] in placeholders or is_placeholder(token):
                raise ValueError(f"the token of {source} is a placeholder of the example file; make one "
                                 "(e.g. `openssl rand -hex 32`), give it to the department and put "
                                 "`hardship connector hash-token <token>` in the tokens file")

    @classmethod
    def load(cls, path: str | Path) -> TokenBook:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls(data.get("tokens", data))

    def owner(self, token: str) -> str | None:
        presented = hash_token(token)
        found = None
        for source, expected in self.hashes.items():
            if hmac.compare_digest(presented, expected):
                found = source
        return found


def _error(status: int, code: str, message: str, source: str, request_id: str, **extra) -> JSONResponse:
    M.HTTP_REQUESTS.labels(source, str(status)).inc()
    headers = {"X-Request-ID": request_id}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="hardship-connector"'
    return JSONResponse({"error": code, "message": message, "request_id": request_id, **extra},
                        status_code=status, headers=headers)


def create_app(out: KafkaOut, tokens: TokenBook, max_items: int = DEFAULT_MAX_ITEMS,
               max_bytes: int = DEFAULT_MAX_BYTES) -> FastAPI:
    """The FastAPI application of the push connector."""
    app = FastAPI(title="Hardship Monitor push connector (部门数据推送接口)", version="1")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):  # pragma: no cover - no models used
        return JSONResponse({"error": "BAD_REQUEST", "message": str(exc)[:500]}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": "NOT_FOUND" if exc.status_code == 404 else "HTTP_ERROR",
                             "message": str(exc.detail)}, status_code=exc.status_code)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/events/{source}")
    async def push_events(source: str, request: Request):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request_id = request_id[:64]
        label = source if source in tokens.hashes else "unknown"
        # 1. who is calling
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            return _error(401, "MISSING_TOKEN", "send the department's token as `Authorization: Bearer <token>`",
                          label, request_id)
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "BAD_TOKEN", "the Authorization header must be `Bearer <token>`", label, request_id)
        owner = tokens.owner(token.strip())
        if owner is None:
            return _error(401, "BAD_TOKEN", "the token is not known; ask the bureau for your department's token",
                          label, request_id)
        if source not in tokens.hashes:
            return _error(404, "UNKNOWN_SOURCE", f"no source {source[:64]!r} is configured here", owner, request_id)
        if owner != source:
            return _error(403, "TOKEN_FOR_OTHER_SOURCE",
                          f"this token belongs to source {owner}; it cannot push for {source}", source, request_id)
        # 2. how big
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return _error(400, "BAD_REQUEST", "Content-Length is not a number", source, request_id)
            if declared > max_bytes:
                return _error(413, "BATCH_TOO_LARGE", f"the body has {declared} bytes; the limit is {max_bytes}",
                              source, request_id, max_bytes=max_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_bytes:
                return _error(413, "BATCH_TOO_LARGE", f"the body is over the limit of {max_bytes} bytes",
                              source, request_id, max_bytes=max_bytes)
        # 3. what shape
        try:
            payload = json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, "MALFORMED_JSON", f"the body is not valid JSON: {str(exc)[:200]}", source, request_id)
        items = payload.get("events") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            return _error(400, "BAD_BATCH", "send a JSON array of events, or {\"events\": [...]}", source, request_id)
        if not items:
            return _error(400, "EMPTY_BATCH", "the batch has no events", source, request_id)
        if len(items) > max_items:
            return _error(413, "TOO_MANY_ITEMS", f"the batch has {len(items)} events; the limit is {max_items}",
                          source, request_id, max_items=max_items)
        # 4. each item, then the broker's acknowledgement
        try:
            answer = await run_in_threadpool(_ship_batch, out, source, request_id, items)
        except SendFailed as exc:
            log.error("push %s from %s: broker unavailable: %s", request_id, source, exc)
            return _error(503, "BROKER_UNAVAILABLE", "the events could not be stored; send the same batch again later",
                          source, request_id, retry=True)
        M.HTTP_REQUESTS.labels(source, "200").inc()
        return JSONResponse(answer, headers={"X-Request-ID": request_id})

    return app


def _ship_batch(out: KafkaOut, source: str, request_id: str, items: list) -> dict:
    shipper = Shipper(out, "events", "http", source)
    answers: list[dict] = []
    with out.lock:
        for index, item in enumerate(items):
            event_id = item.get("event_id") if isinstance(item, dict) else None
            answer: dict = {"index": index, "event_id": event_id if isinstance(event_id, str) else None}
            error: Rejected | None = None
            if not isinstance(item, dict):
                error = Rejected("NOT_AN_OBJECT", f"item {index} must be a JSON object, not {type(item).__name__}")
            else:
                if item.get("source") is None:
                    item = {**item, "source": source}
                elif item["source"] != source:
                    error = Rejected("SOURCE_MISMATCH", f"the item says source {str(item['source'])[:64]!r} but was "
                                     f"pushed for {source}", "source")
            shipper.counts.read += 1
            shipper._chunk_read += 1
            if error is None:
                try:
                    clean = shipper.check(item)
                except Rejected as exc:
                    error = exc
                else:
                    shipper.send_valid(clean)
                    answer["status"] = "accepted"
            if error is not None:
                shipper.reject(item, error, {"request": request_id, "index": index})
                answer.update(status="rejected", reason=error.code, message=error.message, field=error.field)
            answers.append(answer)
        shipper.barrier()
    accepted = sum(1 for a in answers if a["status"] == "accepted")
    return {"request_id": request_id, "source": source, "accepted": accepted, "rejected": len(answers) - accepted,
            "items": answers}
