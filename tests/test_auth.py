"""The HTTP endpoint as an OAuth 2.1 resource server, over the real hypercorn on 127.0.0.1: the
Protected Resource Metadata, and each refusal with its exact status and ``WWW-Authenticate``
while the server keeps serving. Tokens are signed here with keys made for the test (the
refusals need tokens no authorization server would issue)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from joserfc import jwt
from joserfc.jwk import RSAKey

import trimcp

from .http_support import Probe, RawHTTP, initialize_request, probe_server
from .ports import free_port

ISSUER = "https://issuer.example"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, another key
JWKS = {"keys": [KEY.as_dict(private=False)]}


def token(key: Any = KEY, header: dict[str, Any] | None = None, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "RESOURCE", "sub": "alice", "exp": now + 300, "scope": "mcp tools:read"}
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(header or {"alg": "RS256", "kid": "k1"}, claims, key)


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def _claims(**changes: Any) -> bytes:
    now = int(time.time())
    return json.dumps({"iss": ISSUER, "aud": "RESOURCE", "sub": "alice", "exp": now + 300, **changes}).encode()


def unsigned(**claims: Any) -> str:
    """A token with ``alg: none`` and no signature."""
    return f"{_b64(json.dumps({'alg': 'none', 'kid': 'k1'}).encode())}.{_b64(_claims(**claims))}."


def hmac_with_public_key(**claims: Any) -> str:
    """The key-confusion attack: HS256 with the server's public key (PEM) as the secret."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': 'k1'}).encode())}.{_b64(_claims(**claims))}"
    mac = hmac.new(KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


@asynccontextmanager
async def protected(
    verifier: str = "jwt", server: trimcp.Server | None = None, jwks_url: str | None = None, **auth: Any
) -> AsyncIterator[tuple[RawHTTP, str]]:
    """The probe server behind auth on 127.0.0.1; yields the client and the resource URL."""
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    if verifier == "jwt":
        keys: dict[str, Any] = {"jwks_url": jwks_url} if jwks_url else {"jwks": JWKS}
        chosen: Any = trimcp.JWTVerifier(issuer=ISSUER, audience=resource, **keys)
    else:
        chosen = trimcp.APIKeyVerifier.from_mapping({"secret-key-1": {"subject": "robot", "scopes": ["mcp"]}})
    config = trimcp.AuthConfig(
        verifier=chosen, resource_url=resource, authorization_servers=[ISSUER], scopes_supported=["mcp"], **auth
    )
    app = trimcp.asgi_app(server or probe_server(Probe()), auth=config, json_response=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trimcp.serve_http(app, port=port, handle_signals=False, task_status=task_status)
        )
        yield RawHTTP("127.0.0.1", port), resource
        nursery.cancel_scope.cancel()


def metadata_url(resource: str) -> str:
    return resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")


async def initialize(http: RawHTTP, authorization: str | None, path: str = "/mcp") -> Any:
    headers = {} if authorization is None else {"authorization": authorization}
    return await http.post(initialize_request(), headers, path=path)


async def test_the_protected_resource_metadata_is_served_at_both_well_known_paths() -> None:
    async with protected() as (http, resource):
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            reply = await http.request("GET", path)
            assert reply.status == 200 and reply.headers["content-type"] == "application/json"
            assert reply.json() == {
                "resource": resource,
                "authorization_servers": [ISSUER],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["mcp"],
            }


async def test_a_valid_token_is_let_in_in_both_eras() -> None:
    async with protected() as (http, resource):
        bearer = f"Bearer {token(aud=resource)}"
        reply = await initialize(http, bearer)
        assert reply.status == 200, reply
        headers = {
            "authorization": bearer,
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/list",
        }
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        listed = await http.post(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}, headers
        )
        assert listed.status == 200 and listed.json()["result"]["tools"]


def bad_tokens(resource: str) -> list[tuple[str, str]]:
    now = int(time.time())
    return [
        ("bad signature", token(OTHER_KEY, aud=resource)),
        ("alg none", unsigned(aud=resource)),
        ("HMAC signed with the public key", hmac_with_public_key(aud=resource)),
        ("wrong issuer", token(aud=resource, iss="https://evil.example")),
        ("wrong audience", token(aud="https://other.example/mcp")),
        ("expired", token(aud=resource, exp=now - 120)),
        ("not yet valid", token(aud=resource, nbf=now + 600)),
        ("unknown kid", token(RSAKey.generate_key(2048, parameters={"kid": "k2"}), {"alg": "RS256", "kid": "k2"}, aud=resource)),
        ("no subject", token(aud=resource, sub=None)),
        ("not a JWT", "abc.def.ghi"),
    ]  # fmt: skip


