"""psycopg's errors as the store's own, and URLs without their password."""

from __future__ import annotations

from psycopg import errors

from ..base import ConflictError, NotFoundError, UnavailableError

__all__ = ["redacted", "store_error"]


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def store_error(exc: Exception, what: str) -> Exception:
    """A psycopg error as the store's own: unique → conflict, foreign key → not found, a
    check → ValueError, a lost connection or a server that fails → unavailable."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, errors.UniqueViolation):
        return ConflictError(f"{what}: already exists ({message})")
    if isinstance(exc, errors.ForeignKeyViolation):
        return NotFoundError(f"{what}: refers to an unknown record ({message})")
    if isinstance(exc, errors.IntegrityError | errors.DataError):
        return ValueError(f"{what}: {message}")
    if isinstance(exc, errors.ProgrammingError):
        return exc
    return UnavailableError(f"{what}: {message}")
