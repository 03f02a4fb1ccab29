import {
  concurrentRequestsKeepTheirSegments,
  type StartServer,
} from "../_serve_case.ts";

interface BunServer {
  port: number;
  stop(closeActive?: boolean): Promise<void> | void;
}
const Bun = (globalThis as unknown as {
  Bun: {
    serve(options: {
      port: number;
      hostname: string;
      fetch(request: Request): Promise<Response>;
    }): BunServer;
  };
}).Bun;

const startBunServe: StartServer = (handler) => {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler });
  return Promise.resolve({
    url: `http://127.0.0.1:${server.port}/`,
    close: async () => {
      await server.stop(true);
    },
  });
};

Deno.test("Bun.serve: concurrent requests keep their segments through AsyncLocalStorage", async () => {
  await concurrentRequestsKeepTheirSegments(startBunServe);
});