async def test_every_bad_token_is_a_401_invalid_token_and_the_server_keeps_serving() -> None:
    async with protected() as (http, resource):
        for label, bad in bad_tokens(resource):
            reply = await initialize(http, f"Bearer {bad}")
            assert reply.status == 401, label
            challenge = reply.headers["www-authenticate"]
            assert challenge.startswith('Bearer error="invalid_token", error_description="'), (label, challenge)
            assert challenge.endswith(f'resource_metadata="{metadata_url(resource)}"'), label
            assert reply.json()["error"]["code"] == -32600
        assert (await initialize(http, f"Bearer {token(aud=resource)}")).status == 200


@pytest.mark.parametrize(
    ("authorization", "query", "status", "error"),
    [
        (None, "", 401, None),
        ("Basic YWxpY2U6c2VjcmV0", "", 400, "invalid_request"),
        ("Bearer", "", 400, "invalid_request"),
        ("Bearer two words", "", 400, "invalid_request"),
        (None, "?access_token=abc", 400, "invalid_request"),
    ],
)
async def test_requests_without_a_usable_token(
    authorization: str | None, query: str, status: int, error: str | None
) -> None:
    async with protected() as (http, resource):
        reply = await initialize(http, authorization, path=f"/mcp{query}")
        assert reply.status == status
        expected = f'resource_metadata="{metadata_url(resource)}"'
        challenge = reply.headers["www-authenticate"]
        if error is None:
            assert challenge == f"Bearer {expected}"  # no scope needed beyond the token
        else:
            assert challenge.startswith(f'Bearer error="{error}"') and challenge.endswith(expected)


async def test_two_authorization_headers_are_malformed() -> None:
    async with protected() as (http, resource):
        raw = f"Bearer {token(aud=resource)}"
        reply = await http.post(initialize_request(), {"authorization": raw, "Authorization": raw})
        assert reply.status == 400 and reply.headers["www-authenticate"].startswith('Bearer error="invalid_request"')


async def test_a_token_without_the_endpoints_scope_is_403_naming_every_scope_needed() -> None:
    async with protected(required_scopes=["mcp", "tools:call"]) as (http, resource):
        reply = await initialize(http, f"Bearer {token(aud=resource)}")
        assert reply.status == 403
        assert reply.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="mcp tools:call", resource_metadata="{metadata_url(resource)}"'
        )
        broad = token(aud=resource, scope="mcp tools")  # "tools" covers "tools:call"
        assert (await initialize(http, f"Bearer {broad}")).status == 200
        unauthenticated = await initialize(http, None)
        assert unauthenticated.headers["www-authenticate"].startswith('Bearer scope="mcp tools:call"')


async def test_api_keys_stand_for_their_principal() -> None:
    async with protected("api-key") as (http, _):
        assert (await initialize(http, "Bearer secret-key-1")).status == 200
        refused = await initialize(http, "Bearer secret-key-2")
        assert refused.status == 401 and "unknown API key" in refused.headers["www-authenticate"]


# -- the caller, and what is bound to it -------------------------------------------------------------

FORM = {"type": "object", "properties": {"value": {"type": "string"}}}
TASKS = {"extensions": {"io.modelcontextprotocol/tasks": {}}}


def bound_server() -> trimcp.Server:
    server = trimcp.Server("bound")

    @server.tool
    def whoami(ctx: trimcp.Context) -> str:
        principal = ctx.principal
        assert principal is not None and ctx.http_headers is not None
        return f"{principal.subject} {' '.join(sorted(principal.scopes))} {ctx.http_headers.get('x-trace', ['-'])[0]}"

    @server.tool(scopes=["admin"])
    def admin_only() -> str:
        return "admin things"

    @server.tool
    async def ask(ctx: trimcp.Context) -> str:
        answer = await ctx.elicit("Value?", FORM, key="v")
        return str(answer.content)

    @server.tool(task_support="required")
    async def slow() -> str:
        await trio.sleep(30)
        return "never"

    @server.resource("bound://payroll", scopes=["admin"])
    def payroll() -> str:
        return "salaries"

    return server


