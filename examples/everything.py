"""The fixtures of the official MCP conformance suite (``@modelcontextprotocol/conformance``),
as a trimcp server: the ``test_*`` tools, the ``test://`` resources and template, the ``test_*``
prompts, and the 2026-07-28 fixtures (multi-round-trip tools and prompt, an ``x-mcp-header``
tool, a tool needing a capability the client may lack, list-changed triggers).

Serve it with ``trimcp serve examples/everything.py:server --transport streamable-http``; the
suite runs against ``http://127.0.0.1:8000/mcp``. ``tests/conformance/run.py`` does all of it.
"""

from __future__ import annotations

import base64
import json

import trio

import trimcp
from trimcp import Audio, Context, EmbeddedResource, Image, Message, ResourceContents, ToolError, ToolResult

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV_B64 = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
PNG = base64.b64decode(PNG_B64)
WAV = base64.b64decode(WAV_B64)

server = trimcp.Server("mcp-conformance-test-server", version="1.0.0")

EMPTY = {"type": "object", "properties": {}}

# ---------------------------------------------------------------- tools (the order matters: the suite
# calls the first one listed with no arguments)


@server.tool(description="Tests simple text content response", input_schema=EMPTY)
def test_simple_text() -> str:
    return "This is a simple text response for testing."


@server.tool(description="Tests image content response", input_schema=EMPTY)
def test_image_content() -> Image:
    return Image(PNG, "image/png")


@server.tool(description="Tests audio content response", input_schema=EMPTY)
def test_audio_content() -> Audio:
    return Audio(WAV, "audio/wav")


@server.tool(description="Tests embedded resource content response", input_schema=EMPTY)
def test_embedded_resource() -> EmbeddedResource:
    return EmbeddedResource(
        ResourceContents(
            "test://embedded-resource", text="This is an embedded resource content.", mime_type="text/plain"
        )
    )


@server.tool(description="Tests response with multiple content types (text, image, resource)", input_schema=EMPTY)
def test_multiple_content_types() -> ToolResult:
    return ToolResult(
        content=[
            "Multiple content types test:",
            Image(PNG, "image/png"),
            EmbeddedResource(
                ResourceContents(
                    "test://mixed-content-resource",
                    text=json.dumps({"test": "data", "value": 123}, separators=(",", ":")),
                    mime_type="application/json",
                )
            ),
        ]
    )


@server.tool(description="Tests tool that emits log messages during execution", input_schema=EMPTY)
async def test_tool_with_logging(ctx: Context) -> str:
    await ctx.info("Tool execution started")
    await trio.sleep(0.05)
    await ctx.info("Tool processing data")
    await trio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@server.tool(description="Tests tool that reports progress notifications", input_schema=EMPTY)
async def test_tool_with_progress(ctx: Context) -> str:
    await ctx.progress(0, 100, "Completed step 0 of 100")
    await trio.sleep(0.05)
    await ctx.progress(50, 100, "Completed step 50 of 100")
    await trio.sleep(0.05)
    await ctx.progress(100, 100, "Completed step 100 of 100")
    return "Progress complete"


@server.tool(description="Tests error response handling", input_schema=EMPTY)
def test_error_handling() -> str:
    raise ToolError("This tool intentionally returns an error for testing")


@server.tool(description="Tests SSE stream disconnection and client reconnection (SEP-1699)", input_schema=EMPTY)
async def test_reconnection() -> str:
    await trio.sleep(0.1)
    return "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."


@server.tool(
    description="Tests server-initiated sampling (LLM completion request)",
    input_schema={
        "type": "object",
        "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
        "required": ["prompt"],
    },
)
async def test_sampling(ctx: Context, prompt: str) -> str:
    result = await ctx.sample(prompt, max_tokens=100)
    return f"LLM response: {result.text}"


@server.tool(
    description="Tests server-initiated elicitation (user input request)",
    input_schema={
        "type": "object",
        "properties": {"message": {"type": "string", "description": "The message to show the user"}},
        "required": ["message"],
    },
)
async def test_elicitation(ctx: Context, message: str) -> str:
    answer = await ctx.elicit(
        message,
        {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        },
    )
    return f"User response: action={answer.action}, content={json.dumps(answer.content or {})}"


@server.tool(description="Tests elicitation with default values per SEP-1034", input_schema=EMPTY)
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    answer = await ctx.elicit(
        "Please review and update the form fields with defaults",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {
                    "type": "string",
                    "description": "User status",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "description": "Verification status", "default": True},
            },
            "required": [],
        },
    )
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content or {})}"


@server.tool(description="Tests elicitation with enum schema improvements per SEP-1330", input_schema=EMPTY)
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    answer = await ctx.elicit(
        "Please select options from the enum fields",
        {
            "type": "object",
            "properties": {
                "untitledSingle": {
                    "type": "string",
                    "description": "Select one option",
                    "enum": ["option1", "option2", "option3"],
                },
                "titledSingle": {
                    "type": "string",
                    "description": "Select one option with titles",
                    "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"},
                    ],
                },
                "legacyEnum": {
                    "type": "string",
                    "description": "Select one option (legacy)",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "description": "Select multiple options",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "description": "Select multiple options with titles",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {
                        "anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"},
                        ]
                    },
                },
            },
            "required": [],
        },
    )
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content or {})}"


JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@server.tool(
    description="Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
    input_schema=JSON_SCHEMA_2020_12,
)
def json_schema_2020_12_tool(
    name: str | None = None,
    address: dict | None = None,
    contactMethod: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> str:
    args = {
        k: v
        for k, v in {
            "name": name,
            "address": address,
            "contactMethod": contactMethod,
            "phone": phone,
            "email": email,
        }.items()
        if v is not None
    }
    return f"JSON Schema 2020-12 tool called with: {json.dumps(args)}"


@server.tool(
    description="Echoes a string argument that is mirrored into the Mcp-Param-Region header (SEP-2243)",
    input_schema={
        "type": "object",
        "properties": {"region": {"type": "string", "description": "Any string", "x-mcp-header": "Region"}},
        "required": ["region"],
    },
)
def test_custom_header(region: str) -> str:
    return f"region={region}"


# ---- 2026-07-28 diagnostic tools (server-stateless)


@server.tool(description="Requires the client's sampling capability (-32021 without it)", input_schema=EMPTY)
async def test_missing_capability(ctx: Context) -> str:
    result = await ctx.sample("capability probe", max_tokens=10)
    return f"Success: {result.text}"


@server.tool(description="Diagnostic tool validating response streams", input_schema=EMPTY)
async def test_streaming_elicitation(ctx: Context) -> str:
    await ctx.progress(50, 100)
    return "Streaming complete"


@server.tool(description="Diagnostic logging validator tool", input_schema=EMPTY)
async def test_logging_tool(ctx: Context) -> str:
    await ctx.info("Diagnostic trace logging activated")
    return "Logging evaluated"


@server.tool(description="Emits notifications/tools/list_changed to open listen streams", input_schema=EMPTY)
async def test_trigger_tool_change() -> str:
    server.notify_tools_changed()
    return "Mutation triggered"


@server.tool(description="Emits notifications/prompts/list_changed to open listen streams", input_schema=EMPTY)
async def test_trigger_prompt_change() -> str:
    server.notify_prompts_changed()
    return "Mutation triggered"


# ---- 2026-07-28 multi-round-trip tools (SEP-2322): the questions are named as the suite expects.

NAME_FORM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
OK_FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@server.tool(description="MRTR: returns InputRequiredResult with elicitation request", input_schema=EMPTY)
async def test_input_required_result_elicitation(ctx: Context) -> str:
    answer = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
    return f"Hello, {(answer.content or {}).get('name', 'unknown')}!"


@server.tool(description="MRTR: returns InputRequiredResult with sampling request", input_schema=EMPTY)
async def test_input_required_result_sampling(ctx: Context) -> str:
    result = await ctx.sample("What is the capital of France?", max_tokens=100, key="capital_question")
    return f"Sampling result: {result.text}"


@server.tool(description="MRTR: returns InputRequiredResult with roots/list request", input_schema=EMPTY)
async def test_input_required_result_list_roots(ctx: Context) -> str:
    roots = await ctx.list_roots(key="client_roots")
    return f"Found {len(roots)} root(s)"


@server.tool(description="MRTR: returns InputRequiredResult with requestState", input_schema=EMPTY)
async def test_input_required_result_request_state(ctx: Context) -> str:
    await ctx.elicit("Please confirm", OK_FORM, key="confirm")
    return "state-ok: requestState validated"


@server.tool(description="MRTR: returns InputRequiredResult with multiple input requests", input_schema=EMPTY)
async def test_input_required_result_multiple_inputs(ctx: Context) -> str:
    name, greeting, roots = await ctx.gather(
        ctx.elicit("What is your name?", NAME_FORM, key="user_name"),
        ctx.sample("Generate a greeting", max_tokens=50, key="greeting"),
        ctx.list_roots(key="client_roots"),
    )
    return f"Got {(name.content or {}).get('name')}, {greeting.text!r} and {len(roots)} root(s)"


@server.tool(description="MRTR: multi-round InputRequiredResult workflow", input_schema=EMPTY)
async def test_input_required_result_multi_round(ctx: Context) -> str:
    name = await ctx.elicit("Step 1: What is your name?", NAME_FORM, key="step1")
    color_form = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
    color = await ctx.elicit("Step 2: What is your favorite color?", color_form, key="step2")
    return f"Multi-round complete for {(name.content or {}).get('name')} who likes {(color.content or {}).get('color')}"


@server.tool(description="MRTR: HMAC-signed requestState integrity test", input_schema=EMPTY)
async def test_input_required_result_tampered_state(ctx: Context) -> str:
    await ctx.elicit("Please confirm", OK_FORM, key="confirm")
    return "integrity-ok: state verified"


@server.tool(description="MRTR: respects client capabilities in inputRequests", input_schema=EMPTY)
async def test_input_required_result_capabilities(ctx: Context) -> str:
    questions = []
    if "elicitation" in ctx.client_capabilities:
        form = {"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]}
        questions.append(ctx.elicit("Elicitation input", form, key="elicit_input"))
    if "sampling" in ctx.client_capabilities:
        questions.append(ctx.sample("Sample request", max_tokens=50, key="sample_input"))
    await ctx.gather(*questions)
    return "capabilities-ok"


# ---------------------------------------------------------------- the tasks extension's fixtures
# (a question asked in a task's first moments is a multi-round-trip round of its request, so the
# tools that ask inside a task wait a little first: docs/tasks.md)


@server.tool(description="Sync-only greeting")
def greet(name: str) -> str:
    return f"Hello, {name}!"


@server.tool(description="Sleeps for `seconds`, then answers; a task when the client allows", task_support="optional")
async def slow_compute(seconds: float, label: str = "") -> str:
    await trio.sleep(seconds)
    return f"computed {label or 'result'} after {seconds:g} s"


@server.tool(description="A task that ends with a tool execution error", task_support="required", input_schema=EMPTY)
async def failing_job() -> str:
    await trio.sleep(1)
    raise ToolError("the job failed, as it always does")


@server.tool(description="A task that ends with a JSON-RPC error", task_support="required", input_schema=EMPTY)
async def protocol_error_job() -> str:
    await trio.sleep(0.5)
    raise trimcp.RemoteProtocolError("the job broke the protocol", code=-32603)


CONFIRM_FORM = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}


@server.tool(description="Asks for confirmation inside its task", task_support="optional")
async def confirm_delete(ctx: Context, filename: str = "file.txt") -> str:
    await trio.sleep(0.2)
    answer = await ctx.elicit(f"Delete {filename}?", CONFIRM_FORM)
    confirmed = answer.action == "accept" and (answer.content or {}).get("confirm")
    return f"{filename} deleted" if confirmed else f"{filename} kept"


@server.tool(description="Asks two questions at once inside its task", task_support="optional", input_schema=EMPTY)
async def multi_input(ctx: Context) -> str:
    await trio.sleep(0.2)
    form = {"type": "object", "properties": {"value": {"type": "string"}}}
    first, second = await ctx.gather(ctx.elicit("First?", form), ctx.elicit("Second?", form))
    return f"got {first.action} and {second.action}"


@server.tool(description="Asks a name (MRTR), then runs as a task", task_support="required", input_schema=EMPTY)
async def test_tool_with_task(ctx: Context) -> str:
    answer = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
    await trio.sleep(0.5)
    return f"Hello from the task, {(answer.content or {}).get('name', 'unknown')}!"


# ---------------------------------------------------------------- resources (the first one listed is read)


@server.resource(
    "test://static-text",
    name="static-text",
    title="Static Text Resource",
    description="A static text resource for testing",
    mime_type="text/plain",
)
def static_text() -> str:
    return "This is the content of the static text resource."


@server.resource(
    "test://static-binary",
    name="static-binary",
    title="Static Binary Resource",
    description="A static binary resource (image) for testing",
    mime_type="image/png",
)
def static_binary() -> bytes:
    return PNG


@server.resource(
    "test://template/{id}/data",
    name="template",
    title="Resource Template",
    description="A resource template with parameter substitution",
    mime_type="application/json",
)
def template(id: str) -> ResourceContents:
    return ResourceContents(
        f"test://template/{id}/data",
        text=json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"}, separators=(",", ":")),
        mime_type="application/json",
    )


@server.resource(
    "test://watched-resource",
    name="watched-resource",
    title="Watched Resource",
    description="A resource that can be subscribed to",
    mime_type="text/plain",
)
def watched() -> str:
    return "Watched resource content"


# ---------------------------------------------------------------- prompts


@server.prompt(title="Simple Test Prompt", description="A simple prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@server.prompt(title="Prompt With Arguments", description="A prompt with required arguments")
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@server.completion(prompt="test_prompt_with_arguments", argument="arg1")
def complete_arg1(value: str) -> list[str]:
    return [v for v in ("paris", "park", "party", "test", "testing") if v.startswith(value)]


@server.prompt(title="Prompt With Embedded Resource", description="A prompt that includes an embedded resource")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
    return [
        Message(
            EmbeddedResource(
                ResourceContents(resourceUri, text="Embedded resource content for testing.", mime_type="text/plain")
            )
        ),
        Message("Please process the embedded resource above."),
    ]


@server.prompt(title="Prompt With Image", description="A prompt that includes image content")
def test_prompt_with_image() -> list[Message]:
    return [Message(Image(PNG, "image/png")), Message("Please analyze the image above.")]


@server.prompt(description="MRTR: prompt that requires elicitation input")
async def test_input_required_result_prompt(ctx: Context) -> str:
    form = {"type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}
    answer = await ctx.elicit("What context should the prompt use?", form, key="user_context")
    return f"Prompt with context: {(answer.content or {}).get('context')}"


#: The Streamable HTTP endpoint, for ``hypercorn --worker-class trio examples/everything.py:app``.
app = trimcp.asgi_app(server)
