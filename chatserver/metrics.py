"""Prometheus metrics for `GET /metrics` (prometheus-client, one registry per app)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "chat_connections", "Open WebSocket connections", ["role"], registry=r
        )
        self.frames_in = Counter(
            "chat_frames_received_total",
            "Frames received from clients",
            ["role", "type"],
            registry=r,
        )
        self.frames_out = Counter(
            "chat_frames_sent_total", "Frames queued to clients", ["role"], registry=r
        )
        self.errors = Counter("chat_errors_total", "Error frames sent", ["code"], registry=r)
        self.slow_clients = Counter(
            "chat_slow_client_disconnects_total",
            "Connections closed because their send queue filled",
            registry=r,
        )
        self.ack_latency = Histogram(
            "chat_ack_latency_seconds",
            "From a message frame received to its ack queued (includes the store commit)",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.store_commit = Histogram(
            "chat_store_append_seconds",
            "From an append handed to the transcript store to its commit",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )
        self.queue_length = Gauge(
            "chat_queue_waiting", "Conversations waiting for an agent", ["topic"], registry=r
        )
        self.longest_wait = Gauge(
            "chat_queue_longest_wait_seconds", "Longest current wait", ["topic"], registry=r
        )
        self.offers = Counter("chat_offers_total", "Offers by outcome", ["outcome"], registry=r)
        self.conversations = Counter(
            "chat_conversations_started_total", "Conversations started", ["topic"], registry=r
        )
        self.gap_fills = Counter(
            "chat_gap_fills_total", "Deliveries that were filled from the store", registry=r
        )
        # Labelled children looked up once: `labels()` takes a lock and builds a key per call,
        # which shows on the per-frame path.
        self._children: dict[tuple[object, ...], Any] = {}

    def frame_in(self, role: str, frame_type: str) -> Any:
        return self._child(self.frames_in, role, frame_type)

    def frame_out(self, role: str) -> Any:
        return self._child(self.frames_out, role)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child
