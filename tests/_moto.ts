// Starts Python's moto_server (a local AWS emulator) on a free port, with a
// small recording proxy in front of it so tests can see the requests the
// AWS SDK really sent (headers included). Tests call `close()` at the end.
import { serve, type TestServer } from "./_server.ts";

/** One request that went through the proxy to moto. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** `X-Amz-Target` (JSON protocols) or the S3 path. */
  target: string | null;
  /** The `X-Amzn-Trace-Id` the emulator received. */
  traceHeader: string | null;
}

/** A running emulator behind the recording proxy. */
export interface Moto {
  /** The proxy's URL: point clients here. */
  url: string;
  /** Requests seen so far, in order. */
  requests: RecordedRequest[];
  /** Stops the proxy and the emulator. */
  close(): Promise<void>;
}

export const MOTO_HINT =
  "moto_server is needed for the AWS SDK tests: pip install 'moto[server]'";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts moto_server and waits until it answers.
 *
 * @param options `s3Id2`: add an `x-amz-id-2` header to S3 answers (moto
 * sends none), so the S3 `id_2` path can be checked; `command`: the
 * executable (default `moto_server`).
 */
export async function startMoto(
  options: { s3Id2?: boolean; command?: string } = {},
): Promise<Moto> {
  const port = freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(options.command ?? "moto_server", {
      args: ["-H", "127.0.0.1", "-p", String(port)],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (error) {
    throw new Error(`${MOTO_HINT} (${(error as Error).message})`);
  }
  const motoUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
  };
  let up = false;
  for (let i = 0; i < 300 && !up; i++) {
    try {
      const res = await fetch(`${motoUrl}/moto-api/`);
      await res.body?.cancel();
      up = true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (!up) {
    await stop();
    throw new Error(`moto_server did not answer on ${motoUrl}. ${MOTO_HINT}`);
  }
  const requests: RecordedRequest[] = [];
  let n = 0;
  const proxy: TestServer = await serve(async (req) => {
    const url = new URL(req.url);
    requests.push({
      method: req.method,
      path: url.pathname,
      target: req.headers.get("x-amz-target"),
      traceHeader: req.headers.get("x-amzn-trace-id"),
    });
    const headers = new Headers(req.headers);
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const upstream = await fetch(motoUrl + url.pathname + url.search, {
      method: req.method,
      headers,
      body: hasBody ? await req.arrayBuffer() : undefined,
      redirect: "manual",
    });
    const out = new Headers(upstream.headers);
    for (const h of ["connection", "transfer-encoding", "content-length"]) {
      out.delete(h);
    }
    const agent = (req.headers.get("x-amz-user-agent") ?? "") + " " +
      (req.headers.get("user-agent") ?? "");
    const isS3 = /\bapi\/s3#/.test(agent);
    if (options.s3Id2 && isS3) out.set("x-amz-id-2", `proxy-id2-${++n}`);
    const body = req.method === "HEAD" || upstream.status === 204 ||
        upstream.status === 304
      ? (await upstream.body?.cancel(), null)
      : await upstream.arrayBuffer();
    return new Response(body, { status: upstream.status, headers: out });
  });
  return {
    url: proxy.url,
    requests,
    async close(): Promise<void> {
      await proxy.close();
      await stop();
    },
  };
}
