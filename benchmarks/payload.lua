-- wrk script for benchmarks/payloads.py: POST the body in $BENCH_BODY (a file) as a
-- 2026-07-28 request ($BENCH_METHOD, $BENCH_NAME for the routing headers) and check that every
-- answer is a 200 holding $BENCH_EXPECT.
local file = io.open(os.getenv("BENCH_BODY"), "rb")
local body = file:read("*a")
file:close()
local expected = os.getenv("BENCH_EXPECT")
local threads = {}

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2026-07-28"
wrk.headers["Mcp-Method"] = os.getenv("BENCH_METHOD")
wrk.headers["Mcp-Name"] = os.getenv("BENCH_NAME")

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
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
