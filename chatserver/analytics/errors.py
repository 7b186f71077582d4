"""The analytics package's exceptions.

Exceptions::

    AnalyticsError          code "internal"     HTTP 500
    ├── BadRequest          code "bad_request"  HTTP 400  a filter, format, cursor or file is wrong
    ├── Forbidden           code "forbidden"    HTTP 403  the caller's role may not do this
    └── Unsupported         code "unavailable"  HTTP 503  an optional extra is missing, or the
                                                          store is not one analytics can read

``code`` and ``status`` are what the HTTP routes answer with; the CLI prints the message and
exits with status 2.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["AnalyticsError", "BadRequest", "Forbidden", "Unsupported"]


class AnalyticsError(Exception):
    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500


class BadRequest(AnalyticsError):
    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400


class Forbidden(AnalyticsError):
    code: ClassVar[str] = "forbidden"
    status: ClassVar[int] = 403


class Unsupported(AnalyticsError):
    code: ClassVar[str] = "unavailable"
    status: ClassVar[int] = 503
