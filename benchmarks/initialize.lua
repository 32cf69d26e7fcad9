-- wrk script: handshakes. Each request is an initialize (a new session); answers are checked.
local threads = {}
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
  .. '"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
end

function response(status, headers, answer)
  if status ~= 200 or not string.find(answer, '"protocolVersion"', 1, true) then
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
