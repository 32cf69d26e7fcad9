// The TypeScript SDK v1's WebSocketClientTransport against a trimcp server (tests/test_websocket_interop.py):
// lists the tools, calls count_slowly with progress, prints what it saw as one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";

const client = new Client({ name: "ts-websocket", version: "1.0.0" });
await client.connect(new WebSocketClientTransport(new URL(process.argv[2])));
const listed = await client.listTools();
const progress = [];
const result = await client.callTool(
  { name: "count_slowly", arguments: { steps: 3, delay: 0.01 } },
  undefined,
  { onprogress: (update) => progress.push(update.progress) },
);
console.log(JSON.stringify({ tools: listed.tools.map((tool) => tool.name), text: result.content[0].text, progress }));
await client.close();
