"""The workbench's domain errors; the API turns them into 403, 404, 409 and 422 with a Chinese message."""

from __future__ import annotations


class WorkbenchError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field}


class NotFound(WorkbenchError):
    """Missing, or outside the user's divisions (the two look the same, so nothing leaks)."""

    status = 404
    code = "NOT_FOUND"


class Forbidden(WorkbenchError):
    status = 403
    code = "FORBIDDEN"


class Conflict(WorkbenchError):
    status = 409
    code = "CONFLICT"


class Invalid(WorkbenchError):
    status = 422
    code = "INVALID"
