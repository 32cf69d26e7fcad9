"""Getting tokens from an authorization server's token endpoint: the grant's form (the user's
authorization code, the client's own credentials, a workload's JWT, an enterprise ID-JAG), the
client's authentication, DPoP proofs and the nonces servers ask for. Every refusal raises;
nothing here retries a grant that was refused."""

from __future__ import annotations

import secrets
import time
from typing import Any

import attrs
import trio

from ...protocol import dpop
from ...protocol import oauth as rules
from .assertion import JWT_BEARER_ASSERTION, client_assertion
from .config import OAuth, jwt_of
from .dpop import DPoPKey
from .errors import OAuthError
from .fetch import Fetcher


@attrs.frozen
class Discovered:
    """Where to get a token for the server: its authorization server's checked metadata, the
    resource to ask for, and the scopes the resource lists."""

    metadata: dict[str, Any]
    resource: str
    scopes_supported: Any

    @property
    def issuer(self) -> str:
        return self.metadata["issuer"]


class TokenEndpoint:
    """Token requests of one OAuth session. Resource handling: borrows the session's
    :class:`Fetcher`; keeps the last DPoP nonce each server gave (``nonces``, by the URI the
    proofs name: the token endpoint, the MCP endpoint), which the session's requests to the MCP
    server share."""

    def __init__(self, config: OAuth, http: Fetcher) -> None:
        self.config = config
        self.http = http
        self.nonces: dict[str, str] = {}

    async def request(
        self, found: Discovered, client: dict[str, Any], form: dict[str, str], key: DPoPKey | None
    ) -> dict[str, Any] | None:
        """The token endpoint's answer to ``form`` as tokens (DPoP-bound to ``key`` when one is
        given and the server binds them); ``None`` for a refused refresh. The request is sent
        again once with a nonce the server asks for. Raises :class:`OAuthError` for any other
        refusal, :class:`rules.OAuthViolation` for an answer that breaks the rules."""
        endpoint = found.metadata["token_endpoint"]
        answer = None
        for _ in range(2):
            fields = dict(form)
            if client["method"] == "private_key_jwt":  # a fresh assertion each time: its jti is single-use
                assert self.config.private_key is not None
                signed = client_assertion(
                    client["client_id"], found.issuer, self.config.private_key, self.config.signing_algorithm
                )
                fields |= {"client_assertion_type": JWT_BEARER_ASSERTION, "client_assertion": signed}
            body, headers = rules.token_request(
                fields,
                client_id=client["client_id"],
                client_secret=client.get("client_secret"),
                method=client["method"],
            )
            sent_nonce = self.nonces.get(dpop.target_uri(endpoint))
            if key is not None:
                headers.append(("dpop", key.proof("POST", endpoint, nonce=sent_nonce)))
            answer = await self.http.exchange("POST", endpoint, headers, body)
            if answer.dpop_nonce:
                self.nonces[dpop.target_uri(endpoint)] = answer.dpop_nonce
            asked = key is not None and dpop.token_endpoint_wants_nonce(answer.status, answer.body)
            if not asked or answer.dpop_nonce in (None, sent_nonce):
                break
        assert answer is not None
        if answer.status != 200:
            if answer.status in (400, 401) and form["grant_type"] == "refresh_token":
                return None
            raise OAuthError(f"the token endpoint answered {answer.status}: {rules.token_error(answer.body)}")
        return rules.check_token_response(answer.body, time.time(), proof_sent=key is not None)

    async def user_grant(self, found: Discovered, client: dict[str, Any], scopes: list[str]) -> dict[str, str]:
        """The authorization code grant's form: the user's step through ``authorize`` (bounded
        by ``authorize_timeout``), its response checked (``iss``, ``state``), PKCE. Raises
        :class:`OAuthError` when the user took too long, :class:`rules.OAuthViolation` for a
        response that fails its checks."""
        assert self.config.authorize is not None
        verifier, challenge = rules.pkce_pair()
        state = secrets.token_urlsafe(16)
        url = rules.authorization_url(
            found.metadata["authorization_endpoint"],
            client_id=client["client_id"],
            redirect_uri=self.config.redirect_uri,
            state=state,
            challenge=challenge,
            resource=found.resource,
            scopes=scopes,
        )
        try:
            with trio.fail_after(self.config.authorize_timeout):
                redirected = await self.config.authorize(url)
        except trio.TooSlowError:
            raise OAuthError(f"no authorization within {self.config.authorize_timeout:g} s") from None
        iss_supported = found.metadata.get("authorization_response_iss_parameter_supported") is True
        code = rules.authorization_code(redirected, state=state, issuer=found.issuer, iss_supported=iss_supported)
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "code_verifier": verifier,
            "resource": found.resource,
        }

    async def unattended_grant(self, found: Discovered, scopes: list[str]) -> dict[str, str]:
        """The form of the grant the configuration has instead of the user's step (client
        credentials, a workload's JWT, an enterprise ID-JAG; see :attr:`OAuth.unattended`).
        Raises :class:`OAuthError` when the identity provider refuses an ID-JAG."""
        config = self.config
        if config.client_credentials:
            form = {"grant_type": "client_credentials"}
        elif config.assertion is not None:
            form = {"grant_type": rules.JWT_BEARER_GRANT, "assertion": await jwt_of(config.assertion)}
        else:
            form = {"grant_type": rules.JWT_BEARER_GRANT, "assertion": await self._id_jag(found, scopes)}
        form["resource"] = found.resource
        if scopes:
            form["scope"] = " ".join(scopes)
        return form

    async def _id_jag(self, found: Discovered, scopes: list[str]) -> str:
        """An ID-JAG for ``found``'s authorization server from the enterprise identity provider
        (RFC 8693 token exchange of the user's ID token). Raises :class:`OAuthError` when it
        refuses, :class:`rules.OAuthViolation` when it answers with something else."""
        idp = self.config.enterprise
        assert idp is not None
        rules.require_secure(idp.token_endpoint, "identity provider's token endpoint")
        form = rules.id_jag_request(
            id_token=await jwt_of(idp.id_token), issuer=found.issuer, resource=found.resource, scopes=scopes
        )
        method = "client_secret_post" if idp.client_secret is not None else "none"
        body, headers = rules.token_request(
            form, client_id=idp.client_id, client_secret=idp.client_secret, method=method
        )
        answer = await self.http.exchange("POST", idp.token_endpoint, headers, body)
        if answer.status != 200:
            raise OAuthError(
                f"the identity provider refused the token exchange ({answer.status}: {rules.token_error(answer.body)})"
            )
        return rules.check_id_jag_response(answer.body)
