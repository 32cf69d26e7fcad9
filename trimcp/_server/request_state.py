"""Sealed ``requestState`` for 2026-07-28 multi-round-trip requests.

The state carries the answers gathered in earlier rounds and the keys the last round asked
for, bound to the request (method, target, a digest of its arguments), the principal (once
authentication exists) and an expiry. It is signed with HMAC-SHA256 under the server's key:
any process holding the same key can continue the exchange, and nothing else can forge or
alter it. The client can read it (everything in it came from the client or the request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import attrs

from ..protocol.errors import INVALID_PARAMS, RemoteProtocolError
from ..protocol.jsonrpc import RequestId, dumps

_VERSION = 1
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@attrs.frozen
class Binding:
    """What a state belongs to: one method on one target with the same arguments."""

    method: str
    target: str
    arguments_digest: str
    principal: str | None = None

    @classmethod
    def of(cls, method: str, target: str, arguments: Any, principal: str | None = None) -> Binding:
        canonical = _canonical.encode(arguments)
        return cls(method, target, hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest(), principal)


@attrs.frozen
class RoundState:
    """The answers so far, and the keys the last round asked for."""

    answers: dict[str, Any] = attrs.Factory(dict)
    pending: tuple[str, ...] = ()


class StateSealer:
    """Seals and opens request states with one key; states live ``ttl`` seconds."""

    def __init__(self, key: bytes, ttl: float) -> None:
        if len(key) < 16:
            raise ValueError("the request-state key must be at least 16 bytes")
        self._key = key
        self.ttl = ttl

    def seal(self, binding: Binding, state: RoundState) -> str:
        payload = {
            "v": _VERSION,
            "b": [binding.method, binding.target, binding.arguments_digest, binding.principal],
            "a": state.answers,
            "p": list(state.pending),
            "e": int(time.time() + self.ttl),
        }
        body = _b64(dumps(payload))
        return f"{body}.{_b64(self._sign(body))}"

    def open(self, token: Any, binding: Binding, request_id: RequestId | None) -> RoundState:
        """The state in ``token``. Raises -32602 saying why it cannot be used: malformed,
        tampered with (or sealed under another key), for another request, or expired."""
        if type(token) is not str or token.count(".") != 1:
            raise _invalid("requestState is malformed", request_id)
        body, signature = token.split(".")
        try:
            valid = hmac.compare_digest(_unb64(signature), self._sign(body))
        except ValueError:
            valid = False
        if not valid:
            raise _invalid("requestState was altered or sealed by another server", request_id)
        try:
            payload = json.loads(_unb64(body))
            bound = payload["b"]
            answers, pending, expires = payload["a"], payload["p"], payload["e"]
        except (ValueError, KeyError, TypeError):
            raise _invalid("requestState is malformed", request_id) from None
        if payload.get("v") != _VERSION or type(answers) is not dict or type(pending) is not list:
            raise _invalid("requestState is malformed", request_id)
        if bound != [binding.method, binding.target, binding.arguments_digest, binding.principal]:
            raise _invalid("requestState belongs to another request (method, target or arguments differ)", request_id)
        if time.time() > expires:
            raise _invalid("requestState has expired; start the request again", request_id)
        return RoundState(answers, tuple(pending))

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None


def _invalid(reason: str, request_id: RequestId | None) -> RemoteProtocolError:
    return RemoteProtocolError(f"Invalid params: {reason}", code=INVALID_PARAMS, request_id=request_id)
