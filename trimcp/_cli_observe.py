"""``trimcp serve``'s logging and observability flags: the log itself, the access log, metrics,
tracing and the blocked-loop warning (docs/observability.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from ._observe import AccessLog, JSONLogFormatter
from ._server.server import Server

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_observability_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logs, metrics and tracing (docs/observability.md)")
    group.add_argument("--log-level", default="INFO", help="log level for the server's own log on stderr")
    group.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="text lines, or one JSON object per line"
    )
    group.add_argument(
        "--access-log", metavar="FILE", help="log every HTTP request and JSON-RPC request to FILE ('-': stderr)"
    )
    group.add_argument(
        "--metrics-path", metavar="PATH", help="streamable-http: serve Prometheus metrics here (no credentials asked)"
    )
    group.add_argument(
        "--tracing",
        action="store_true",
        help="OpenTelemetry spans per request (pip install 'trimcp[otel]'; export them with opentelemetry-instrument)",
    )
    group.add_argument(
        "--blocked-loop-warning", dest="blocked_loop_warning_seconds", type=float, default=0.5, metavar="SECONDS",
        help="warn, naming the code, when the event loop is blocked this long (0: never; default: 0.5)",
    )  # fmt: skip


def configure_logging(args: argparse.Namespace) -> None:
    """The process's log on stderr, and the access log where ``--access-log`` says (its lines
    go there only)."""
    formatter = JSONLogFormatter() if args.log_format == "json" else logging.Formatter(_TEXT_FORMAT)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    if args.access_log:
        access = logging.StreamHandler(sys.stderr) if args.access_log == "-" else logging.FileHandler(args.access_log)
        access.setFormatter(
            JSONLogFormatter() if args.log_format == "json" else logging.Formatter("%(asctime)s %(message)s")
        )
        access_logger = logging.getLogger("trimcp.access")
        access_logger.addHandler(access)
        access_logger.setLevel(logging.INFO)
        access_logger.propagate = False


def install_observers(args: argparse.Namespace, server: Server) -> None:
    """The observers the flags ask for (metrics are installed by the app serving them).
    Raises ``SystemExit`` when tracing is asked for without OpenTelemetry."""
    if args.access_log:
        server.observe(AccessLog())
    if args.tracing:
        try:
            from ._observe.tracing import Tracing

            server.observe(Tracing())
        except ImportError as exc:
            raise SystemExit(f"trimcp: {exc}") from None
    if args.blocked_loop_warning_seconds is not None and args.blocked_loop_warning_seconds <= 0:
        args.blocked_loop_warning_seconds = None
