"""Valid MCP messages of both eras (the seeds the mutators start from), for the fuzz server's
tools, resources and prompts, and the rule deciding which messages must be answered."""

from __future__ import annotations

import random
from typing import Any

from trimcp.protocol.jsonrpc import RemoteProtocolError, Request, from_value, loads

from . import values

HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
MODERN = "2026-07-28"
TASKS = {"io.modelcontextprotocol/tasks": {}}
MODERN_CAPABILITIES = (
    {},
    {"elicitation": {}},
    {"elicitation": {"form": {}}, "sampling": {}, "roots": {}},
    {"extensions": TASKS},
    {"extensions": {**TASKS, "other": {}}, "elicitation": {}},
)

TOOL_ARGUMENTS: dict[str, list[dict[str, Any]]] = {
    "echo": [{"text": "hello"}, {"text": ""}],
    "add": [{"a": 2, "b": 3}, {"a": -1, "b": 2**40}],
    "mixed": [{}, {"flag": True, "ratio": 0.25, "items": ["a"], "extra": {"k": 1}, "mode": "b"}],
    "pair": [{"left": 1, "right": "r"}],
    "routed": [{"region": "eu"}, {"region": "us", "count": 3, "on": True, "nested": {"zone": "z1"}}],
    "chatty": [{}, {"steps": 3}],
    "fails": [{}, {"message": "boom"}],
    "crashes": [{}],
    "ask": [{}],
    "job": [{}, {"n": 3}],
    "job_required": [{}],
}
TASK_IDS = ("nope", "", "x" * 40)
PROMPTS = {"greet": [{"name": "ada"}, {"name": "x", "style": "long"}]}
URIS = ("fuzz://static", "fuzz://item/abc", "fuzz://missing")


def next_id(rng: random.Random) -> int | str:
    """A request id (an integer or a string) drawn from ``rng``, so a case replays exactly."""
    number = rng.randrange(1, 1 << 40)
    return number if rng.random() < 0.7 else f"r{number}"


def params_for(method: str, rng: random.Random) -> dict[str, Any] | None:
    """Valid params for ``method`` (``None`` when it takes none)."""
    if method == "tools/call":
        name = rng.choice(list(TOOL_ARGUMENTS))
        params: dict[str, Any] = {"name": name, "arguments": dict(rng.choice(TOOL_ARGUMENTS[name]))}
        if rng.random() < 0.3:
            params["_meta"] = {"progressToken": rng.choice(("p", 1))}
        if rng.random() < 0.2:
            params["task"] = rng.choice(({}, {"ttl": 1000}))  # 2025-11-25 asks for a task; later revisions ignore it
        return params
    if method.startswith("tasks/"):
        params = {"taskId": rng.choice(TASK_IDS)}
        if method == "tasks/update":
            params["inputResponses"] = rng.choice(({}, {"k": {"action": "accept", "content": {}}}))
        return params
    if method == "prompts/get":
        name = rng.choice(list(PROMPTS))
        return {"name": name, "arguments": dict(rng.choice(PROMPTS[name]))}
    if method in ("resources/read", "resources/subscribe", "resources/unsubscribe"):
        return {"uri": rng.choice(URIS)}
    if method == "completion/complete":
        return {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name", "value": "a"}}
    if method == "logging/setLevel":
        return {"level": rng.choice(("debug", "info", "error"))}
    if method.endswith("/list") and rng.random() < 0.2:
        return {"cursor": rng.choice(("", "x", "0"))}
    return None


HANDSHAKE_METHODS = (
    "tools/call", "tools/call", "tools/call", "tools/list", "resources/list", "resources/templates/list",
    "resources/read", "resources/subscribe", "prompts/list", "prompts/get", "completion/complete",
    "logging/setLevel", "ping", "initialize", "no/such/method", "tasks/get", "tasks/result", "tasks/cancel",
)  # fmt: skip
MODERN_METHODS = (
    "tools/call", "tools/call", "tools/call", "tools/list", "resources/list", "resources/templates/list",
    "resources/read", "prompts/list", "prompts/get", "completion/complete", "server/discover", "ping",
    "no/such/method", "tasks/get", "tasks/update", "tasks/cancel", "tasks/result",
)  # fmt: skip


def initialize(version: str, rng: random.Random | None = None) -> dict[str, Any]:
    """An ``initialize`` request (never declaring elicitation, sampling or roots)."""
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}
    return {"jsonrpc": "2.0", "id": next_id(rng or random.Random(0)), "method": "initialize", "params": params}


def envelope(rng: random.Random) -> dict[str, Any]:
    """A 2026-07-28 ``_meta`` envelope."""
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": rng.choice(MODERN_CAPABILITIES),
    }
    if rng.random() < 0.3:
        meta["io.modelcontextprotocol/clientInfo"] = {"name": "fuzz", "version": "1"}
    if rng.random() < 0.3:
        meta["io.modelcontextprotocol/logLevel"] = rng.choice(("debug", "info", "error"))
    return meta


