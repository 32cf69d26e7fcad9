"""``trimcp serve``: finding the server, and clear messages when it cannot."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import trimcp
from trimcp._cli import _parser, load_server

from .conftest import ROOT


def test_load_server_by_path_module_and_default_name() -> None:
    assert load_server("examples/demo.py:server").name == "trimcp-demo"
    assert load_server("tests.servers.noisy:server").name == "noisy"
    assert isinstance(load_server("tests.servers.noisy"), trimcp.Server)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_anywhere:server", "cannot import 'no_such_module_anywhere'"),
        ("tests.servers.noisy:nothing", "no trimcp.Server named nothing"),
        ("tests.servers.noisy:subprocess", "is a module, not a trimcp.Server"),
    ],
)
def test_bad_targets_exit_with_a_message(target: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trimcp", "serve", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""


# -- the client commands ---------------------------------------------------------------------------


def run_trimcp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trimcp", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


async def test_call_prints_each_progress_notification_as_it_arrives() -> None:
    import trio

    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trimcp", "call", "examples/demo.py:server", "count_slowly", "steps=3", "delay=0.4"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    arrivals: list[tuple[float, str]] = []
    buffered = b""
    with trio.fail_after(30):
        while chunk := await process.stderr.receive_some():
            buffered += chunk
            while b"\n" in buffered:
                line, _, buffered = buffered.partition(b"\n")
                arrivals.append((trio.current_time(), line.decode()))
        output = b""
        while chunk := await process.stdout.receive_some():
            output += chunk
        assert await process.wait() == 0
    progress = [(at, line) for at, line in arrivals if line.startswith("progress")]
    assert [line for _, line in progress] == [f"progress {n}/3: counted to {n}" for n in (1, 2, 3)]
    assert progress[1][0] - progress[0][0] > 0.25, "each line is printed when its notification arrives"
    assert "log [info]: step 1 of 3" in [line for _, line in arrivals]
    assert output.decode().strip() == "counted to 3"


def test_call_with_typed_arguments_and_json_output() -> None:
    result = run_trimcp("call", "examples/demo.py:server", "divide", "dividend=7", "divisor=2", "--json")
    assert result.returncode == 0, result.stderr
    assert '"structuredContent"' in result.stdout and '"quotient": 3' in result.stdout
    failed = run_trimcp("call", "examples/demo.py:server", "divide", "dividend=1", "divisor=0")
    assert failed.returncode == 1 and "cannot divide by zero" in failed.stdout


def test_list_and_inspect_a_stdio_server() -> None:
    command = f"{sys.executable} -m trimcp serve examples/demo.py:server"
    listed = run_trimcp("list", command)
    assert listed.returncode == 0, listed.stderr
    assert "count_slowly: Count to `steps`, reporting progress and logging each step." in listed.stdout.splitlines()
    resources = run_trimcp("list", command, "resources")
    assert "readme (demo://readme): " not in resources.stdout and "demo://readme" in resources.stdout
    inspected = run_trimcp("inspect", command, "--protocol-version", "2025-11-25")
    assert inspected.returncode == 0, inspected.stderr
    lines = inspected.stdout.splitlines()
    assert "transport: stdio" in lines and "era: handshake" in lines and "protocolVersion: 2025-11-25" in lines
    assert any(line.startswith("serverInfo: ") and "trimcp-demo" in line for line in lines)


def test_read_a_resource_and_get_a_prompt_over_stdio_and_in_process() -> None:
    for target in ("examples/demo.py:server", f"{sys.executable} -m trimcp serve examples/demo.py:server"):
        read = run_trimcp("read", target, "demo://greeting/Ada")
        assert (read.returncode, read.stdout) == (0, "Hello, Ada!\n"), read.stderr
        prompt = run_trimcp("prompt", target, "review_code", "code=pass")
        assert prompt.returncode == 0, prompt.stderr
        assert prompt.stdout.splitlines()[0] == "user: Please give a brief review of this code:"
        assert "assistant: Sure, let me read it." in prompt.stdout.splitlines()
    missing = run_trimcp("read", "examples/demo.py:server", "demo://nowhere")
    assert missing.returncode == 2 and missing.stderr.startswith("trimcp read: ")


def test_client_errors_are_one_line_and_exit_2() -> None:
    result = run_trimcp("list", "http://127.0.0.1:9/mcp")
    assert result.returncode == 2
    assert result.stderr.startswith("trimcp list: cannot connect to http://127.0.0.1:9/mcp")
    assert "Traceback" not in result.stderr


def test_call_follows_a_task() -> None:
    # failing_job runs only as a task: it reaches the tool only through the tasks extension
    result = run_trimcp("call", "examples/everything.py:server", "failing_job")
    assert result.returncode == 1 and "the job failed, as it always does" in result.stdout, result.stderr
    result = run_trimcp("call", "examples/everything.py:server", "slow_compute", "seconds=1", "label=cli")
    assert result.returncode == 0 and result.stdout.strip() == "computed cli after 1 s", result.stderr


def test_an_import_error_names_its_type_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("settings = {}\nport = settings['port']\n")
    result = run_trimcp("serve", f"{broken}:server")
    assert result.returncode == 1
    assert result.stderr.strip() == f"trimcp: cannot import {str(broken)!r}: {broken}:2: KeyError: 'port'"


def test_every_serve_flag_and_its_variable_are_in_the_documented_table() -> None:
    table = (ROOT / "docs" / "observability.md").read_text()
    serve = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    flags = [a.option_strings for a in serve._actions if a.dest != "help" and a.option_strings]
    for options in flags:
        flag = next(option for option in options if option.startswith("--"))
        variable = "TRIMCP_" + flag[2:].upper().replace("-", "_")
        assert f"| `{variable}` | `{flag}` |" in table, f"{variable} ({flag}) is not in docs/observability.md"
