// matrix: node,bun,deno,deno-npm — a node:http server (workerd has none)
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  concurrentRequestsKeepTheirSegments,
  type StartServer,
} from "../_serve_case.ts";

const startNodeHttp: StartServer = (handler) =>
  new Promise((resolve) => {
    const server = createServer(async (req, res) => {
      const url = `http://${req.headers.host}${req.url}`;
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === "string") headers.set(k, v);
      }
      const response = await handler(new Request(url, { headers }));
      res.writeHead(response.status, { "content-type": "text/plain" });
      res.end(await response.text());
    });
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });

Deno.test("node:http server: concurrent requests keep their segments through AsyncLocalStorage", async () => {
  await concurrentRequestsKeepTheirSegments(startNodeHttp);
});
