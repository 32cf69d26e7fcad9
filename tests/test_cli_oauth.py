"""``trimcp call --oauth`` as a real subprocess against a trimcp server protected by a real
authorization server (oidc-provider under node 22): the CLI registers itself, prints the
authorization URL and waits on its loopback redirect listener; the test plays the browser with
an HTTP client (the provider's interaction approves at once) up to that listener. The tokens
land in the user's cache directory, readable by the user only, and the next command needs no
login."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import trio

from .ports import free_port
from .test_auth_real import authorization_server
from .test_client_oauth_real import browse, protected

ROOT = Path(__file__).resolve().parents[1]
AUTHORIZE_PROMPT = "trimcp: to authorize, open this URL"


async def run_call(resource: str, cache: Path, browser: bool) -> tuple[int, str, str]:
    """``trimcp call RESOURCE whoami --oauth`` with ``cache`` as ``XDG_CACHE_HOME`` (and no
    real browser); when ``browser``, play the user's step once the URL is printed. Its exit
    status, stdout and stderr."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "BROWSER": "true", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "trimcp", "call", resource, "whoami", "--oauth", "--timeout", "20"]
    process = await trio.lowlevel.open_process(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = bytearray(), bytearray()
    try:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(collect, process.stdout, stdout)
                if browser:
                    url = await authorization_url(process.stderr, stderr)
                    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
                    callback = await trio.to_thread.run_sync(browse, url, redirect)
                    await trio.to_thread.run_sync(visit, callback)
                nursery.start_soon(collect, process.stderr, stderr)
            status = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return status, stdout.decode(), stderr.decode()


async def collect(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
    async for chunk in stream:
        into.extend(chunk)


async def authorization_url(stream: trio.abc.ReceiveStream, into: bytearray) -> str:
    """Read stderr until the line after the prompt (the URL) is complete."""
    async for chunk in stream:
        into.extend(chunk)
        lines = into.decode().splitlines(keepends=True)
        for index, line in enumerate(lines[:-1]):
            if line.startswith(AUTHORIZE_PROMPT) and lines[index + 1].endswith("\n"):
                return lines[index + 1].strip()
    raise AssertionError(f"no authorization URL printed: {into.decode()}")


def visit(url: str) -> None:
    """The browser arriving at the loopback redirect: the CLI's page says it is done."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        assert response.status == 200 and b"close this window" in response.read()
    finally:
        connection.close()


async def test_call_with_oauth_logs_in_once_and_keeps_the_tokens(tmp_path: Path) -> None:
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    async with authorization_server(resource, tmp_path / "oidc.log") as issuer, protected(issuer, port):
        status, stdout, stderr = await run_call(resource, tmp_path / "cache", browser=True)
        assert status == 0, stderr
        assert stdout.startswith("alice mcp")
        assert f"{issuer}/auth?" in stderr and "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in stderr
        tokens = tmp_path / "cache" / "trimcp" / "tokens.json"
        assert tokens.stat().st_mode & 0o777 == 0o600
        assert (tokens.parent.stat().st_mode & 0o777) == 0o700
        stored = json.loads(tokens.read_text())
        assert stored[f"tokens {resource}"]["issuer"] == issuer and f"client {issuer}" in stored

        status, stdout, stderr = await run_call(resource, tmp_path / "cache", browser=False)
        assert status == 0, stderr
        assert stdout.startswith("alice mcp") and AUTHORIZE_PROMPT not in stderr  # no second login
