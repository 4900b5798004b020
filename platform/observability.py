"""Structured JSON logs (with request id and tenant), and Prometheus metrics."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="")

REQUESTS = Counter(
    "wuye_graphql_requests_total", "GraphQL requests", ["surface", "operation", "outcome"]
)
LATENCY = Histogram(
    "wuye_graphql_request_seconds",
    "GraphQL request latency",
    ["surface", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_OPERATION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def operation_label(name: str | None) -> str:
    """Keep label cardinality bounded: odd or missing names collapse."""
    if not name:
        return "anonymous"
    return name if _OPERATION_RE.fullmatch(name) else "other"


def observe(surface: str, operation: str | None, outcome: str, started: float) -> None:
    label = operation_label(operation)
    REQUESTS.labels(surface, label, outcome).inc()
    LATENCY.labels(surface, label).observe(time.perf_counter() - started)


def metrics_payload() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if rid := request_id_var.get():
            out["request_id"] = rid
        if tenant := tenant_var.get():
            out["tenant"] = tenant
        for key, value in getattr(record, "fields", {}).items():
            out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # chatty about initdb and pg_ctl
