"""Fuzz a live Streamable HTTP server (a real ``trimcp serve`` subprocess) over raw sockets.

Several workers (:mod:`tests.fuzz.http_worker`) share one server (:mod:`tests.fuzz.http_run`);
each keeps a keep-alive connection and one initialized session per handshake-era revision, and
sends cases from :mod:`tests.fuzz.http_cases`. Findings:

- ``deaths``: the server process exited (for a new signature, the cases in flight and the last
  ones finished are replayed one by one on fresh servers to find the one that kills it; the
  server is restarted and the run goes on);
- ``hangs``: no complete answer within the timeout (or a dirty case's connection not closed);
  a server that does not exit within 10 s of SIGTERM;
- ``lost``: a request with a valid id whose 2xx answer does not carry exactly one response
  with that id (``202`` included); a live session answered ``404``;
- ``5xx``: any 5xx status;
- ``errors``: a foreign Host/Origin that was not refused; a traceback in the server's log.

Relayed mode (``relayed=True``, :mod:`tests.fuzz.http_relayed`): two servers on one
redis-server, the sessions opened on one and their requests sent to the other.
"""

from __future__ import annotations

import attrs
import trio

from .findings import Report
from .http_cases import Case, Exchange
from .http_legacy import LegacyWorker
from .http_relayed import RelayedRun, RelayedWorker
from .http_run import Run
from .http_sessions import replant, send_case
from .http_worker import Worker
from .processes import RelayedServers, ServerProcess
from .rawhttp import Connection, HTTPResponse, Malformed


async def run_http(
    cases: int,
    seed: int,
    *,
    workers: int = 8,
    timeout: float = 10.0,
    extra_args: list[str] = (),  # type: ignore[assignment]
    relayed: bool = False,
    legacy_workers: int = 2,
) -> Report:
    """Send ``cases`` cases to a fresh server with ``workers`` concurrent connections; relayed:
    to two fresh servers on a fresh redis-server, ``legacy_workers`` of the workers through an
    HTTP+SSE session."""
    if relayed:
        run: Run = RelayedRun(cases, seed, timeout, RelayedServers(list(extra_args)))
    else:
        run = Run(cases, seed, timeout, ServerProcess(list(extra_args)))
    await run.server.start_http()
    try:
        async with trio.open_nursery() as nursery:
            for number in range(workers):
                nursery.start_soon(_worker(run, number, workers - legacy_workers).loop)
        if isinstance(run, RelayedRun) and run.server.alive:
            await run.check_relays_closed()
            await run.count_redis_xadds()
    finally:
        status = await run.stop()
        if status not in (0, -15, None) and run.report.counts["deaths"] == 0 and not run.server.killed:
            run.finding("deaths", f"exit status {status} at shutdown", b"", run.server.stderr()[-4000:])
        run.server.cleanup()
    return run.report


def _worker(run: Run, number: int, first_legacy: int) -> Worker:
    """Worker ``number`` of ``run``; in a relayed run, from ``first_legacy`` on, an HTTP+SSE one."""
    if not isinstance(run, RelayedRun):
        return Worker(run, number)
    return (LegacyWorker if number >= first_legacy else RelayedWorker)(run, number)


async def replay(
    data: bytes,
    *,
    timeout: float = 10.0,
    extra_args: list[str] = (),  # type: ignore[assignment]
    relayed: bool = False,
    sessions: dict[str, str] | None = None,
    to_owner: bool = False,
) -> tuple[list[HTTPResponse], str, bool]:
    """Send saved request bytes (the port in them rewritten) to a fresh server (relayed: to the
    front of two fresh servers, ``sessions`` re-opened on the owner): the responses, the
    servers' stderr, and whether they are still alive."""
    server = RelayedServers(list(extra_args)) if relayed else ServerProcess(list(extra_args))
    await server.start_http()
    held: list[Connection] = []
    try:
        exchanges = [Exchange("POST", b"", [], False, set())]
        case = Case("replay", data, exchanges, clean=False, sessions=sessions or {}, to_owner=to_owner)
        data = await replant(case, server, held)
        responses: list[HTTPResponse] = []
        with trio.move_on_after(timeout):
            try:
                port = server.owner_port if to_owner else server.port
                responses = await send_case(port, attrs.evolve(case, data=data), timeout)
            except (OSError, Malformed, trio.BrokenResourceError) as exc:
                print(f"connection: {exc!r}")
        await trio.sleep(0.5)
        return responses, server.stderr(), server.alive
    finally:
        for connection in held:
            await connection.close()
        await server.stop()
        server.cleanup()
