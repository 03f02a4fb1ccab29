// Node-only: the daemon sender's default transport on Node writes its POSTs
// on kept-alive node:net sockets and reads the answers itself; real servers on
// 127.0.0.1 (node:http, and node:net ones that answer in the ways HTTP/1.x
// allows and in ways it does not).
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { daemonSender, type SendResult } from "../../mod.ts";

interface Raw {
  port: number;
  connections: number;
  close(): Promise<void>;
}

// A node:net server that hands each complete request (head and body) to
// `answer`, which writes whatever it likes on the socket.
async function rawServer(
  answer: (socket: Socket, request: string) => void,
): Promise<Raw> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let pending = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      pending += chunk;
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = +(/content-length: (\d+)/i.exec(pending)?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      const request = pending.slice(0, end + 4 + length);
      pending = pending.slice(end + 4 + length);
      answer(socket, request);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const JSON_OK = '{"UnprocessedTraceSegments":[]}';
const message = (r: SendResult) => r.ok ? "" : r.error.message;

Deno.test("the Node transport keeps one connection across batches and reads sized, chunked and bodiless answers", async () => {
  let mode = "sized";
  let connections = 0;
  const bodies: unknown[] = [];
  const server = createHttpServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => body += chunk);
    req.on("end", () => {
      bodies.push(JSON.parse(body));
      if (mode === "sized") {
        res.setHeader("content-type", "application/json");
        res.end(JSON_OK);
      } else if (mode === "chunked") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"UnprocessedTraceSegments":[{"Id":"a",');
        setTimeout(() => res.end('"ErrorCode":"ThrottledException"}]}'), 5);
      } else if (mode === "busy") {
        res.writeHead(503, {
          "retry-after": "3",
          "x-amzn-errortype": "ServiceUnavailable",
        });
        res.end("busy");
      } else {
        res.writeHead(204);
        res.end();
      }
    });
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const sender = daemonSender({ address: `127.0.0.1:${port}` });
    const docs = ['{"id":"a"}', '{"id":"é😀"}'];
    assert.deepEqual(await sender.send(docs), { ok: true });
    assert.deepEqual(bodies[0], { TraceSegmentDocuments: docs });
    mode = "chunked";
    assert.deepEqual(await sender.send(docs), {
      ok: true,
      unprocessed: [{
        index: 0,
        errorCode: "ThrottledException",
        retryable: true,
      }],
    });
    mode = "busy";
    const busy = await sender.send(docs);
    assert.ok(!busy.ok && busy.retryable && busy.retryAfterMs === 3000);
    assert.match(message(busy), /HTTP 503 \(ServiceUnavailable\)/);
    mode = "empty";
    assert.deepEqual(await sender.send(docs), { ok: true });
    mode = "sized";
    assert.deepEqual(await sender.send(docs), { ok: true });
    assert.equal(bodies.length, 5);
    assert.equal(connections, 1);
    // The idle connection is open but holds the process open no more: Node
    // lists no ref'd handle to the server, and the next batch reuses it.
    // deno-lint-ignore no-explicit-any
    const handles = (process as any)._getActiveHandles() as Socket[];
    assert.equal(handles.filter((h) => h.remotePort === port).length, 0);
    assert.deepEqual(await sender.send(docs), { ok: true });
    assert.equal(connections, 1);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("the Node transport reads answers however they arrive: byte by byte, after 100 Continue, with chunk extensions and trailers, or ended by the connection (HTTP/1.0)", async () => {
  let mode = "bytes";
  const server = await rawServer((socket) => {
    if (mode === "bytes") {
      const out = "HTTP/1.1 100 Continue\r\n\r\n" +
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
        '6;ext=1\r\n{"Unpr\r\n19\r\nocessedTraceSegments":[]}\r\n' +
        "0\r\nX-Trailer: y\r\n\r\n";
      let i = 0;
      const next = () => {
        if (i < out.length) socket.write(out[i++], () => setTimeout(next, 0));
      };
      next();
    } else {
      socket.end(
        `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n${JSON_OK}`,
      );
    }
  });
  try {
    const sender = daemonSender({ address: `127.0.0.1:${server.port}` });
    assert.deepEqual(await sender.send(["{}"]), { ok: true });
    assert.deepEqual(await sender.send(["{}"]), { ok: true });
    assert.equal(server.connections, 1);
    mode = "ended";
    assert.deepEqual(await sender.send(["{}"]), { ok: true });
    mode = "bytes";
    assert.deepEqual(await sender.send(["{}"]), { ok: true });
    // The HTTP/1.0 answer's connection was not kept.
    assert.equal(server.connections, 2);
  } finally {
    await server.close();
  }
});

Deno.test("a kept connection the server has closed is replaced: the batch goes again on a new one", async () => {
  let answered = 0;
  // Answers as if the connection stayed open, then closes it at once; what
  // arrives after that is not read (as a server that closed it would not).
  const closed = new WeakSet<Socket>();
  const server = await rawServer((socket) => {
    if (closed.has(socket)) return;
    closed.add(socket);
    answered++;
    socket.end(
      `HTTP/1.1 200 OK\r\nContent-Length: ${JSON_OK.length}\r\n\r\n${JSON_OK}`,
    );
  });
  try {
    const sender = daemonSender({ address: `127.0.0.1:${server.port}` });
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await sender.send(["{}"]), { ok: true });
    }
    assert.equal(answered, 5);
    assert.equal(server.connections, 5);
  } finally {
    await server.close();
  }
});

Deno.test("an answer that is not HTTP, one cut short, and an aborted send fail the batch as retryable", async () => {
  let mode = "garbage";
  const server = await rawServer((socket) => {
    if (mode === "garbage") socket.end("220 smtp ready\r\n\r\n");
    else if (mode === "cut") {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"Unpro');
    }
    // "silent": never answers.
  });
  try {
    const sender = daemonSender({ address: `127.0.0.1:${server.port}` });
    const garbage = await sender.send(["{}"]);
    assert.ok(!garbage.ok && garbage.retryable);
    assert.match(message(garbage), /Not an HTTP answer: 220 smtp ready/);
    mode = "cut";
    const cut = await sender.send(["{}"]);
    assert.ok(!cut.ok && cut.retryable);
    assert.match(message(cut), /socket hang up/);
    mode = "silent";
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("deadline")), 50);
    const aborted = await sender.send(["{}"], { signal: controller.signal });
    assert.ok(!aborted.ok && aborted.retryable);
    assert.match(message(aborted), /deadline/);
    mode = "garbage";
    assert.ok(!(await sender.send(["{}"])).ok);
  } finally {
    await server.close();
  }
});