def request(rng: random.Random, modern: bool, version: str = HANDSHAKE_VERSIONS[0]) -> dict[str, Any]:
    """A valid request of one era."""
    method = rng.choice(MODERN_METHODS if modern else HANDSHAKE_METHODS)
    if method == "initialize":
        return initialize(version, rng)
    params = params_for(method, rng)
    if modern:
        params = dict(params or {})
        params["_meta"] = {**params.get("_meta", {}), **envelope(rng)}
        if method == "tools/call" and rng.random() < 0.1:
            params["requestState"] = rng.choice(("", "x.y", "AAAA"))
            params["inputResponses"] = {"who": {"action": "accept", "content": {"name": "n"}}}
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": next_id(rng), "method": method}
    if params is not None:
        message["params"] = params
    return message


def other_message(rng: random.Random, modern: bool) -> dict[str, Any]:
    """A notification or a response (the kinds a server never answers)."""
    roll = rng.random()
    if roll < 0.35:
        params: dict[str, Any] = {"requestId": rng.choice((-5, "never-sent")), "reason": "fuzz"}
        message = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
    elif roll < 0.5:
        message = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    elif roll < 0.6:
        message = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}
    elif roll < 0.8:
        message = {"jsonrpc": "2.0", "id": next_id(rng), "result": {}}
    else:
        message = {"jsonrpc": "2.0", "id": next_id(rng), "error": {"code": -1, "message": "no"}}
    if modern and "method" in message:
        message["params"] = {**message.get("params", {}), "_meta": envelope(rng)}
    return message


def seed_message(rng: random.Random, modern: bool, version: str = HANDSHAKE_VERSIONS[0]) -> Any:
    """A valid message or (sometimes) a batch of them."""
    roll = rng.random()
    if roll < 0.75:
        return request(rng, modern, version)
    if roll < 0.92:
        return other_message(rng, modern)
    return [
        request(rng, modern, version) if rng.random() < 0.7 else other_message(rng, modern)
        for _ in range(rng.randint(1, 4))
    ]


def fuzzed(
    rng: random.Random, modern: bool, version: str, *, mutate: float = 0.6, damage: float = 0.08
) -> tuple[Any, bytes]:
    """A seed message, mutated with probability ``mutate``, and its encoding, with byte damage
    with probability ``damage``."""
    message = seed_message(rng, modern, version)
    if rng.random() < mutate:
        message = values.mutate(message, rng)
    data = values.encode(message, rng)
    if rng.random() < damage:
        data = values.mutate_bytes(data, rng)
    return message, data


def has_surrogate(value: Any) -> bool:
    """Whether ``value`` is a string holding a lone surrogate (so not text)."""
    return isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value)


def must_answer(data: bytes) -> tuple[list[Any], bool, set[Any]]:
    """What a server must answer for the body ``data``, judged with the library's own parser:
    ``(ids, is_batch, cancelled)`` where ``ids`` are the valid ids of requests (one response
    each) and ``cancelled`` the valid ids named by ``notifications/cancelled`` in the body.

    An id holding a lone surrogate is not text, so not a valid id: such a request may be
    answered with ``"id": null``."""
    try:
        value = loads(data)
    except RemoteProtocolError:
        return [], False, set()
    items = value if isinstance(value, list) else [value]
    ids: list[Any] = []
    cancelled: set[Any] = set()
    for item in items:
        try:
            message = from_value(item)
        except RemoteProtocolError:
            continue
        if isinstance(message, Request) and not has_surrogate(message.id):
            ids.append(message.id)
        elif getattr(message, "method", None) == "notifications/cancelled" and isinstance(message.params, dict):
            target = message.params.get("requestId")
            if type(target) in (int, str):
                cancelled.add(target)
    return ids, isinstance(value, list), cancelled


def valid_ids(data: bytes) -> list[Any]:
    """Every string or integer ``id`` of the top-level message(s) in ``data``, whatever they are."""
    try:
        value = loads(data)
    except RemoteProtocolError:
        return []
    items = value if isinstance(value, list) else [value]
    return [item["id"] for item in items if isinstance(item, dict) and type(item.get("id")) in (int, str)]


KNOWN_METHODS = frozenset(HANDSHAKE_METHODS + MODERN_METHODS)


def describe(data: bytes, request_id: Any = None) -> str:
    """A short class for a finding's signature: the method (when a known one) and whether the id
    or the body holds a lone surrogate (the usual suspects)."""
    try:
        value = loads(data)
    except RemoteProtocolError:
        return "unparseable"
    item = value[0] if isinstance(value, list) and value else value
    method = item.get("method") if isinstance(item, dict) else None
    label = method if isinstance(method, str) and method in KNOWN_METHODS else "other method"
    text = data.decode("utf-8", "surrogatepass") if b"\\u" not in data else data.decode("unicode_escape", "ignore")
    if isinstance(request_id, str) and any("\ud800" <= c <= "\udfff" for c in request_id):
        return "id with a lone surrogate"
    elif any("\ud800" <= c <= "\udfff" for c in text):
        label += ", body with a lone surrogate"
    return label
