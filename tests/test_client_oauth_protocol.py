"""The client's OAuth rules, sans-IO (:mod:`trimcp.protocol.oauth`): no I/O at all."""

from __future__ import annotations

import base64
import hashlib

import pytest

from trimcp.protocol import oauth as rules


def test_resource_metadata_is_looked_for_in_the_specs_order() -> None:
    assert rules.prm_urls("https://mcp.example/public/mcp", None) == [
        "https://mcp.example/.well-known/oauth-protected-resource/public/mcp",
        "https://mcp.example/.well-known/oauth-protected-resource",
    ]
    assert rules.prm_urls("https://mcp.example/", None) == ["https://mcp.example/.well-known/oauth-protected-resource"]
    assert rules.prm_urls("https://mcp.example/mcp", "https://x.example/prm") == ["https://x.example/prm"]


def test_authorization_server_metadata_urls_in_the_specs_order() -> None:
    assert rules.metadata_urls("https://auth.example/tenant1") == [
        "https://auth.example/.well-known/oauth-authorization-server/tenant1",
        "https://auth.example/.well-known/openid-configuration/tenant1",
        "https://auth.example/tenant1/.well-known/openid-configuration",
    ]
    assert rules.metadata_urls("https://auth.example") == [
        "https://auth.example/.well-known/oauth-authorization-server",
        "https://auth.example/.well-known/openid-configuration",
    ]


@pytest.mark.parametrize(
    ("resource", "covers"),
    [
        ("https://mcp.example/mcp", True),
        ("https://MCP.example/mcp/", True),
        ("https://mcp.example", True),
        ("https://mcp.example/mc", False),
        ("https://evil.example/mcp", False),
        ("http://mcp.example/mcp", False),
        ("https://mcp.example:8443/mcp", False),
        ("https://mcp.example/mcp#x", False),
    ],
)
def test_a_resource_covers_its_server_and_nothing_else(resource: str, covers: bool) -> None:
    assert rules.resource_covers(resource, "https://mcp.example/mcp") is covers


def test_resource_metadata_for_another_resource_is_refused() -> None:
    good = {"resource": "https://mcp.example/mcp", "authorization_servers": ["https://auth.example"]}
    assert rules.check_protected_resource(good, "https://mcp.example/mcp") == good
    with pytest.raises(rules.OAuthViolation, match="evil"):
        rules.check_protected_resource({**good, "resource": "https://evil.example/mcp"}, "https://mcp.example/mcp")
    with pytest.raises(rules.OAuthViolation, match="no authorization server"):
        rules.check_protected_resource({**good, "authorization_servers": []}, "https://mcp.example/mcp")


def metadata(**changes: object) -> dict[str, object]:
    return {
        "issuer": "https://auth.example",
        "authorization_endpoint": "https://auth.example/authorize",
        "token_endpoint": "https://auth.example/token",
        "code_challenge_methods_supported": ["S256"],
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"issuer": "https://auth.example/"}, "issuer"),
        ({"code_challenge_methods_supported": None}, "PKCE"),
        ({"code_challenge_methods_supported": ["plain"]}, "PKCE"),
        ({"authorization_endpoint": "http://auth.example/authorize"}, "loopback"),
        ({"registration_endpoint": "http://192.168.1.2/register"}, "loopback"),
        ({"token_endpoint": None}, "token_endpoint"),
    ],
)
def test_authorization_server_metadata_checks(changes: dict[str, object], why: str) -> None:
    assert rules.check_authorization_server(metadata(), "https://auth.example")["issuer"] == "https://auth.example"
    with pytest.raises(rules.OAuthViolation, match=why):
        rules.check_authorization_server(metadata(**changes), "https://auth.example")


def test_plain_http_is_only_for_loopback() -> None:
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]:9/x", "https://a.example/x"):
        rules.require_secure(url, "endpoint")
    with pytest.raises(rules.OAuthViolation):
        rules.require_secure("http://a.example/x", "endpoint")


def test_scope_selection_and_step_up_union() -> None:
    assert rules.scopes_to_request("a b", ["c"]) == ["a", "b"]
    assert rules.scopes_to_request(None, ["c", "d"]) == ["c", "d"]
    assert rules.scopes_to_request(None, None) == []
    assert rules.scopes_to_request("write", ["profile"], previous=["basic"]) == ["basic", "write"]
    assert rules.scopes_to_request("a", None, server_scopes=["a", "offline_access"]) == ["a", "offline_access"]


def test_pkce_s256() -> None:
    verifier, challenge = rules.pkce_pair()
    assert 43 <= len(verifier) <= 128 and challenge == rules.s256(verifier) != rules.pkce_pair()[1]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64decode(challenge + "=") == digest and "=" not in challenge


def test_the_authorization_url_carries_pkce_state_and_resource() -> None:
    url = rules.authorization_url(
        "https://auth.example/authorize?tenant=1",
        client_id="c",
        redirect_uri="http://127.0.0.1:1/cb",
        state="s",
        challenge="x",
        resource="https://mcp.example/mcp",
        scopes=[],
    )
    assert url.startswith("https://auth.example/authorize?tenant=1&response_type=code&")
    assert "code_challenge_method=S256" in url and "resource=https%3A%2F%2Fmcp.example%2Fmcp" in url
    assert "scope=" not in url


