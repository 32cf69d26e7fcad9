"""trimcp.HTTPConfig: one immutable object for every HTTP setting, and the command line's
defaults taken from it."""

from __future__ import annotations

import attrs
import pytest
import trio

import trimcp
from trimcp._cli import _parser


def test_paths_are_normalised_and_lists_become_tuples() -> None:
    config = trimcp.HTTPConfig(path="/mcp/", sse_path="/", allowed_hosts=["a.example"], cors_origins=["http://x"])
    assert (config.path, config.sse_path) == ("/mcp", "/")
    assert config.allowed_hosts == ("a.example",) and config.cors_origins == ("http://x",)
    assert trimcp.HTTPConfig(path=None).path is None


@pytest.mark.parametrize(
    "bad",
    [
        {"port": 70000},
        {"port": -1},
        {"backlog": 0},
        {"max_body_bytes": 0},
        {"max_sessions": 0},
        {"session_idle_timeout_seconds": 0},
        {"graceful_timeout_seconds": -1},
        {"read_timeout_seconds": 0},
        {"retry_ms": -5},
    ],
)
def test_impossible_values_are_refused_when_built(bad: dict) -> None:
    with pytest.raises(ValueError):
        trimcp.HTTPConfig(**bad)


def test_a_bare_string_where_a_list_belongs_is_refused() -> None:
    with pytest.raises(TypeError, match="list of strings"):
        trimcp.HTTPConfig(allowed_hosts="localhost")  # type: ignore[arg-type]


def test_it_is_immutable_and_evolve_checks_names() -> None:
    config = trimcp.HTTPConfig()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]
    assert config.evolve(port=0).port == 0 and config.port == 8000
    with pytest.raises(TypeError):
        config.evolve(max_body_size=1)


def test_the_hypercorn_configuration_carries_the_listening_settings() -> None:
    config = trimcp.HTTPConfig(
        host="::1",
        port=0,
        backlog=7,
        graceful_timeout_seconds=1.5,
        keep_alive_timeout_seconds=9,
        read_timeout_seconds=3,
    ).hypercorn_config()
    assert config.bind == ["[::1]:0"]
    assert (config.backlog, config.graceful_timeout, config.keep_alive_timeout, config.read_timeout) == (7, 1.5, 9, 3)
    assert config.accesslog is None


def test_asgi_app_takes_the_same_names() -> None:
    app = trimcp.asgi_app(trimcp.Server("s"), trimcp.HTTPConfig(max_sessions=3), json_response=True)
    assert app.config.max_sessions == 3 and app.config.json_response
    with pytest.raises(TypeError):
        trimcp.asgi_app(trimcp.Server("s"), max_body_size=10)


async def test_serve_http_refuses_app_settings_for_an_app_built_already() -> None:
    app = trimcp.asgi_app(trimcp.Server("s"))
    with pytest.raises(TypeError, match="json_response configure the app"):
        with trio.fail_after(5):
            await trimcp.serve_http(app, port=0, json_response=True, handle_signals=False)


def test_the_command_line_defaults_are_the_configuration_defaults() -> None:
    args = vars(_parser().parse_args(["serve", "m:s", "--transport", "streamable-http"]))
    defaults = attrs.asdict(trimcp.HTTPConfig())
    flags = ["host", "port", "path", "messages_path", "backlog", "max_sessions", "max_body_bytes",
             "session_idle_timeout_seconds", "keep_alive_timeout_seconds"]  # fmt: skip
    assert {name: args[name] for name in flags} == {name: defaults[name] for name in flags}


def test_an_unauthenticated_endpoint_beyond_loopback_is_warned_about() -> None:
    from trimcp._transports.http.serve import exposure_warning

    plain = trimcp.HTTPConfig()
    assert exposure_warning("127.0.0.1", plain) is None and exposure_warning("::1", plain) is None
    assert exposure_warning("localhost", plain) is None
    warning = exposure_warning("0.0.0.0", plain)
    assert warning is not None and "without authentication" in warning
    verifier = trimcp.APIKeyVerifier({})
    protected = plain.evolve(auth=trimcp.AuthConfig(verifier=verifier, resource_url="https://x/mcp"))
    assert exposure_warning("0.0.0.0", protected) is None


def test_every_serve_flag_takes_its_default_from_the_environment() -> None:
    import argparse

    from trimcp._cli import defaults_from_environment

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--allow-host", action="append", dest="allowed_hosts")
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    environ = {"TRIMCP_PORT": "9001", "TRIMCP_JSON_RESPONSE": "true", "TRIMCP_ALLOW_HOST": "a.example, b.example",
               "TRIMCP_TRANSPORT": "streamable-http"}  # fmt: skip
    defaults_from_environment(parser, environ)
    args = parser.parse_args([])
    assert (args.port, args.json_response, args.allowed_hosts, args.transport) == (
        9001, True, ["a.example", "b.example"], "streamable-http"
    )  # fmt: skip
    assert parser.parse_args(["--port", "7"]).port == 7  # the command line wins
    for bad in ({"TRIMCP_PORT": "eighty"}, {"TRIMCP_TRANSPORT": "carrier-pigeon"}):
        with pytest.raises(SystemExit):
            defaults_from_environment(argparse.ArgumentParser(parents=[parser], add_help=False), bad)
