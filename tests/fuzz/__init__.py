"""The fuzz harness: seeded generators and oracles for the sans-IO protocol core, a live
Streamable HTTP server over raw sockets (both protocol eras), and live stdio servers.

Quick mode (fixed seed, about a minute): ``pytest tests/fuzz``. Long mode:
``python -m tests.fuzz <target> --cases N --seed S`` (see ``tests/fuzz/README.md``).
"""
