"""A watchdog for the event loop: an async function that blocks it (``time.sleep``, a CPU-bound
loop, a blocking client library) stalls every request of the process, silently. A Trio task
beats a few times per threshold; a thread notices when the beats stop and logs where the loop
is stuck, and logs again once it runs."""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback

import trio

logger = logging.getLogger("trimcp")

#: Frames of the blocked loop's stack shown in the warning (innermost last).
_FRAMES_SHOWN = 4


async def watch_event_loop(
    threshold_seconds: float, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Warn on the ``trimcp`` logger whenever the loop does not run for ``threshold_seconds``,
    naming the code it is stuck in. Runs until cancelled; owns one daemon thread, stopped on
    the way out. Raises ``ValueError`` for a threshold that is not positive."""
    if not threshold_seconds > 0:
        raise ValueError("threshold_seconds must be positive")
    interval = threshold_seconds / 4
    beat = [time.monotonic()]
    stop = threading.Event()
    loop_thread = threading.get_ident()
    watcher = threading.Thread(
        target=_watch, args=(beat, stop, loop_thread, threshold_seconds, interval), name="trimcp loop watchdog"
    )
    watcher.daemon = True
    watcher.start()
    try:
        task_status.started()
        while True:
            beat[0] = time.monotonic()
            await trio.sleep(interval)
    finally:
        stop.set()
        watcher.join(timeout=1.0)  # it wakes at once on ``stop``


def _watch(beat: list[float], stop: threading.Event, loop_thread: int, threshold: float, interval: float) -> None:
    blocked_since: float | None = None
    while not stop.wait(interval):
        last = beat[0]
        stalled = time.monotonic() - last
        if stalled >= threshold and blocked_since != last:
            blocked_since = last
            logger.warning(
                "The event loop has been blocked for %.1f s, so no request is served; it is running:\n%s"
                "A blocking call in async code stops the whole server: run it with trio.to_thread.run_sync.",
                stalled,
                _stack_of(loop_thread),
            )
        elif blocked_since is not None and last != blocked_since:
            logger.warning("The event loop runs again after being blocked for %.1f s", last - blocked_since)
            blocked_since = None


def _stack_of(thread_id: int) -> str:
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "  (its stack is not available)\n"
    return "".join(traceback.format_stack(frame)[-_FRAMES_SHOWN:])
