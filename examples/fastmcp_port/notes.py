"""A FastMCP-style server with a lifespan and middleware, ported to trimcp: a notes store whose
SQLite database is opened once and shared by every tool, resource and prompt, a timing
middleware around every request, and a guard around every tool call.
docs/migrating-from-fastmcp.md compares the two.

Serve it::

    trimcp serve examples/fastmcp_port/notes.py:server --transport streamable-http
    NOTES_DB=/tmp/notes.sqlite3 trimcp serve examples/fastmcp_port/notes.py:server   # kept on disk
    trimcp call examples/fastmcp_port/notes.py:server add_note title=milk body="2 litres"

The FastMCP shape it replaces (an outline, not FastMCP's own code)::

    @lifespan                                  # from fastmcp.server.lifespan
    async def app_lifespan(server):
        conn = sqlite3.connect(":memory:")
        try:
            yield {"db": conn}                 # a dict: the "lifespan context"
        finally:
            conn.close()

    mcp = FastMCP("notes", lifespan=app_lifespan)

    class Timing(Middleware):                  # a class; one hook per kind of message
        async def on_request(self, context, call_next): ...   # time `await call_next(context)`

    class Guard(Middleware):
        async def on_call_tool(self, context, call_next): ... # look at context.message.arguments

    mcp.add_middleware(Timing())
    mcp.add_middleware(Guard())

    @mcp.tool
    def add_note(title: str, body: str, ctx: Context) -> dict:
        db = ctx.lifespan_context["db"]        # or a parameter defaulting to Depends(get_db)
        ...

In trimcp the lifespan yields a typed object and every parameter annotated with that type
receives it (no dict, no Depends); middleware are plain functions given the call and `proceed`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import trio

import trimcp
from trimcp import Context, Message, ResourceNotFoundError, ToolError

log = logging.getLogger("notes")

#: The guard refuses a tool call with a text argument longer than this.
MAX_TEXT = 2000


@dataclass
class Note:
    id: int
    title: str
    body: str


class NotesDB:
    """One SQLite connection, shared by every request.

    Sync tools, resources and prompts run in trimcp's worker threads, not on the event loop, so
    the connection may be used from any of them (``check_same_thread=False``), one at a time
    (the lock).
    """

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._connection = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._connection:
            self._connection.execute(
                "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)"
            )

    def add(self, title: str, body: str) -> Note:
        with self._lock, self._connection:
            cursor = self._connection.execute("INSERT INTO notes (title, body) VALUES (?, ?)", (title, body))
        return Note(int(cursor.lastrowid or 0), title, body)

    def get(self, note_id: int) -> Note | None:
        with self._lock:
            row = self._connection.execute("SELECT id, title, body FROM notes WHERE id = ?", (note_id,)).fetchone()
        return Note(*row) if row else None

    def search(self, text: str) -> list[Note]:
        pattern = f"%{text}%"
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, title, body FROM notes WHERE title LIKE ? OR body LIKE ? ORDER BY id", (pattern, pattern)
            ).fetchall()
        return [Note(*row) for row in rows]

    def recent(self, limit: int = 10) -> list[Note]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT id, title, body FROM notes ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [Note(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()


# -- the lifespan: entered once before the first request, exited after the last ----------------


@asynccontextmanager
async def lifespan(server: trimcp.Server) -> AsyncIterator[NotesDB]:
    path = os.environ.get("NOTES_DB", ":memory:")
    db = await trio.to_thread.run_sync(NotesDB, path)  # opening a file may block: not on the loop
    log.info("opened the notes database %s", path)
    try:
        yield db  # its type, NotesDB, is what tools ask for below
    finally:
        db.close()  # no await here: at shutdown this may run in a cancelled scope
        log.info("closed the notes database %s", path)


server = trimcp.Server(
    "notes",
    version="1.0.0",
    instructions="A notes store: add_note, search_notes; read notes://recent or notes://{id}.",
    lifespan=lifespan,
)


# -- middleware ---------------------------------------------------------------------------------


@server.middleware
async def timing(call: trimcp.RequestCall, proceed: Any) -> dict[str, Any]:
    """Log how long every request took (cancelled ones too: the `finally` runs)."""
    started = trio.current_time()
    try:
        return await proceed(call)
    finally:
        what = " ".join(filter(None, [call.method, call.params.get("name") or call.params.get("uri")]))
        log.info("%s took %.1f ms", what, (trio.current_time() - started) * 1000)


@server.tool_middleware
async def guard(call: trimcp.ToolCall, proceed: Any) -> dict[str, Any]:
    """Refuse oversized text before the tool runs; tidy titles (arguments are validated after)."""
    for name, value in call.arguments.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ToolError(f"{name} is longer than {MAX_TEXT} characters")  # an isError result
    if isinstance(call.arguments.get("title"), str):
        call.arguments = {**call.arguments, "title": call.arguments["title"].strip()}
    return await proceed(call)


# -- tools, resources, a prompt: each asks for the database by its type ---------------------------


@server.tool
def add_note(db: NotesDB, title: str, body: str) -> Note:
    """Store a note; returns it with its id."""
    if not title:
        raise ToolError("a note needs a title")
    return db.add(title, body)


@server.tool(annotations={"readOnlyHint": True})
async def search_notes(db: NotesDB, ctx: Context, text: str) -> list[Note]:
    """Notes whose title or body contains `text`."""
    await ctx.info(f"searching the notes for {text!r}")
    return await trio.to_thread.run_sync(db.search, text)  # blocking work from async code: a thread


@server.resource("notes://recent", mime_type="application/json")
def recent_notes(db: NotesDB) -> list[dict[str, Any]]:
    """The ten latest notes."""
    return [asdict(note) for note in db.recent()]


@server.resource("notes://{note_id}", mime_type="application/json")
def note(db: NotesDB, note_id: int) -> dict[str, Any]:
    """One note by id."""
    found = db.get(note_id)
    if found is None:
        raise ResourceNotFoundError(f"notes://{note_id}")
    return asdict(found)


@server.prompt
def review(db: NotesDB, topic: str) -> list[Message]:
    """Ask the model to review what the notes say about a topic."""
    listing = "\n".join(f"- {n.title}: {n.body}" for n in db.search(topic)) or "(no notes)"
    return [Message(f"My notes about {topic}:\n{listing}\n\nWhat is missing or contradictory?")]


if __name__ == "__main__":
    trio.run(trimcp.serve_stdio, server)