@pytest.mark.parametrize(
    ("supported", "query", "outcome"),
    [
        (True, "code=c&state=s&iss=https%3A%2F%2Fauth.example", "c"),
        (True, "code=c&state=s", "no iss"),
        (False, "code=c&state=s&iss=https%3A%2F%2Fauth.example", "c"),
        (False, "code=c&state=s", "c"),
        (False, "code=c&state=s&iss=https%3A%2F%2Fevil.example", "mix-up"),
        (True, "code=c&state=s&iss=https%3A%2F%2Fauth.example%2F", "mix-up"),  # no normalisation
        (True, "code=c&state=t&iss=https%3A%2F%2Fauth.example", "state"),
        (True, "error=access_denied&state=s&iss=https%3A%2F%2Fevil.example", "mix-up"),  # not believed
    ],
)
def test_the_authorization_response_rfc9207_table(supported: bool, query: str, outcome: str) -> None:
    redirect = f"http://127.0.0.1:1/cb?{query}"
    if outcome == "c":
        assert rules.authorization_code(redirect, state="s", issuer="https://auth.example", iss_supported=supported)
        return
    with pytest.raises(rules.OAuthViolation, match=outcome):
        rules.authorization_code(redirect, state="s", issuer="https://auth.example", iss_supported=supported)


def test_an_error_response_is_an_authorization_error() -> None:
    with pytest.raises(rules.AuthorizationError) as refused:
        rules.authorization_code(
            "http://x/cb?error=access_denied&state=s", state="s", issuer="https://a", iss_supported=False
        )
    assert refused.value.error == "access_denied"


def test_client_authentication_at_the_token_endpoint() -> None:
    form = {"grant_type": "authorization_code"}
    body, headers = rules.token_request(form, client_id="id:1", client_secret="s&p", method="client_secret_basic")
    basic = dict(headers)["authorization"].removeprefix("Basic ")
    assert base64.b64decode(basic).decode() == "id%3A1:s%26p" and b"client_id" not in body
    body, headers = rules.token_request(form, client_id="id", client_secret="sec", method="client_secret_post")
    assert b"client_id=id" in body and b"client_secret=sec" in body and "authorization" not in dict(headers)
    body, _ = rules.token_request(form, client_id="id", client_secret=None, method="none")
    assert b"client_id=id" in body and b"secret" not in body
    assert rules.auth_method(None, ["client_secret_post"], True) == "client_secret_post"
    assert rules.auth_method(None, None, True) == "client_secret_basic"
    assert rules.auth_method(None, ["client_secret_basic"], False) == "none"


def test_token_responses() -> None:
    tokens = rules.check_token_response({"access_token": "a", "token_type": "bearer", "expires_in": 60}, 1000.0)
    assert tokens == {
        "access_token": "a",
        "token_type": "Bearer",
        "refresh_token": None,
        "expires_at": 1060.0,
        "scope": None,
    }
    with pytest.raises(rules.OAuthViolation, match="DPoP"):  # bound to a key the client never showed
        rules.check_token_response({"access_token": "a", "token_type": "DPoP"}, 0)
    dpop_bound = rules.check_token_response({"access_token": "a", "token_type": "dpop"}, 0, proof_sent=True)
    assert dpop_bound["token_type"] == "DPoP"
    with pytest.raises(rules.OAuthViolation, match="N_A"):
        rules.check_token_response({"access_token": "a", "token_type": "N_A"}, 0, proof_sent=True)
    with pytest.raises(rules.OAuthViolation, match="without an access token"):
        rules.check_token_response({"error": "invalid_grant"}, 0)
    assert rules.token_error({"error": "invalid_grant", "error_description": "expired"}) == "invalid_grant: expired"


def test_challenges_of_several_schemes() -> None:
    value = 'DPoP algs="ES256", error="use_dpop_nonce", Bearer resource_metadata="https://m.example/prm", scope="a b"'
    assert rules.parse_challenges(value) == {
        "dpop": {"algs": "ES256", "error": "use_dpop_nonce"},
        "bearer": {"resource_metadata": "https://m.example/prm", "scope": "a b"},
    }
    assert rules.parse_challenges('Negotiate abc==, Bearer error="a \\"q\\""') == {
        "negotiate": {},
        "bearer": {"error": 'a "q"'},
    }
    assert rules.parse_challenges("") == {}


def test_an_id_jag_request_and_its_answer() -> None:
    form = rules.id_jag_request(
        id_token="idt", issuer="https://as.example", resource="https://m.example/mcp", scopes=[]
    )
    assert form["audience"] == "https://as.example" and form["requested_token_type"] == rules.ID_JAG_TYPE
    assert "scope" not in form and form["subject_token_type"] == rules.ID_TOKEN_TYPE
    answer = {"issued_token_type": rules.ID_JAG_TYPE, "access_token": "jag", "token_type": "N_A"}
    assert rules.check_id_jag_response(answer) == "jag"
    with pytest.raises(rules.OAuthViolation, match="not an ID-JAG"):
        rules.check_id_jag_response({"access_token": "at", "token_type": "Bearer"})
