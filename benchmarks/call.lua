-- wrk script: POST tools/call add(1, 2) (or initialize) and check that every answer is right.
-- Environment: MCP_SESSION (handshake era) or MCP_ERA=2026-07-28 (per-request envelope);
-- MCP_BENCH=initialize posts handshakes instead (each a new session); MCP_STREAMED=1 calls
-- add_streamed with a progress token (one progress event first: the answer streams as SSE).
local session = os.getenv("MCP_SESSION")
local modern = os.getenv("MCP_ERA") == "2026-07-28"
local handshakes = os.getenv("MCP_BENCH") == "initialize"
local streamed = os.getenv("MCP_STREAMED") == "1"
local tool = streamed and "add_streamed" or "add"
local progress = streamed and '"progressToken":1,' or ""
local expected = handshakes and '"protocolVersion"' or '"result":3'
local threads = {}

-- every request gets its own id: ids in flight at once must differ within a session
local template
if handshakes then
  template = '{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    .. '"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
elseif modern then
  template = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"a":1,"b":2},'
    .. '"_meta":{' .. progress .. '"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
    .. '"io.modelcontextprotocol/clientCapabilities":{}}}}'
elseif streamed then
  template = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"' .. tool .. '","arguments":{"a":1,"b":2},'
    .. '"_meta":{' .. progress:sub(1, -2) .. '}}}'
else
  template = '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if modern then
  wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
  wrk.headers["Mcp-Method"] = "tools/call"
  wrk.headers["Mcp-Name"] = tool
elseif session then
  wrk.headers["Mcp-Session-Id"] = session
  wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
  counter = 0
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format(template, counter))
end

function response(status, headers, answer)
  if status ~= 200 or not string.find(answer, expected, 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("failures")
  end
  io.write(string.format("RESULT %d %d %.1f %.1f %d\n", summary.requests, failed,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
