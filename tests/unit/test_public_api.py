"""The public surface, as a snapshot: a name added, removed or leaked fails here first, so every
change to it is a decision (update the snapshot in the same commit, and say so)."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC = {
    "trimcp": [
        "APIKeyVerifier", "AccessLog", "Audio", "BackendUnavailable", "AuthConfig", "AuthorizationDenied", "AuthorizationRequired", "AuthorizationServerChanged", "CancelReason", "Client", "ClientAnswerError", "ClientError", "ClientTask", "ClientTimeout", "Completion",
        "ConnectionFailed", "Context", "ElicitResult", "EmbeddedResource", "EnterpriseIdP", "FileTokenStore", "HTTPConfig", "HTTPStatusError", "Image", "IntrospectionVerifier", "JSONLogFormatter", "JWKSCache", "JWTVerifier",
        "LifespanNotRunning", "LocalProtocolError", "MCPApp", "MemoryTaskStore", "MemoryTokenStore", "Message", "Metrics", "MissingClientCapability", "NotAnMCPServer",
        "OAuth", "OAuthError", "ObservedExchange", "ObservedRequest", "Observer", "Principal", "ProtocolError", "RedisBackend", "RedisEventStore", "RequestCall",
        "RemoteProtocolError", "RequestFailed", "ResourceContents", "ResourceLink", "ResourceNotFoundError", "Root",
        "SQLiteTaskStore", "SampleResult", "Server", "ServerClosed", "TaskStore", "ToolCall", "TokenStore", "ToolError", "ToolResult", "Tracing", "asgi_app",
        "open_client", "proxy", "serve_http", "serve_stdio", "serve_stream", "watch_event_loop",
    ],
    "trimcp.protocol": [
        "HANDSHAKE_VERSIONS", "HEADER_MISMATCH", "INTERNAL_ERROR", "INVALID_PARAMS", "INVALID_REQUEST",
        "LATEST_HANDSHAKE_VERSION", "LATEST_VERSION", "METHOD_NOT_FOUND", "MISSING_CLIENT_CAPABILITY", "PARSE_ERROR",
        "PER_REQUEST_VERSIONS", "RESOURCE_NOT_FOUND", "SUPPORTED_VERSIONS", "UNSUPPORTED_PROTOCOL_VERSION", "Batch",
        "Era", "ErrorResponse", "LocalProtocolError", "Message", "Notification", "ProtocolError",
        "RemoteProtocolError", "Request", "RequestFailed", "RequestId", "Response", "SSEDecoder", "ServerSentEvent",
        "encode_comment", "encode_event",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_the_snapshot_written_out(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_every_public_name_resolves_and_nothing_private_leaks(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert not name.startswith("_"), name
        value = getattr(module, name)  # raises for a name that does not resolve
        owner = getattr(value, "__module__", None) if inspect.isclass(value) or inspect.isfunction(value) else None
        assert owner is None or owner.startswith("trimcp"), f"{module_name}.{name} is {owner}'s, not trimcp's"
        assert name in dir(module)


def test_the_lazy_table_and_all_agree() -> None:
    import trimcp

    assert set(trimcp._EXPORTS) == set(trimcp.__all__)
    with pytest.raises(AttributeError):
        trimcp.NotAThing  # noqa: B018
