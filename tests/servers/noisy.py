"""A server whose tools write to stdout behind the protocol's back."""

import os
import subprocess
import sys

import trimcp

server = trimcp.Server("noisy")


@server.tool
def shout(text: str) -> str:
    print("stray print from a tool")
    sys.stdout.write("stray write\n")
    os.write(1, b"stray os.write to fd 1\n")
    subprocess.run(["echo", "stray output of a child process"], check=True)
    return text.upper()
