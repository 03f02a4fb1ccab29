// Real HTTP servers on 127.0.0.1 for the outgoing-call tests. One place to
// swap the implementation when the suites run on other runtimes.

/** A running test server. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The port. */
  port: number;
  /** Stops the server and waits until it has. */
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1 with a free port. */
export function serve(
  handler: (request: Request) => Response | Promise<Response>,
): TestServer {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: () => {},
  }, handler);
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close(): Promise<void> {
      controller.abort();
      await server.finished;
    },
  };
}

/**
 * A TCP server that reads each request and closes the connection without
 * answering, so clients see a connection reset / closed connection.
 */
export function resetServer(): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const done = (async () => {
    for await (const conn of listener) {
      try {
        await conn.read(new Uint8Array(4096));
      } catch {
        // The client may be gone already.
      }
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  })();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close(): Promise<void> {
      listener.close();
      await done.catch(() => {});
    },
  };
}
