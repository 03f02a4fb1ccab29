// A MongoDB server stand-in for the tests: the MongoDB organisation's own
// `mongodb-mock-server` (npm), on 127.0.0.1 at an ephemeral port, answering
// the real `mongodb` driver. No MongoDB server installs on these machines.
//
// How it fits the driver: the mock speaks the legacy OP_QUERY / OP_REPLY
// protocol only; its hello reply carries `__nodejs_mock_server__: true`, which
// makes the driver (4.x to 7.x) send commands as OP_QUERY instead of OP_MSG.
// Command monitoring is the same on both paths.
//
// How it is loaded: through require() at run time (never bundled by the
// matrix), from the repository's node_modules. Its `snappy` dependency is a
// native addon for compressed messages, which no test negotiates and which is
// not built here (no install scripts run): an empty module stands in for it
// in the require cache before the mock loads.
import { createRequire } from "node:module";
import process from "node:process";
import { pathToFileURL } from "node:url";

/** One request the mock received. */
export interface MockRequest {
  /** The command document. */
  document: Record<string, unknown>;
  /** Sends a reply document. */
  reply(document: Record<string, unknown>): void;
}

/** A running mock server. */
export interface MockServer {
  /** The port it listens on. */
  port: number;
  /** `mongodb://127.0.0.1:<port>/<database>?directConnection=true` */
  url(database: string): string;
  /** Stops the server and cuts its connections. */
  close(): Promise<void>;
}

interface MockModule {
  createServer(port: number, host: string): Promise<{
    port: number;
    setMessageHandler(handler: (request: MockRequest) => void): void;
    destroy(): Promise<void>;
  }>;
  DEFAULT_ISMASTER: Record<string, unknown>;
}

let loaded: { mock: MockModule; long0: unknown } | undefined;

function load(): { mock: MockModule; long0: unknown } {
  if (loaded) return loaded;
  // The working directory is the repository (deno test) or a folder inside
  // it (the matrix runs from .matrix/): resolution walks up to node_modules.
  const require = createRequire(
    pathToFileURL(`${process.cwd()}/_mongo_mock.cjs`),
  );
  const mockPath = require.resolve("mongodb-mock-server");
  const mockRequire = createRequire(mockPath);
  const snappyPath = mockRequire.resolve("snappy");
  const cache = require.cache as Record<string, unknown>;
  cache[snappyPath] ??= {
    id: snappyPath,
    filename: snappyPath,
    loaded: true,
    exports: {},
  };
  const mock = require(mockPath) as MockModule;
  // Cursor ids are int64 on the wire: the mock's own BSON library writes them.
  const { Long } = mockRequire("bson") as { Long: { ZERO: unknown } };
  return loaded = { mock, long0: Long.ZERO };
}

/** The empty cursor id (int64 0), as the mock's BSON library writes it. */
export function cursorIdZero(): unknown {
  return load().long0;
}

/**
 * Starts a mock server. `handler` answers every command except the
 * handshake (`ismaster` / `hello`), which gets a MongoDB 7.0-like reply.
 */
export async function startMockServer(
  handler: (request: MockRequest) => void,
): Promise<MockServer> {
  const { mock } = load();
  const server = await mock.createServer(0, "127.0.0.1");
  server.setMessageHandler((request) => {
    const doc = request.document;
    if (doc.ismaster || doc.isMaster || doc.hello) {
      request.reply({
        ...mock.DEFAULT_ISMASTER,
        localTime: new Date(),
        maxWireVersion: 21,
        minWireVersion: 0,
        helloOk: true,
        logicalSessionTimeoutMinutes: 30,
      });
      return;
    }
    handler(request);
  });
  return {
    port: server.port,
    url: (database) =>
      `mongodb://127.0.0.1:${server.port}/${database}?directConnection=true`,
    close: () => server.destroy(),
  };
}
