"""``trimcp serve``'s authentication flags, and the :class:`AuthConfig` they make."""

from __future__ import annotations

import argparse
from typing import Any

from ._auth import APIKeyVerifier, IntrospectionVerifier, JWTVerifier
from ._server.server import Server
from ._transports.http.auth import AuthConfig, TokenVerifier


def add_auth_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("authentication (streamable-http; docs/auth.md)")
    group.add_argument(
        "--resource-url", metavar="URL", help="the endpoint's canonical URL (default: from --host/--port/--path)"
    )
    group.add_argument("--auth-issuer", metavar="ISS", help="accept JWT access tokens from this authorization server")
    group.add_argument("--auth-jwks-url", metavar="URL", help="where its signing keys are (JWK set)")
    group.add_argument("--auth-audience", metavar="AUD", help="the audience tokens must name (default: --resource-url)")
    group.add_argument(
        "--auth-scope", action="append", default=[], metavar="SCOPE", help="a scope every request needs (repeatable)"
    )
    group.add_argument(
        "--auth-introspection-url", metavar="URL", help="accept opaque tokens, asking this endpoint (RFC 7662)"
    )
    group.add_argument("--auth-client-id", metavar="ID", help="this server's client id at the introspection endpoint")
    group.add_argument("--auth-client-secret-file", metavar="FILE", help="and its secret, read from FILE")
    group.add_argument(
        "--api-key-file", metavar="FILE", help='accept API keys: {"<key>": {"subject": ..., "scopes": [...]}}'
    )


def auth_config(args: argparse.Namespace, server: Server, host: str, port: int, path: str | None) -> AuthConfig | None:
    """The authentication the flags ask for (``None`` for none). Raises ``SystemExit`` for flags
    that do not go together."""
    verifiers: list[TokenVerifier] = []
    resource = args.resource_url or f"http://{host}:{port}{path or ''}"
    if args.auth_issuer or args.auth_jwks_url:
        if not (args.auth_issuer and args.auth_jwks_url):
            raise SystemExit("trimcp: --auth-issuer and --auth-jwks-url go together")
        verifiers.append(
            JWTVerifier(issuer=args.auth_issuer, audience=args.auth_audience or resource, jwks_url=args.auth_jwks_url)
        )
    if args.auth_introspection_url:
        if not (args.auth_client_id and args.auth_client_secret_file):
            raise SystemExit("trimcp: --auth-introspection-url needs --auth-client-id and --auth-client-secret-file")
        with open(args.auth_client_secret_file, encoding="utf-8") as file:
            secret = file.read().strip()
        audience = args.auth_audience or resource
        verifiers.append(
            IntrospectionVerifier(
                args.auth_introspection_url, client_id=args.auth_client_id, client_secret=secret, audience=audience
            )
        )
    if args.api_key_file:
        verifiers.append(APIKeyVerifier.from_file(args.api_key_file))
    if not verifiers:
        if args.auth_scope or args.resource_url:
            raise SystemExit("trimcp: --auth-scope and --resource-url need a way to check tokens (--auth-issuer, …)")
        return None
    if len(verifiers) > 1:
        raise SystemExit("trimcp: choose one kind of credentials (JWTs, introspection or API keys)")
    offered = {scope for offering in _offerings(server) for scope in offering.scopes} | set(args.auth_scope)
    return AuthConfig(
        verifier=verifiers[0],
        resource_url=resource,
        authorization_servers=[args.auth_issuer] if args.auth_issuer else [],
        required_scopes=args.auth_scope,
        scopes_supported=sorted(offered),
    )


def _offerings(server: Server) -> list[Any]:
    return [
        *server.tools.values(),
        *server.prompts.values(),
        *server.resources.values(),
        *server.resource_templates.values(),
    ]
