"""Resources (fixed URIs) and resource templates (RFC 6570 URI templates)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import trio

from .content import ResourceContents, json_text
from .context import Context
from .offering import Offering
from .typeschema import from_text

_EXPRESSION = re.compile(r"\{([+#./;?&]?)([^{}]+)\}")


class UriTemplate:
    """Matches URIs against an RFC 6570 template: ``{var}``, ``{+var}``, ``{#var}``, ``{/var}``,
    ``{.var}``, and ``{?a,b}``/``{&a}`` query expressions (query variables are optional)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.variables: list[str] = []
        self._query_variables: list[str] = []
        pattern = ["^"]
        position = 0
        for match in _EXPRESSION.finditer(template):
            pattern.append(re.escape(template[position : match.start()]))
            position = match.end()
            operator, names = match.group(1), [_variable_name(n) for n in match.group(2).split(",")]
            if operator in ("?", "&"):
                self._query_variables.extend(names)
                pattern.append(r"(?:[?&](?P<_query>[^#]*))?")
                continue
            prefix = {"#": "#", "/": "/", ".": r"\.", ";": ";"}.get(operator, "")
            value = r".+?" if operator in ("+", "#") else r"[^/?#]+?"
            for index, name in enumerate(names):
                if index:
                    pattern.append("," if operator in ("", "+", "#") else prefix)
                elif prefix:
                    pattern.append(prefix)
                pattern.append(f"(?P<v{len(self.variables)}>{value})")
                self.variables.append(name)
        pattern.append(re.escape(template[position:]) + "$")
        self._regex = re.compile("".join(pattern))
        self.variables.extend(self._query_variables)

    def match(self, uri: str) -> dict[str, str] | None:
        """The variables' values when ``uri`` matches, else ``None``."""
        found = self._regex.match(uri)
        if found is None:
            return None
        values: dict[str, str] = {}
        for index, name in enumerate(self.variables[: len(self.variables) - len(self._query_variables)]):
            values[name] = urllib.parse.unquote(found.group(f"v{index}"))
        query = found.groupdict().get("_query")
        if query:
            for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
                if key in self._query_variables:
                    values[key] = value
        return values


def _variable_name(raw: str) -> str:
    return raw.strip().rstrip("*").split(":", 1)[0]


class _ResourceBase(Offering):
    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        mime_type: str | None = None,
        annotations: dict[str, Any] | None = None,
        **presentation: Any,
    ) -> None:
        super().__init__(fn, what="resource", **presentation)
        self.mime_type = mime_type
        self.annotations = annotations

    def _describe(self, head: dict[str, Any], version: str | None) -> dict[str, Any]:
        for key, value in (
            ("description", self.description),
            ("mimeType", self.mime_type),
            ("annotations", self.annotations),
        ):
            if value is not None:
                head[key] = value
        head.update(self.presented(version))
        return head

    async def read(
        self, uri: str, kwargs: dict[str, Any], context: Context | None, limiter: trio.CapacityLimiter
    ) -> list[ResourceContents]:
        """Call the function with the URI's variables and return the contents it produced."""
        value = await self.spec.call(kwargs, context, limiter)
        return contents_of(uri, value, self.mime_type)


class Resource(_ResourceBase):
    """A resource at a fixed URI. Built by :meth:`trimcp.Server.resource`."""

    def __init__(self, uri: str, fn: Callable[..., Any], *, size: int | None = None, **options: Any) -> None:
        super().__init__(fn, **options)
        if self.spec.parameters:
            raise TypeError(f"resource {uri!r} has no URI variables, so its function can take only a Context")
        self.uri = uri
        self.size = size

    def definition(self, version: str | None) -> dict[str, Any]:
        head: dict[str, Any] = {"uri": self.uri, "name": self.name}
        if self.size is not None:
            head["size"] = self.size
        return self._describe(head, version)


class ResourceTemplate(_ResourceBase):
    """Resources whose URIs match a template. Built by :meth:`trimcp.Server.resource`."""

    def __init__(self, uri_template: str, fn: Callable[..., Any], **options: Any) -> None:
        super().__init__(fn, **options)
        self.uri_template = UriTemplate(uri_template)
        unknown = set(self.spec.parameters) - set(self.uri_template.variables)
        if unknown:
            raise TypeError(f"resource template {uri_template!r}: parameters {sorted(unknown)} are not in the URI")

    def definition(self, version: str | None) -> dict[str, Any]:
        return self._describe({"uriTemplate": self.uri_template.template, "name": self.name}, version)

    def match(self, uri: str) -> dict[str, Any] | None:
        """Keyword arguments for the function when ``uri`` matches (converted to the parameter
        types), or ``None``. Raises ``ValueError`` when a value does not fit its parameter."""
        values = self.uri_template.match(uri)
        if values is None:
            return None
        properties = self.spec.input_schema["properties"]
        kwargs = {name: from_text(raw, properties[name]) for name, raw in values.items() if name in properties}
        error = self.spec.validator.first_error(kwargs)
        if error is not None:
            raise ValueError(error)
        return self.spec.convert(kwargs)


def contents_of(uri: str, value: Any, mime_type: str | None) -> list[ResourceContents]:
    """A resource function's return value as contents: text, bytes, contents objects, or JSON."""
    if isinstance(value, ResourceContents):
        return [value]
    if type(value) is list and value and all(isinstance(v, ResourceContents) for v in value):
        return value
    if type(value) is str:
        return [ResourceContents(uri, text=value, mime_type=mime_type or "text/plain")]
    if isinstance(value, (bytes, bytearray)):
        return [ResourceContents(uri, blob=bytes(value), mime_type=mime_type or "application/octet-stream")]
    return [ResourceContents(uri, text=json_text(value), mime_type=mime_type or "application/json")]
