import {
  concurrentRequestsKeepTheirSegments,
  type StartServer,
} from "../_serve_case.ts";

const startDenoServe: StartServer = (handler) =>
  new Promise((resolve) => {
    const server = Deno.serve({
      port: 0,
      hostname: "127.0.0.1",
      onListen: ({ port }) =>
        resolve({
          url: `http://127.0.0.1:${port}/`,
          close: () => server.shutdown(),
        }),
    }, handler);
  });

Deno.test("Deno.serve: concurrent requests keep their segments through AsyncLocalStorage", async () => {
  await concurrentRequestsKeepTheirSegments(startDenoServe);
});
