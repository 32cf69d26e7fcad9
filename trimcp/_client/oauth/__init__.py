"""OAuth 2.1 for the client: :class:`OAuth` passed as ``open_client(url, auth=...)``."""

from .config import EnterpriseIdP, FileTokenStore, MemoryTokenStore, OAuth, TokenStore
from .errors import AuthorizationDenied, AuthorizationServerChanged, OAuthError

__all__ = [
    "AuthorizationDenied",
    "AuthorizationServerChanged",
    "EnterpriseIdP",
    "FileTokenStore",
    "MemoryTokenStore",
    "OAuth",
    "OAuthError",
    "TokenStore",
]
