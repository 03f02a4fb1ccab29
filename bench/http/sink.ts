// The local sink of the HTTP and export benchmarks (runs on Node, in its own
// process): it stands in for the X-Ray daemon's TCP proxy, an OTLP collector
// and the daemon's UDP port, and counts what arrives.
//
//   node dist/http/sink.mjs [httpPort]
//
// Prints `sink <httpPort> <udpPort>` once listening. Routes:
//   POST /TraceSegments  PutTraceSegments body: counts documents (and, after
//                        `/__reset?ids=1`, their ids and the duplicates)
//   POST /v1/traces      OTLP/HTTP JSON: counts spans
//   GET  /__count        {documents, spans, datagrams, duplicates, requests}
//   GET  /__reset[?ids=1]  zeroes the counters
//   GET  /__down?ms=N    refuses connections for N ms (closes the listener and
//                        every open connection), then listens again
// UDP: every datagram is one aws-xray-sdk segment.

import { createServer, type IncomingMessage } from "node:http";
import { createSocket } from "node:dgram";
import process from "node:process";
import { Buffer } from "node:buffer";

let documents = 0;
let spans = 0;
let datagrams = 0;
let duplicates = 0;
let requests = 0;
let ids: Set<string> | undefined;

function count(): string {
  return JSON.stringify({
    documents,
    spans,
    datagrams,
    duplicates,
    requests,
    unique: ids?.size,
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const ID = /"id":"([0-9a-f]{16})"/;

const server = createServer(async (req, res) => {
  const url = req.url ?? "/";
  try {
    if (req.method === "POST") {
      const body = await readBody(req);
      requests++;
      if (url.startsWith("/TraceSegments")) {
        const list = JSON.parse(body).TraceSegmentDocuments as string[];
        documents += list.length;
        if (ids) {
          for (const doc of list) {
            const id = ID.exec(doc)?.[1] ?? doc;
            if (ids.has(id)) duplicates++;
            else ids.add(id);
          }
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"UnprocessedTraceSegments":[]}');
        return;
      }
      if (url.startsWith("/v1/traces")) {
        const otlp = JSON.parse(body) as {
          resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
        };
        for (const r of otlp.resourceSpans ?? []) {
          for (const s of r.scopeSpans ?? []) spans += s.spans?.length ?? 0;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
        return;
      }
    }
    if (url === "/__count") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(count());
      return;
    }
    if (url.startsWith("/__reset")) {
      documents =
        spans =
        datagrams =
        duplicates =
        requests =
          0;
      ids = url.includes("ids=1") ? new Set() : undefined;
      res.end("ok");
      return;
    }
    if (url.startsWith("/__down")) {
      const ms = Number(new URL(url, "http://sink").searchParams.get("ms"));
      res.setHeader("connection", "close");
      res.end("down", () => {
        const port = (server.address() as { port: number }).port;
        server.close();
        server.closeAllConnections();
        setTimeout(() => server.listen(port, "127.0.0.1"), ms);
      });
      return;
    }
    res.writeHead(404);
    res.end();
  } catch (e) {
    res.writeHead(400);
    res.end(String(e));
  }
});

const udp = createSocket("udp4");
udp.on("message", () => {
  datagrams++;
});

const wanted = Number(process.argv[2] ?? 0);
udp.bind(0, "127.0.0.1", () => {
  server.listen(wanted, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port;
    console.log(`sink ${port} ${udp.address().port}`);
  });
});