async def modern(
    http: RawHTTP, bearer: str, method: str, params: dict[str, Any], name: str | None = None, capabilities: Any = None
) -> tuple[int, dict[str, Any]]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities or {},
    }
    headers = {"authorization": f"Bearer {bearer}", "mcp-protocol-version": "2026-07-28", "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    headers["x-trace"] = "t-1"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    reply = await http.post(body, headers)
    return reply.status, reply.json() if reply.body else {}


async def test_the_caller_reaches_the_tool_and_scopes_hide_and_refuse_tools() -> None:
    async with protected(server=bound_server()) as (http, resource):
        alice = token(aud=resource)
        status, answer = await modern(http, alice, "tools/call", {"name": "whoami", "arguments": {}}, "whoami")
        assert status == 200 and answer["result"]["content"][0]["text"] == "alice mcp tools:read t-1"
        status, listed = await modern(http, alice, "tools/list", {})
        assert "admin_only" not in [tool["name"] for tool in listed["result"]["tools"]]
        assert listed["result"]["cacheScope"] == "private"  # what a caller sees depends on who asks
        reply = await http.post(
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "admin_only", "arguments": {}}},
            {"authorization": f"Bearer {alice}"},
        )
        assert reply.status == 403
        assert reply.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="admin", resource_metadata="{metadata_url(resource)}"'
        )
        admin = token(aud=resource, scope="mcp admin")
        _, listed = await modern(http, admin, "tools/list", {})
        assert "admin_only" in [tool["name"] for tool in listed["result"]["tools"]]
        status, answer = await modern(http, admin, "tools/call", {"name": "admin_only", "arguments": {}}, "admin_only")
        assert status == 200 and answer["result"]["content"][0]["text"] == "admin things"


async def test_scopes_hide_and_refuse_resources_too() -> None:
    async with protected(server=bound_server()) as (http, resource):
        alice, admin = token(aud=resource), token(aud=resource, scope="mcp admin")
        _, listed = await modern(http, alice, "resources/list", {})
        assert listed["result"]["resources"] == []
        read = {"uri": "bound://payroll"}
        status, _ = await modern(http, alice, "resources/read", read, "bound://payroll")
        assert status == 403
        _, listed = await modern(http, admin, "resources/list", {})
        assert [entry["uri"] for entry in listed["result"]["resources"]] == ["bound://payroll"]
        status, answer = await modern(http, admin, "resources/read", read, "bound://payroll")
        assert status == 200 and answer["result"]["contents"][0]["text"] == "salaries"


async def test_a_session_belongs_to_the_principal_that_opened_it() -> None:
    async with protected(server=bound_server()) as (http, resource):
        alice, bob = token(aud=resource), token(aud=resource, sub="bob")
        opened = await initialize(http, f"Bearer {alice}")
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        assert (await http.post(ping, {**session, "authorization": f"Bearer {alice}"})).status == 200
        stolen = await http.post(ping, {**session, "authorization": f"Bearer {bob}"})
        assert stolen.status == 404  # as if it did not exist
        assert (await http.request("DELETE", headers={**session, "authorization": f"Bearer {bob}"})).status == 404


async def test_request_state_tasks_and_listens_belong_to_their_principal() -> None:
    async with protected(server=bound_server()) as (http, resource):
        alice, bob = token(aud=resource), token(aud=resource, sub="bob")
        elicit = {"elicitation": {"form": {}}}
        _, first = await modern(http, alice, "tools/call", {"name": "ask", "arguments": {}}, "ask", elicit)
        state = first["result"]["requestState"]
        retry = {"name": "ask", "arguments": {}, "requestState": state, "inputResponses": {"v": {"action": "decline"}}}
        status, replayed = await modern(http, bob, "tools/call", retry, "ask", elicit)
        assert status == 400 and replayed["error"]["code"] == -32602  # minted for alice
        status, own = await modern(http, alice, "tools/call", retry, "ask", elicit)
        assert status == 200 and own["result"]["content"][0]["text"] == "None"
        _, created = await modern(http, alice, "tools/call", {"name": "slow", "arguments": {}}, "slow", TASKS)
        task_id = created["result"]["taskId"]
        for method, params in (
            ("tasks/get", {"taskId": task_id}),
            ("tasks/update", {"taskId": task_id, "inputResponses": {}}),
            ("tasks/cancel", {"taskId": task_id}),
        ):
            status, refused = await modern(http, bob, method, params, task_id, TASKS)
            assert (status, refused["error"]["code"]) == (400, -32602), method
        status, seen = await modern(http, alice, "tasks/get", {"taskId": task_id}, task_id, TASKS)
        assert status == 200 and seen["result"]["status"] == "working"
        await modern(http, alice, "tasks/cancel", {"taskId": task_id}, task_id, TASKS)


# -- the client side ------------------------------------------------------------------------------


