"""Content blocks: the helpers tool authors return (``Image``, ``Audio``, …) and the conversion of
Python values into the ``content`` lists of tool results and prompt messages."""

from __future__ import annotations

import base64
from typing import Any, Literal

import attrs

from ..protocol import fastjson
from ..protocol.jsonrpc import dumps_text
from ..protocol.lifecycle import Feature, carries
from .typeschema import to_json

_CONTENT_TYPES = frozenset({"text", "image", "audio", "resource", "resource_link"})


def _sniff(data: bytes, signatures: tuple[tuple[bytes, int, str], ...], fallback: str) -> str:
    for magic, offset, mime in signatures:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return fallback


_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"<svg", 0, "image/svg+xml"),
)
_AUDIO_SIGNATURES = (
    (b"WAVE", 8, "audio/wav"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"OggS", 0, "audio/ogg"),
    (b"fLaC", 0, "audio/flac"),
)


@attrs.frozen
class Image:
    """Image content; the MIME type is sniffed from the bytes when not given."""

    data: bytes
    mime_type: str | None = None

    def to_content(self) -> dict[str, Any]:
        mime = self.mime_type or _sniff(self.data, _IMAGE_SIGNATURES, "application/octet-stream")
        return {"type": "image", "data": base64.b64encode(self.data).decode(), "mimeType": mime}


@attrs.frozen
class Audio:
    """Audio content; the MIME type is sniffed from the bytes when not given."""

    data: bytes
    mime_type: str | None = None

    def to_content(self) -> dict[str, Any]:
        mime = self.mime_type or _sniff(self.data, _AUDIO_SIGNATURES, "application/octet-stream")
        return {"type": "audio", "data": base64.b64encode(self.data).decode(), "mimeType": mime}


@attrs.frozen
class ResourceLink:
    """A link to a resource the client can read (or subscribe to) later."""

    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    size: int | None = None

    def to_content(self) -> dict[str, Any]:
        content: dict[str, Any] = {"type": "resource_link", "uri": self.uri, "name": self.name}
        for key, value in (
            ("title", self.title),
            ("description", self.description),
            ("mimeType", self.mime_type),
            ("size", self.size),
        ):
            if value is not None:
                content[key] = value
        return content


@attrs.frozen
class ResourceContents:
    """The contents of a resource: ``text`` or ``blob`` bytes, with its URI and MIME type."""

    uri: str
    text: str | None = None
    blob: bytes | None = None
    mime_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        contents: dict[str, Any] = {"uri": self.uri}
        if self.mime_type is not None:
            contents["mimeType"] = self.mime_type
        if self.blob is not None:
            contents["blob"] = base64.b64encode(self.blob).decode()
        else:
            contents["text"] = self.text or ""
        return contents


@attrs.frozen
class EmbeddedResource:
    """A resource's contents embedded in a tool result or a prompt message."""

    resource: ResourceContents

    def to_content(self) -> dict[str, Any]:
        return {"type": "resource", "resource": self.resource.to_dict()}


ContentItem = Image | Audio | ResourceLink | EmbeddedResource


def is_content_dict(value: Any) -> bool:
    """Whether ``value`` already is a content block (a dict with a known ``type``)."""
    return type(value) is dict and value.get("type") in _CONTENT_TYPES


def content_block(value: Any) -> dict[str, Any]:
    """One content block for one value: text for strings, images for bytes, helpers as
    themselves, anything else as its JSON text."""
    if type(value) is str:
        return {"type": "text", "text": value}
    if isinstance(value, (Image, Audio, ResourceLink, EmbeddedResource)):
        return value.to_content()
    if isinstance(value, ResourceContents):
        return EmbeddedResource(value).to_content()
    if isinstance(value, (bytes, bytearray)):
        return Image(bytes(value)).to_content()
    if is_content_dict(value):
        return value
    return {"type": "text", "text": json_text(value)}


@attrs.frozen
class Message:
    """One prompt message: text, an ``Image``/``Audio``, an embedded resource, or a content dict."""

    content: Any
    role: Literal["user", "assistant"] = attrs.field(default="user")

    @role.validator
    def _known_role(self, attribute: Any, role: Any) -> None:
        if role not in ("user", "assistant"):
            hint = " (the content comes first: Message(content, role))" if isinstance(self.content, str) else ""
            raise ValueError(f"a message's role is 'user' or 'assistant', not {role!r}{hint}")

    def to_dict(self, version: str | None) -> dict[str, Any]:
        return {"role": self.role, "content": for_version([content_block(self.content)], version)[0]}


def json_text(value: Any) -> str:
    """The compact JSON text of a Python value as :func:`to_json` makes it (orjson writes it
    where it writes the same: :mod:`trimcp.protocol.fastjson`)."""
    fast = fastjson.encode(value, default=to_json)
    return fast.decode() if fast is not None else dumps_text(to_json(value))


def json_data_and_text(value: Any) -> tuple[Any, str]:
    """``to_json(value)`` and its compact JSON text: one pass through orjson where it gives the
    same, else :func:`to_json` and the standard encoder. Raises as they do (``TypeError`` for
    what JSON cannot carry, ``ValueError`` for NaN)."""
    fast = fastjson.encode(value, default=to_json)
    if fast is not None:
        data = fastjson.decode(fast)
        if data is not fastjson.UNDECIDED:
            return data, fast.decode()
    data = to_json(value)
    return data, dumps_text(data)


def for_version(blocks: list[dict[str, Any]], version: str | None) -> list[dict[str, Any]]:
    """Replace content blocks the negotiated revision cannot carry (``audio``,
    ``resource_link``: see :mod:`trimcp.protocol.lifecycle`) with a text block saying so."""
    if carries(version, Feature.RESOURCE_LINKS) and carries(version, Feature.AUDIO_CONTENT):
        return blocks
    adapted = []
    for block in blocks:
        kind = block.get("type")
        if kind == "resource_link" and not carries(version, Feature.RESOURCE_LINKS):
            adapted.append({"type": "text", "text": f"Resource: {block.get('name')} <{block.get('uri')}>"})
        elif kind == "audio" and not carries(version, Feature.AUDIO_CONTENT):
            adapted.append({"type": "text", "text": f"[{block.get('mimeType')} audio not shown: revision {version}]"})
        else:
            adapted.append(block)
    return adapted
