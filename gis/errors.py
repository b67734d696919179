"""Domain errors of the spatial core. They know nothing of HTTP."""

from __future__ import annotations


class GisError(Exception):
    """Base error; ``user_msg`` is safe to show to a client."""

    default_msg = "spatial data error"

    def __init__(self, msg: str | None = None, *, user_msg: str | None = None) -> None:
        super().__init__(msg or user_msg or self.default_msg)
        self.user_msg = user_msg or msg or self.default_msg


class NotFoundError(GisError):
    default_msg = "not found"


class ConflictError(GisError):
    default_msg = "conflict with existing data"


class InvalidInputError(GisError):
    """Input data (a file, a row, a geometry) is not acceptable; nothing was stored."""

    default_msg = "invalid input"


class DatabaseUnavailableError(GisError):
    default_msg = "database unavailable"
