"""Webhooks: what happens in the hub, sent to the endpoints admins register (docs/webhooks.md).

The store's outbox holds what is to be sent (``chatserver/store/webhooks.py``: written by the
database in the transaction that stores each event); this package sends it:

- ``payload.py`` the request body of each event type, its id, and the signature (sans I/O)
- ``targets.py`` which URLs an endpoint may have and which addresses a request may reach
  (no loopback, link-local or private ones unless ``CHATSERVER_WEBHOOK_ALLOW_NETWORKS`` says so)
- ``sender.py`` the loop every hub process runs: claim what is due, send, record, retry later
"""

from __future__ import annotations

from .payload import build_body, event_id, sign, verify
from .sender import Deliverer, retry_delay
from .targets import TargetError, check_url, resolve

__all__ = [
    "Deliverer",
    "TargetError",
    "build_body",
    "check_url",
    "event_id",
    "resolve",
    "retry_delay",
    "sign",
    "verify",
]
