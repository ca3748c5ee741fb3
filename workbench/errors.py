"""The workbench's domain errors; the API turns them into 403, 404, 409 and 422 with a Chinese message."""

from __future__ import annotations


class WorkbenchError(Exception):
    status = 400
    code = "BAD_REQUEST"
    audit: dict | None = None  # set when the refusal itself must be audited (see OutOfScope)

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


class OutOfScope(NotFound):
    """An existing record outside the caller's divisions: answered like a missing one, and audited (越权访问) under
    the record's division, so the auditors of that division see who tried."""

    def __init__(self, message: str, *, actor, target_type: str, target_id: str, division_code: str) -> None:  # noqa: ANN001
        super().__init__(message)
        self.audit = {"actor": actor, "target_type": target_type, "target_id": target_id,
                      "division_code": division_code}


class Forbidden(WorkbenchError):
    status = 403
    code = "FORBIDDEN"


class Conflict(WorkbenchError):
    status = 409
    code = "CONFLICT"


class Invalid(WorkbenchError):
    status = 422
    code = "INVALID"
