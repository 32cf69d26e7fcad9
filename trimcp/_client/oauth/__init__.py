"""OAuth 2.1 for the client: :class:`OAuth` passed as ``open_client(url, auth=...)``."""

from .config import FileTokenStore, MemoryTokenStore, OAuth, TokenStore
from .errors import AuthorizationDenied, OAuthError

__all__ = ["AuthorizationDenied", "FileTokenStore", "MemoryTokenStore", "OAuth", "OAuthError", "TokenStore"]
