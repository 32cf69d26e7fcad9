"""Observers of a server's requests: an access log, Prometheus metrics, OpenTelemetry tracing
(docs/observability.md). Install them with ``Server.observe``."""

from .access_log import AccessLog, JSONLogFormatter
from .metrics import Gauge, Metrics, metrics_of

__all__ = ["AccessLog", "Gauge", "JSONLogFormatter", "Metrics", "metrics_of"]
