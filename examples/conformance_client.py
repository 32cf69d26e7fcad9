"""The everything-client of the MCP conformance suite's client scenarios, on trimcp's public
client API: ``python examples/conformance_client.py URL``, with the scenario in
``MCP_CONFORMANCE_SCENARIO``, its credentials in ``MCP_CONFORMANCE_CONTEXT`` (JSON) and the
revision in ``MCP_CONFORMANCE_PROTOCOL_VERSION`` (what ``conformance client`` sets).

Every scenario connects with ``trimcp.open_client(url, auth=trimcp.OAuth(...))`` (OAuth only
starts when the server challenges), then does what the scenario asks. The user's browser step
is played by :func:`follow_redirect`: the suite's authorization servers redirect at once, so
the URL they redirect to is read from the ``Location`` of a plain GET.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit

import trio

import trimcp

#: The client ID metadata document URL the suite's CIMD scenarios expect.
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
REDIRECT_URI = "http://localhost:3000/callback"
#: Sample values for the custom-header scenario's parameters, by name (some need Base64).
SAMPLES = {
    "non_ascii_val": "héllo wörld",
    "whitespace_val": "  padded  ",
    "leading_space_val": " leading",
    "trailing_space_val": "trailing ",
    "internal_space_val": "in ternal",
    "control_char_val": "bell\x07",
    "crlf_val": "line\r\nbreak",
    "tab_val": "\ttabbed",
    "empty_val": "",
    "method_val": "POST",
}


async def follow_redirect(url: str) -> str:
    """The browser step: GET the authorization URL and return where it redirects."""

    def get() -> str:
        parts = urlsplit(url)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(parts.netloc, timeout=10)
        try:
            connection.request("GET", f"{parts.path}?{parts.query}")
            response = connection.getresponse()
            location = response.getheader("location")
        finally:
            connection.close()
        if response.status not in (301, 302, 303, 307, 308) or not location:
            raise RuntimeError(f"the authorization endpoint answered {response.status}, not a redirect")
        return location

    return await trio.to_thread.run_sync(get)


def oauth_for(scenario: str, context: dict[str, Any]) -> trimcp.OAuth:
    """The OAuth configuration a scenario calls for: pre-registered credentials when the suite
    gives some (bound to their issuer when it names one), else a client ID metadata document
    URL (used where the server accepts them), else dynamic registration; a grant without the
    user when the scenario is about one (client credentials, a workload's JWT, an enterprise
    identity provider). DPoP is used when the server's challenge asks for it."""
    enterprise = None
    if "idp_token_endpoint" in context:
        enterprise = trimcp.EnterpriseIdP(
            token_endpoint=context["idp_token_endpoint"],
            id_token=context["idp_id_token"],
            client_id=context["idp_client_id"],
        )
    return trimcp.OAuth(
        authorize=follow_redirect,
        redirect_uri=REDIRECT_URI,
        client_name="trimcp-conformance",
        client_id=context.get("client_id"),
        client_secret=context.get("client_secret"),
        issuer=context.get("issuer"),
        client_metadata_url=CLIENT_METADATA_URL,
        client_credentials=scenario.startswith("auth/client-credentials"),
        private_key=context.get("private_key_pem"),
        signing_algorithm=context.get("signing_algorithm") or "ES256",
        assertion=context.get("valid_jwt"),
        enterprise=enterprise,
        timeout=10,
        authorize_timeout=10,
    )


def sample(name: str, schema: dict[str, Any]) -> Any:
    """A value for a tool argument: its default, else one of its type."""
    if "default" in schema:
        return schema["default"]
    if name in SAMPLES:
        return SAMPLES[name]
    kind = schema.get("type")
    return {"integer": 3, "number": 2.5, "boolean": True, "object": {}, "array": []}.get(kind, "test")


def arguments_for(tool: dict[str, Any], *, everything: bool) -> dict[str, Any]:
    schema = tool.get("inputSchema") or {}
    properties = schema.get("properties") or {}
    names = properties if everything else schema.get("required") or []
    return {name: sample(name, properties.get(name) or {}) for name in names}


async def accept_with_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """Elicitation: accept, with each field's default from the requested schema (a sample value
    of its type for a required field without one)."""
    schema = params.get("requestedSchema") or {}
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    content = {
        name: sample(name, field) for name, field in properties.items() if "default" in field or name in required
    }
    return {"action": "accept", "content": content}


async def exercise(client: trimcp.Client, scenario: str) -> None:
    """List the tools and call what the scenario wants called."""
    tools = await client.list_tools()
    by_name = {tool["name"]: tool for tool in tools}
    if scenario == "json-schema-ref-no-deref":
        return
    if scenario == "json-schema-2020-12-preservation":
        focal = by_name["json_schema_2020_12_tool"]
        await client.call_tool("json_schema_echo", {"schema": focal["inputSchema"]})
        return
    if scenario in ("initialize", "tools_call"):
        if tools:
            await client.call_tool(tools[0]["name"], {"a": 2, "b": 3})
        return
    for tool in tools:
        everything = scenario == "http-custom-headers" and not tool["name"].endswith("_null")
        await client.call_tool(tool["name"], arguments_for(tool, everything=everything))
    if scenario == "http-standard-headers":
        for resource in await client.list_resources():
            await client.read_resource(resource["uri"])
        for prompt in await client.list_prompts():
            await client.get_prompt(prompt["name"], {})


async def skills(client: trimcp.Client, scenario: str) -> None:
    """The skills extension: list the skills; outside the no-prefetch scenario, load each, using
    a file only when its digest, size and front matter match the listing."""
    listed = await client.request("skills/list")
    if scenario.endswith("no-prefetch"):
        return
    for skill in listed.get("skills") or []:
        for entry in skill.get("resources") or []:
            contents = (await client.read_resource(entry["uri"])).get("contents") or [{}]
            data = (contents[0].get("text") or "").encode()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if digest != entry.get("digest") or len(data) != entry.get("size"):
                raise RuntimeError(f"{entry['uri']} does not match its listing: not used")
            if entry["uri"] == skill.get("uri") and not front_matter_matches(
                data.decode(), skill.get("frontmatter") or {}
            ):
                raise RuntimeError(f"{entry['uri']}: front matter differs from the listing: not loaded")


def front_matter_matches(text: str, listed: dict[str, Any]) -> bool:
    if not text.startswith("---\n"):
        return not listed
    block = text[4:].split("\n---", 1)[0]
    fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in fields.items()} == {k: str(v) for k, v in listed.items()}


async def main(url: str) -> None:
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") or None
    options: dict[str, Any] = {"protocol_version": version, "timeout": 20, "auth": oauth_for(scenario, context)}
    async with trimcp.open_client(url, elicitation=accept_with_defaults, **options) as client:
        if scenario.startswith("sep-2640-client"):
            await skills(client, scenario)
            return
        if scenario == "request-metadata":
            await client.list_tools()
            return
        await exercise(client, scenario)


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
