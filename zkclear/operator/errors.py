"""The operator service's refusals."""

from __future__ import annotations

from zkclear.errors import ZkclearError

__all__ = ["ServiceError"]


class ServiceError(ZkclearError):
    """A request the operator refuses; ``code`` is a stable machine-readable name and
    ``status`` the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code, self.status = code, status
        super().__init__(message)
