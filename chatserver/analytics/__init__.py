"""The analyst side of the hub: exports, redaction, digests, figures and the data lifecycle.

- `export` — streamed JSONL / CSV / Parquet exports of a consistent snapshot of the store
  (`chatserver.store.ReadSnapshot`, whatever the database),
  redacted by default (`redact`), each conversation with a digest and a seal (`digest`).
- `figures` — the support figures (waits, first response, handle time, abandonment,
  transfers, CSAT, tags, and the terms that hurt users, `terms`), for the CLI, the HTML
  `report`, the HTTP API and the dashboard alike.
- `cli` — the ``chatserver export|verify|report|purge|forget-visitor|audit`` commands; the
  HTTP API over the same functions (``GET /api/v1/export``, ``/api/v1/analytics/…``) is
  `chatserver.web.analytics`. Nothing here imports the web layer.
- `sample` — a deterministic generator of a realistic store, for tests and benchmarks.

``docs/analytics.md`` defines every figure and format.
"""

from .errors import AnalyticsError, BadRequest, Forbidden, Unsupported
from .export import Export, ExportOptions
from .figures import summary
from .filters import filters_from
from .redact import Redactor
from .redact_patterns import redact_text
from .verify import verify_file

__all__ = [
    "AnalyticsError",
    "BadRequest",
    "Export",
    "ExportOptions",
    "Forbidden",
    "Redactor",
    "Unsupported",
    "filters_from",
    "redact_text",
    "summary",
    "verify_file",
]
