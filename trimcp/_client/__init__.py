"""The Trio-native MCP client: :func:`open_client` for stdio, Streamable HTTP (both eras), the
legacy HTTP+SSE transport and in-process servers."""

from .api import Client
from .errors import (
    AuthorizationRequired,
    ClientError,
    ClientTimeout,
    ConnectionFailed,
    HTTPStatusError,
    NotAnMCPServer,
    ServerClosed,
)
from .oauth import (
    AuthorizationDenied,
    AuthorizationServerChanged,
    EnterpriseIdP,
    FileTokenStore,
    MemoryTokenStore,
    OAuth,
    OAuthError,
    TokenStore,
)
from .open import open_client
from .tasks import ClientTask

__all__ = [
    "AuthorizationDenied",
    "AuthorizationRequired",
    "AuthorizationServerChanged",
    "Client",
    "ClientError",
    "ClientTask",
    "ClientTimeout",
    "ConnectionFailed",
    "EnterpriseIdP",
    "FileTokenStore",
    "HTTPStatusError",
    "MemoryTokenStore",
    "NotAnMCPServer",
    "OAuth",
    "OAuthError",
    "ServerClosed",
    "TokenStore",
    "open_client",
]
