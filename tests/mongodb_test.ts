// matrix: deno,node,bun,deno-npm — mongodb-mock-server listens with node:net and loads through require() from node_modules, neither of which workerd has
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { MongoClient, MongoServerError } from "mongodb";
import type { Entity } from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import { traceMongoClient } from "../src/mongodb.ts";
import { testTracer } from "./_helpers.ts";
import {
  cursorIdZero,
  type MockRequest,
  type MockServer,
  startMockServer,
} from "./_mongo_mock.ts";

const SECRET = "hunter2-do-not-record";

/** Answers find, insert, createUser and endSessions like a small server. */
function shopHandler(request: MockRequest): void {
  const doc = request.document;
  if (doc.find === "broken") {
    request.reply({
      ok: 0,
      code: 13,
      codeName: "Unauthorized",
      errmsg: 'not authorized on shop to execute command { find: "broken" }',
    });
  } else if (typeof doc.find === "string") {
    request.reply({
      ok: 1,
      cursor: {
        id: cursorIdZero(),
        ns: `shop.${doc.find}`,
        firstBatch: [{ _id: 1, sku: "tea", filter: doc.filter }],
      },
    });
  } else if (typeof doc.insert === "string") {
    request.reply({ ok: 1, n: (doc.documents as unknown[]).length });
  } else {
    // createUser, endSessions, …
    request.reply({ ok: 1 });
  }
}

async function withMongo(
  handler: (request: MockRequest) => void,
  fn: (client: MongoClient, server: MockServer) => Promise<void>,
  monitorCommands = true,
): Promise<void> {
  const server = await startMockServer(handler);
  const client = new MongoClient(server.url("shop"), {
    monitorCommands,
    serverSelectionTimeoutMS: 5000,
  });
  try {
    await fn(client, server);
  } finally {
    await client.close();
    await server.close();
  }
}

function setup(): ReturnType<typeof testTracer> & {
  context: ReturnType<typeof createAsyncContext>;
} {
  const context = createAsyncContext();
  return { ...testTracer({ context }), context };
}

