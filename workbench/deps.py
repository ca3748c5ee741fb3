"""FastAPI dependencies shared by the API and the pages: the Workbench, a database session, the caller's address."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session


def workbench(request: Request):  # noqa: ANN201 - workbench.app.Workbench (import cycle)
    return request.app.state.workbench


def session(request: Request) -> Iterator[Session]:
    with request.app.state.workbench.sessions() as db_session:
        yield db_session


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None
