// matrix: deno,node,bun,deno-npm — workerd has no UDP sockets (tests/udp_workerd_test.ts checks the error there)
// udpSender with real UDP sockets: a receiving socket on 127.0.0.1 gets one
// datagram per document with the daemon header, over Deno's own sockets and
// over node:dgram (Deno's Node compatibility; Node and Bun run the same file
// in the npm matrix).
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { createBatcher } from "../mod.ts";
import { UDP_HEADER, type UdpRuntime, udpSender } from "../src/udp.ts";
import { makeDocuments, recordingSleep } from "./_documents.ts";
import { assertValidDocuments } from "./_schema.ts";

/** A receiving socket on 127.0.0.1 (node:dgram runs on Deno, Node and Bun). */
async function receiver(): Promise<{
  port: number;
  next(count: number): Promise<string[]>;
  close(): Promise<void>;
}> {
  const socket = dgram.createSocket("udp4");
  const received: string[] = [];
  let wake: (() => void) | undefined;
  socket.on("message", (message) => {
    received.push(new TextDecoder().decode(message));
    wake?.();
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    port: socket.address().port,
    async next(count: number): Promise<string[]> {
      while (received.length < count) {
        await new Promise<void>((resolve) => wake = resolve);
      }
      return received.splice(0, count);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function runtimes(): UdpRuntime[] {
  const list: UdpRuntime[] = [];
  const g = globalThis as {
    Deno?: { listenDatagram?: unknown };
    Bun?: unknown;
  };
  if (typeof g.Deno?.listenDatagram === "function") list.push("deno");
  if (g.Bun !== undefined) list.push("bun");
  list.push("node");
  return list;
}

for (const runtime of runtimes()) {
  Deno.test(`udpSender (${runtime} sockets) sends one datagram per document with the daemon header`, async () => {
    const udp = await receiver();
    const sender = udpSender({ address: `127.0.0.1:${udp.port}`, runtime });
    const docs = makeDocuments(5);
    const result = await sender.send(docs);
    const datagrams = await udp.next(5);
    await sender.close!();
    await udp.close();
    assert.deepEqual(result, { ok: true });
    for (const datagram of datagrams) {
      assert.ok(datagram.startsWith(UDP_HEADER));
    }
    const bodies = datagrams.map((d) => d.slice(UDP_HEADER.length)).sort();
    assert.deepEqual(bodies, [...docs].sort());
    assertValidDocuments(bodies);
  });
}

Deno.test("udpSender through the batcher delivers every document and closes its socket at shutdown", async () => {
  const udp = await receiver();
  const batcher = createBatcher({
    sender: udpSender({
      env: {
        AWS_XRAY_DAEMON_ADDRESS: `tcp:127.0.0.1:1 udp:127.0.0.1:${udp.port}`,
      },
    }),
  });
  const docs = makeDocuments(120);
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.shutdown();
  const datagrams = await udp.next(120);
  await udp.close();
  assert.deepEqual(result, { sent: 120, dropped: 0, remaining: 0 });
  assert.deepEqual(
    datagrams.map((d) => d.slice(UDP_HEADER.length)).sort(),
    [...docs].sort(),
  );
});

Deno.test("udpSender reports a datagram over 64 KB as a permanent rejection", async () => {
  const sent: Uint8Array[] = [];
  const sender = udpSender({
    transport: {
      send: (data) => {
        sent.push(data);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    },
  });
  const [small] = makeDocuments(1);
  const result = await sender.send([
    JSON.stringify({ pad: "x".repeat(70_000) }),
    small,
  ]);
  assert.equal(result.ok, true);
  assert.deepEqual(
    result.ok &&
      result.unprocessed?.map((u) => [u.index, u.errorCode, u.retryable]),
    [
      [0, "DatagramTooLarge", false],
    ],
  );
  assert.equal(sent.length, 1);
});

Deno.test("udpSender turns socket errors into a retryable result, retried by the batcher", async () => {
  let calls = 0;
  const got: string[] = [];
  const batcher = createBatcher({
    sender: udpSender({
      transport: {
        send: (data) => {
          if (calls++ === 0) return Promise.reject(new Error("ENOBUFS"));
          got.push(new TextDecoder().decode(data));
          return Promise.resolve();
        },
        close: () => Promise.resolve(),
      },
    }),
    sleep: recordingSleep([]),
  });
  const docs = makeDocuments(2);
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.shutdown();
  assert.deepEqual(result, { sent: 2, dropped: 0, remaining: 0 });
  assert.deepEqual(
    got.map((d) => d.slice(UDP_HEADER.length)).sort(),
    [...docs].sort(),
  );
});

Deno.test("udpSender() fails at construction where the socket API is missing or the address is bad", () => {
  // Ask for sockets of a runtime this is not (Bun has no Deno sockets, the others no Bun ones).
  const missing: UdpRuntime = "Bun" in globalThis ? "deno" : "bun";
  assert.throws(
    () => udpSender({ runtime: missing }),
    new TypeError(
      `Cannot create UDP sender as this runtime has no ${missing} UDP sockets: use daemonSender() or xrayApiSender() instead`,
    ),
  );
  assert.throws(() => udpSender({ address: "nope" }), RangeError);
  assert.throws(() => udpSender({ runtime: "java" as UdpRuntime }), TypeError);
});