Deno.test("traceMongoClient() records find and insert under the ambient segment", async () => {
  const { tracer, context, flushed, errors } = setup();
  await withMongo(shopHandler, async (client, server) => {
    using _tracing = traceMongoClient(client, { parent: tracer });
    await client.connect();
    const segment = tracer.startSegment("shop-api", { sampled: true });
    const items = client.db("shop").collection("items");
    const found = await context.run(segment, async () => {
      const rows = await items.find({ sku: "tea" }).toArray();
      await items.insertOne({ sku: "milk" });
      return rows;
    });
    segment.end();
    assert.equal(found[0].sku, "tea");

    const [doc] = await flushed();
    const address = `127.0.0.1:${server.port}`;
    const subs = doc.subsegments;
    assert.deepEqual(
      subs.map((s: { name: string }) => s.name),
      [`shop@${address}`, `shop@${address}`],
    );
    const [find, insert] = subs;
    for (const sub of subs) {
      assert.equal(sub.namespace, "remote");
      assert.equal(sub.parent_id, undefined);
      assert.equal(sub.fault, undefined);
      assert.equal(sub.metadata, undefined, "documents are off by default");
      assert.equal(sub.annotations.mongodb_connection_id, address);
      assert.equal(sub.annotations.mongodb_database_name, "shop");
      assert.equal(typeof sub.annotations.mongodb_request_id, "number");
      assert.equal(
        sub.annotations.mongodb_operation_id,
        sub.annotations.mongodb_request_id,
      );
      assert.ok(Number.isInteger(sub.annotations.mongodb_duration_micros));
      assert.ok(sub.annotations.mongodb_duration_micros >= 0);
    }
    assert.equal(find.annotations.mongodb_command_name, "find");
    assert.equal(insert.annotations.mongodb_command_name, "insert");
    assert.notEqual(
      find.annotations.mongodb_request_id,
      insert.annotations.mongodb_request_id,
    );
  });
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() records a failed command as a remote fault with its code", async () => {
  const { tracer, context, flushed, errors } = setup();
  await withMongo(shopHandler, async (client) => {
    using _tracing = traceMongoClient(client, { parent: tracer });
    await client.connect();
    const segment = tracer.startSegment("shop-api", { sampled: true });
    const thrown = await context.run(
      segment,
      () =>
        client.db("shop").collection("broken").findOne({}).then(
          () => undefined,
          (e) => e,
        ),
    );
    segment.end();
    assert.ok(thrown instanceof MongoServerError, "the caller gets the error");
    assert.equal(thrown.code, 13);

    const [doc] = await flushed();
    const sub = doc.subsegments[0];
    assert.equal(sub.fault, true);
    assert.equal(sub.annotations.mongodb_command_name, "find");
    assert.equal(sub.annotations.mongodb_error_code, 13);
    assert.ok(Number.isInteger(sub.annotations.mongodb_duration_micros));
    const [exception] = sub.cause.exceptions;
    assert.equal(exception.type, "MongoServerError");
    assert.equal(exception.remote, true);
    assert.match(exception.message, /not authorized on shop/);
  });
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() keeps concurrent commands on one client under their own parents", async () => {
  const { tracer, context, flushed, errors } = setup();
  // Hold the finds until all three arrived, then answer the second, the
  // first, the third: all are in flight at once and finish in an order
  // neither a stack nor a queue of open commands would match.
  const held: MockRequest[] = [];
  const handler = (request: MockRequest): void => {
    if (typeof request.document.find !== "string") return shopHandler(request);
    held.push(request);
    if (held.length === 3) {
      for (const i of [1, 0, 2]) shopHandler(held[i]);
    }
  };
  await withMongo(handler, async (client) => {
    using _tracing = traceMongoClient(client, {
      parent: tracer,
      recordDocuments: true,
    });
    await client.connect();
    const items = client.db("shop").collection("items");
    const segments = ["alice", "bob", "carol"].map((user) =>
      tracer.startSegment(`req-${user}`, { sampled: true })
    );
    await Promise.all(
      segments.map((segment, i) =>
        context.run(segment, async () => {
          const rows = await items.find({ user: i }).toArray();
          assert.deepEqual(rows[0].filter, { user: i });
          segment.end();
        })
      ),
    );
  });
  const docs = await flushed();
  assert.equal(docs.length, 3);
  const requestIds = new Set();
  for (const doc of docs) {
    assert.equal(doc.subsegments.length, 1, `${doc.name} has its own find`);
    const sub = doc.subsegments[0];
    assert.equal(sub.annotations.mongodb_command_name, "find");
    assert.ok(sub.end_time, "ended");
    // The reply echoes the filter: each subsegment got its own reply.
    const { mongodb_command, mongodb_reply } = sub.metadata.default;
    assert.deepEqual(
      mongodb_reply.cursor.firstBatch[0].filter,
      mongodb_command.filter,
    );
    requestIds.add(sub.annotations.mongodb_request_id);
  }
  assert.equal(requestIds.size, 3);
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() records documents only when asked, never those of user commands", async () => {
  const { tracer, context, flushed, sender, errors } = setup();
  await withMongo(shopHandler, async (client) => {
    using _tracing = traceMongoClient(client, {
      parent: tracer,
      recordDocuments: true,
    });
    await client.connect();
    const segment = tracer.startSegment("shop-api", { sampled: true });
    await context.run(segment, async () => {
      await client.db("shop").collection("items").find({ sku: "tea" })
        .toArray();
      await client.db("shop").command({
        createUser: "app",
        pwd: SECRET,
        roles: [],
      });
    });
    segment.end();
  });
  const [doc] = await flushed();
  const [find, createUser] = doc.subsegments;
  assert.equal(find.metadata.default.mongodb_command.find, "items");
  assert.deepEqual(find.metadata.default.mongodb_command.filter, {
    sku: "tea",
  });
  assert.equal(find.metadata.default.mongodb_reply.ok, 1);
  assert.equal(
    find.metadata.default.mongodb_reply.cursor.firstBatch[0].sku,
    "tea",
  );
  assert.equal(createUser.annotations.mongodb_command_name, "createUser");
  assert.equal(createUser.metadata, undefined);
  assert.ok(!sender.raw.some((raw) => raw.includes(SECRET)));
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() records nothing under an unsampled parent", async () => {
  const { tracer, context, sender, errors } = setup();
  await withMongo(shopHandler, async (client) => {
    using _tracing = traceMongoClient(client, { parent: tracer });
    await client.connect();
    const segment = tracer.startSegment("shop-api", { sampled: false });
    const rows = await context.run(
      segment,
      () => client.db("shop").collection("items").find({}).toArray(),
    );
    segment.end();
    assert.equal(rows.length, 1);
  });
  await tracer.flush();
  assert.equal(sender.documents.length, 0);
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() takes a parent function, and close() stops new commands", async () => {
  const { tracer, flushed, errors } = setup();
  const segment = tracer.startSegment("worker", { sampled: true });
  const seen: string[] = [];
  await withMongo(shopHandler, async (client) => {
    const tracing = traceMongoClient(client, {
      parent: (event): Entity | undefined => {
        seen.push(event.commandName);
        return event.commandName === "find" ? segment : undefined;
      },
    });
    await client.connect();
    const items = client.db("shop").collection("items");
    await items.find({}).toArray();
    await items.insertOne({ sku: "untraced" });
    tracing.close();
    await items.find({}).toArray();
  });
  segment.end();
  const [doc] = await flushed();
  assert.deepEqual(seen, ["find", "insert"]);
  assert.equal(doc.subsegments.length, 1);
  assert.equal(doc.subsegments[0].annotations.mongodb_command_name, "find");
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() refuses a client without monitorCommands and a bad parent", async () => {
  const { tracer } = setup();
  await withMongo(shopHandler, (client) => {
    assert.throws(
      () => traceMongoClient(client, { parent: tracer }),
      {
        name: "TypeError",
        message:
          "Cannot trace MongoDB client as 'monitorCommands' must be true (new MongoClient(url, { monitorCommands: true })): current value is false",
      },
    );
    return Promise.resolve();
  }, false);
  const client = Object.assign(new EventEmitter(), { monitorCommands: true });
  assert.throws(
    // @ts-expect-error: a parent is required
    () => traceMongoClient(client, {}),
    /'parent' must be a segment, a subsegment, have current\(\) or be a function: current value is undefined/,
  );
  assert.throws(
    () => traceMongoClient({} as EventEmitter, { parent: tracer }),
    /it is not an event emitter/,
  );
});

