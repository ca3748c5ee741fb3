"""The workbench application: FastAPI with the JSON API, the pages, /metrics, and the services they share."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from models.privacy import install_log_masking
from models.validation import Rejected
from workbench import api_errors, calendar_store, db
from workbench.errors import WorkbenchError
from workbench.metrics import Metrics
from workbench.outcomes import OutcomePublisher
from workbench.timeutil import utcnow

HERE = Path(__file__).resolve().parent
SECRET_ENV = "HARDSHIP_SECRET_KEY"
# The pages load nothing from elsewhere and run no script; inline styles are in the templates and the SVG radar.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")


@dataclass
class Workbench:
    """What the routes share: the database, the clock, metrics and the outcome publisher."""

    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = utcnow
    publisher: OutcomePublisher | None = None
    metrics: Metrics = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = Metrics(self.sessions, lambda: self.clock())

    def now(self) -> datetime:
        return self.clock()

    def calendar(self, session: Session) -> calendar_store.Overrides:
        """The holiday days; a task takes those of its own division (one county's days are not another's)."""
        return calendar_store.overrides(session)

    def committed(self) -> None:
        """Call after a transaction that may have queued outcomes."""
        if self.publisher is not None:
            self.publisher.wake()


class BodyGuard:
    """ASGI middleware before the JSON API: a body over MAX_BODY bytes is refused (413), a JSON body nested deeper
    than MAX_NESTING is refused (422) before the parser recurses into it (1,000 levels gave a 500)."""

    MAX_BODY = 1 << 20
    MAX_NESTING = 32

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"} \
                or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.MAX_BODY:
                await self._refuse(send, 413, "BODY_TOO_LARGE", f"请求体超过 {self.MAX_BODY} 字节")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if json_depth(body) > self.MAX_NESTING:
            await self._refuse(send, 422, "TOO_DEEP", f"JSON 嵌套超过 {self.MAX_NESTING} 层")
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send, status: int, code: str, message: str) -> None:  # noqa: ANN001
        import json

        payload = json.dumps({"error": {"code": code, "message": message, "field": None}}, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def json_depth(body: bytes) -> int:
    """The deepest nesting of brackets and braces in a JSON text, outside strings (no parsing, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def secret_key(data_dir: Path | None) -> str:
    """HARDSHIP_SECRET_KEY[_FILE], else a key kept in the data folder (so sessions survive a restart), else a fresh one."""
    from streams.secrets import read_secret

    configured = read_secret(SECRET_ENV)  # HARDSHIP_SECRET_KEY_FILE (a compose secret) or HARDSHIP_SECRET_KEY
    if configured:
        return configured
    if data_dir is None:
        return secrets.token_urlsafe(32)
    path = data_dir / "workbench-secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def create_app(database_url: str, *, schema: str | None = None, migrate: bool = True,
               clock: Callable[[], datetime] = utcnow, publisher_broker: str | None = None,
               data_dir: Path | None = None, secure_cookies: bool = False) -> FastAPI:
    install_log_masking()  # no log line of this process shows a resident ID, phone or card in full
    engine = db.make_engine(database_url, schema=schema)
    if migrate:
        db.upgrade(engine)
    sessions = db.session_factory(engine)
    workbench = Workbench(engine=engine, sessions=sessions, clock=clock)
    if publisher_broker:
        workbench.publisher = OutcomePublisher(sessions, publisher_broker,
                                               on_sent=lambda n: workbench.metrics.outcomes_published.inc(n))

    from workbench import api, pages  # the routers need the Workbench class above

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):  # noqa: ANN202
        if workbench.publisher is not None:
            workbench.publisher.start()
        try:
            yield
        finally:
            if workbench.publisher is not None:
                workbench.publisher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="困难群众动态监测预警工作台 Hardship Monitor workbench",
        version="1.0.0",
        description="预警队列、研判、核查任务、走访登记与审计的接口。Sign in at POST /api/v1/token and send "
                    "`Authorization: Bearer <token>`. Personal data is masked unless revealed (audited).",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.workbench = workbench
    app.add_middleware(BodyGuard)
    app.add_middleware(SessionMiddleware, secret_key=secret_key(data_dir), session_cookie="wb_session",
                       max_age=8 * 3600, same_site="strict", https_only=secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    def _audit_refusal(request: Request, exc: WorkbenchError) -> None:
        """A refused reach into another division's data is audited in a transaction of its own."""
        from workbench import audit
        from workbench.deps import client_of

        info = exc.audit
        with workbench.sessions() as session:
            audit.record(session, info["actor"], "access_refused", workbench.now(), target_type=info["target_type"],
                         target_id=info["target_id"], division_code=info["division_code"],
                         detail={"path": request.url.path[:200], "method": request.method, "code": exc.code,
                                 "scopes": list(getattr(info["actor"], "scopes", ()))},
                         client=client_of(request))
            session.commit()

    @app.exception_handler(WorkbenchError)
    async def _workbench_error(request: Request, exc: WorkbenchError):  # noqa: ANN202
        if exc.audit is not None:
            _audit_refusal(request, exc)
        if not request.url.path.startswith("/api/"):
            return pages.error_page(request, exc)
        return JSONResponse({"error": exc.as_dict()}, status_code=exc.status)

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected):  # noqa: ANN202
        return JSONResponse({"error": exc.as_dict()}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError):  # noqa: ANN202
        """FastAPI's 422 in the API's one error shape: the first problem, its field and a Chinese message."""
        if not request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        return JSONResponse({"error": api_errors.validation_error(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):  # noqa: ANN202
        """401, 404 of an unknown path, 405 …: in the API the one error shape; pages keep their redirects."""
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        return JSONResponse({"error": api_errors.http_error(exc.status_code, exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.middleware("http")
    async def _count_requests(request: Request, call_next):  # noqa: ANN202
        response = await call_next(request)
        path = request.url.path
        group = "api" if path.startswith("/api/") else "metrics" if path == "/metrics" else "static" \
            if path.startswith("/static") else "page"
        workbench.metrics.requests.labels(group, f"{response.status_code // 100}xx").inc()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if group == "page":
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        elif group == "api" and not path.startswith("/api/v1/docs"):
            response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        return response

    default_openapi = app.openapi

    def openapi() -> dict:
        """The OpenAPI description, its 422 answers in the API's one error shape (as they are sent)."""
        if app.openapi_schema is None:
            schema = default_openapi()
            schemas = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = api_errors.ERROR_SCHEMA
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(workbench.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
