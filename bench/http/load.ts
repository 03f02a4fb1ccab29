// The load generator of the HTTP benchmark: autocannon (pinned in
// bench/package.json) in its own Node process, kept alive for the whole run so
// its start-up is paid once. scripts/bench_http.ts writes one JSON command per
// line to stdin and reads one JSON result per line from stdout:
//
//   {"url": "http://127.0.0.1:1234/text", "method": "GET", "seconds": 3, "connections": 20}
//   → {"requests": 51234, "seconds": 3.01, "p99": 2, "p50": 1, "errors": 0, "timeouts": 0, "non2xx": 0, "bytes": …}

import autocannon from "autocannon";
import httpParser from "http-parser-js";
import { createInterface } from "node:readline";
import process from "node:process";

/** The parts of autocannon's result used here. */
interface Result {
  requests: { total: number };
  duration: number;
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  throughput: { total: number };
}

interface Command {
  url: string;
  method?: "GET" | "HEAD";
  seconds: number;
  connections?: number;
}

// autocannon's response parser is not told which responses answer a HEAD
// request, so it waits for the body their Content-Length announces and the
// connection stalls. Its client sets the headers-complete callback on each
// parser instance; an accessor on the prototype wraps that callback so that
// it answers "skip the body" (as Node's own client does) during HEAD runs.
let head = false;
{
  const { HTTPParser } = httpParser as unknown as {
    HTTPParser: { prototype: object; kOnHeadersComplete: number };
  };
  const key = HTTPParser.kOnHeadersComplete;
  const own = new WeakMap<object, (info: unknown) => unknown>();
  Object.defineProperty(HTTPParser.prototype, key, {
    configurable: true,
    get(this: object) {
      const callback = own.get(this);
      if (!callback || !head) return callback;
      return (info: unknown) => {
        callback.call(this, info);
        return true;
      };
    },
    set(this: object, callback: (info: unknown) => unknown) {
      own.set(this, callback);
    },
  });
}

function run(cmd: Command): Promise<Record<string, number>> {
  head = cmd.method === "HEAD";
  return new Promise((resolve, reject) => {
    autocannon({
      url: cmd.url,
      method: cmd.method ?? "GET",
      duration: cmd.seconds,
      connections: cmd.connections ?? 20,
      pipelining: 1,
      timeout: 10,
    }, (error: Error | null, r: Result) => {
      if (error) return reject(error);
      resolve({
        requests: r.requests.total,
        seconds: r.duration,
        p50: r.latency.p50,
        p99: r.latency.p99,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        bytes: r.throughput.total,
      });
    });
  });
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  try {
    const result = await run(JSON.parse(line) as Command);
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e) }) + "\n");
  }
});
lines.on("close", () => process.exit(0));
process.stdout.write('{"ready":true}\n');