// The driver blanks auth documents in its events itself; these events come
// from a plain emitter to show the redaction holds even when a driver does not.
Deno.test("traceMongoClient() never records auth documents, whatever the driver sends", async () => {
  const { tracer, flushed, sender, errors } = setup();
  const client = Object.assign(new EventEmitter(), { monitorCommands: true });
  const segment = tracer.startSegment("api", { sampled: true });
  using _tracing = traceMongoClient(client, {
    parent: segment,
    recordDocuments: true,
  });
  const commands: [string, Record<string, unknown>][] = [
    ["saslStart", { saslStart: 1, payload: SECRET }],
    ["saslContinue", { saslContinue: 1, payload: SECRET }],
    ["authenticate", { authenticate: 1, key: SECRET }],
    ["updateUser", { updateUser: "app", pwd: SECRET }],
    ["copydbsaslstart", { copydbsaslstart: 1, payload: SECRET }],
    ["hello", { hello: 1, speculativeAuthenticate: { payload: SECRET } }],
    ["ping", { ping: 1 }],
  ];
  commands.forEach(([commandName, command], requestId) => {
    const base = { requestId, address: "db:27017", connectionId: 3 };
    client.emit("commandStarted", {
      ...base,
      databaseName: "admin",
      commandName,
      command,
    });
    client.emit("commandSucceeded", {
      ...base,
      commandName,
      duration: 0.25,
      reply: commandName === "ping" ? { ok: 1 } : { ok: 1, payload: SECRET },
    });
  });
  segment.end();
  const [doc] = await flushed();
  assert.equal(doc.subsegments.length, commands.length);
  assert.ok(!sender.raw.some((raw) => raw.includes(SECRET)));
  const ping = doc.subsegments.at(-1);
  assert.deepEqual(ping.metadata.default.mongodb_command, { ping: 1 });
  assert.equal(ping.annotations.mongodb_duration_micros, 250);
  assert.equal(ping.name, "admin@db:27017");
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() reports a throwing parent function instead of throwing into the driver", async () => {
  const { tracer, errors } = testTracer();
  const reported: Error[] = [];
  const client = Object.assign(new EventEmitter(), { monitorCommands: true });
  using _tracing = traceMongoClient(client, {
    parent: () => {
      throw new Error("no parent here");
    },
    onError: (e) => reported.push(e),
  });
  const event = {
    requestId: 1,
    address: "db:27017",
    databaseName: "shop",
    commandName: "find",
    command: {},
  };
  client.emit("commandStarted", event);
  client.emit("commandSucceeded", { ...event, duration: 1, reply: {} });
  client.emit("commandFailed", { ...event, duration: 1, failure: null });
  assert.deepEqual(reported.map((e) => e.message), ["no parent here"]);
  await tracer.flush();
  assert.deepEqual(errors, []);
});

Deno.test("traceMongoClient() leaves commands outside any segment to the tracer's context-missing policy", async () => {
  const context = createAsyncContext();
  const strict = testTracer({ context, contextMissing: "RUNTIME_ERROR" });
  const quiet = testTracer({ context });
  await withMongo(shopHandler, async (client) => {
    using _strict = traceMongoClient(client, { parent: strict.tracer });
    using _quiet = traceMongoClient(client, { parent: context });
    // RUNTIME_ERROR throws from tracer.current(): reported, never thrown
    // into the driver, and the command goes through.
    const rows = await client.db("shop").collection("items").find({})
      .toArray();
    assert.equal(rows.length, 1);
  });
  assert.deepEqual(
    strict.errors.map((e) => [e.source, e.error.message]),
    [["recording", "Cannot find a current segment in the ambient context"]],
  );
  assert.deepEqual(quiet.errors, []);
  assert.equal((await strict.flushed()).length, 0);
  assert.equal((await quiet.flushed()).length, 0);
});