async def test_trimcps_client_sends_its_token_and_reads_challenges() -> None:
    async with protected(server=bound_server(), required_scopes=["mcp"]) as (http, resource):
        url = f"http://{http.host}:{http.port}/mcp"
        async with trimcp.open_client(url, auth=token(aud=resource)) as client:
            answer = await client.call_tool("whoami", {}, timeout=10)
            assert answer["content"][0]["text"].startswith("alice mcp tools:read")
        with pytest.raises(trimcp.AuthorizationRequired) as refused:
            async with trimcp.open_client(url, auth=token(aud=resource, scope="tools:read")):
                pass
        assert refused.value.status == 403
        assert refused.value.challenge == {
            "error": "insufficient_scope",
            "scope": "mcp",
            "resource_metadata": metadata_url(resource),
        }
        with pytest.raises(trimcp.AuthorizationRequired) as missing:
            async with trimcp.open_client(url):
                pass
        assert missing.value.status == 401 and missing.value.challenge["resource_metadata"] == metadata_url(resource)


def test_the_cli_takes_a_token_file_and_says_what_a_refusal_needs(tmp_path: Any) -> None:
    import subprocess
    import sys

    from .conftest import ROOT

    async def serve_and_call() -> list[subprocess.CompletedProcess[str]]:
        async with protected(server=bound_server(), required_scopes=["mcp"]) as (http, resource):
            url = f"http://{http.host}:{http.port}/mcp"
            (tmp_path / "token").write_text(token(aud=resource) + "\n")
            runs = []
            for extra in (["--token-file", str(tmp_path / "token")], ["--token", token(aud=resource, scope="x")]):
                command = [sys.executable, "-m", "trimcp", "call", url, "whoami", *extra]
                runs.append(
                    await trio.run_process(
                        command, cwd=str(ROOT), capture_stdout=True, capture_stderr=True, check=False
                    )
                )
            return runs

    allowed, refused = trio.run(serve_and_call)
    assert allowed.returncode == 0 and allowed.stdout.decode().startswith("alice mcp tools:read"), allowed.stderr
    assert refused.returncode == 2 and "(needs scope: mcp)" in refused.stderr.decode()


async def test_a_listen_hears_only_the_callers_own_tasks() -> None:
    async with protected(server=bound_server()) as (http, resource):
        alice, bob = token(aud=resource), token(aud=resource, sub="bob")
        _, created = await modern(http, alice, "tools/call", {"name": "slow", "arguments": {}}, "slow", TASKS)
        task_id = created["result"]["taskId"]
        for who, expected in ((bob, []), (alice, [task_id])):
            meta = {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": TASKS,
            }
            listen = {"jsonrpc": "2.0", "id": 9, "method": "subscriptions/listen",
                      "params": {"notifications": {"taskIds": [task_id]}, "_meta": meta}}  # fmt: skip
            headers = {"authorization": f"Bearer {who}", "mcp-protocol-version": "2026-07-28",
                       "mcp-method": "subscriptions/listen", "accept": "application/json, text/event-stream",
                       "content-type": "application/json"}  # fmt: skip
            with trio.fail_after(5):
                async with http.open("POST", headers=headers, body=listen) as stream:
                    while True:
                        [event] = await stream.events(1)
                        if event.data:
                            break
            acknowledged = json.loads(event.data)
            assert acknowledged["method"] == "notifications/subscriptions/acknowledged"
            assert acknowledged["params"]["notifications"] == {"taskIds": expected}
        await modern(http, alice, "tasks/cancel", {"taskId": task_id}, task_id, TASKS)


async def test_mounted_the_metadata_is_where_the_resource_url_says() -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/nested/mcp"
    verifier = trimcp.JWTVerifier(issuer=ISSUER, audience=resource, jwks=JWKS)
    inner = trimcp.asgi_app(
        probe_server(Probe()), auth=trimcp.AuthConfig(verifier=verifier, resource_url=resource), json_response=True
    )

    async def host(scope: dict, receive: Any, send: Any) -> None:  # mounts inner at /nested, and the well-known path
        if scope["type"] == "http" and scope["path"].startswith("/nested/"):
            scope = {**scope, "root_path": "/nested"}
        await inner(scope, receive, send)

    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: trimcp.serve_http(host, port=port, handle_signals=False, task_status=task_status)
        )
        http = RawHTTP("127.0.0.1", port)
        refused = await http.post(initialize_request(), path="/nested/mcp")
        expected = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/nested/mcp"
        assert refused.status == 401 and refused.headers["www-authenticate"] == f'Bearer resource_metadata="{expected}"'
        document = await http.request("GET", "/.well-known/oauth-protected-resource/nested/mcp")
        assert document.status == 200 and document.json()["resource"] == resource
        accepted = await http.post(
            initialize_request(), {"authorization": f"Bearer {token(aud=resource)}"}, path="/nested/mcp"
        )
        assert accepted.status == 200
        nursery.cancel_scope.cancel()
