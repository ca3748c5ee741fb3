"""The workbench application: FastAPI with the JSON API, the pages, /metrics, and the services they share."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from models.validation import Rejected
from workbench import calendar_store, db
from workbench.errors import WorkbenchError
from workbench.metrics import Metrics
from workbench.outcomes import OutcomePublisher
from workbench.timeutil import utcnow

HERE = Path(__file__).resolve().parent
SECRET_ENV = "HARDSHIP_SECRET_KEY"


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

    def calendar(self, session: Session) -> dict:
        return calendar_store.overrides(session)

    def committed(self) -> None:
        """Call after a transaction that may have queued outcomes."""
        if self.publisher is not None:
            self.publisher.wake()


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
    app.add_middleware(SessionMiddleware, secret_key=secret_key(data_dir), session_cookie="wb_session",
                       max_age=8 * 3600, same_site="strict", https_only=secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.exception_handler(WorkbenchError)
    async def _workbench_error(request: Request, exc: WorkbenchError):  # noqa: ANN202
        if not request.url.path.startswith("/api/"):
            return pages.error_page(request, exc)
        return JSONResponse({"error": exc.as_dict()}, status_code=exc.status)

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected):  # noqa: ANN202
        return JSONResponse({"error": exc.as_dict()}, status_code=422)

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
        if group == "page":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(workbench.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
