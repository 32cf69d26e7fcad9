"""Names fixed by the specification: ``_meta`` keys, log levels, well-known methods."""

from __future__ import annotations

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

#: RFC 5424 severities, least severe first; a level lets through itself and everything after it.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
LOG_LEVEL_RANK = {level: rank for rank, level in enumerate(LOG_LEVELS)}

RESULT_COMPLETE = "complete"
RESULT_INPUT_REQUIRED = "input_required"
