/**
 * MongoDB commands traced through the official `mongodb` driver's command
 * monitoring (`commandStarted` / `commandSucceeded` / `commandFailed`, on a
 * client created with `monitorCommands: true`): opt-in, and nothing is
 * patched. Works wherever the driver runs (Node, Bun, Deno).
 *
 * @module
 */

import type { Entity, Subsegment } from "./segment.ts";
import { isParentSource, type ParentSource, resolveParent } from "./_parent.ts";
import { XRayError } from "./errors.ts";

export type { CurrentEntitySource, ParentSource } from "./_parent.ts";

/** The fields of the driver's `CommandStartedEvent` read here. */
export interface MongoCommandStartedEvent {
  /** The driver's id for this command's message. */
  requestId: number;
  /** The database the command ran on. */
  databaseName: string;
  /** The command's name (`find`, `insert`, …). */
  commandName: string;
  /** The command document (the driver sends `{}` for auth commands). */
  command: unknown;
  /** The server as `host:port`. */
  address: string;
  /** The driver's connection id. */
  connectionId?: string | number;
  /** The operation id, where the driver gives one (pymongo does). */
  operationId?: number;
}

/** The fields of the driver's `CommandSucceededEvent` read here. */
export interface MongoCommandSucceededEvent {
  /** Same as the started event's. */
  requestId: number;
  /** The server as `host:port`. */
  address: string;
  /** The driver's connection id. */
  connectionId?: string | number;
  /** The command's name. */
  commandName: string;
  /** Milliseconds the command took. */
  duration: number;
  /** The reply document. */
  reply: unknown;
}

/** The fields of the driver's `CommandFailedEvent` read here. */
export interface MongoCommandFailedEvent {
  /** Same as the started event's. */
  requestId: number;
  /** The server as `host:port`. */
  address: string;
  /** The driver's connection id. */
  connectionId?: string | number;
  /** The command's name. */
  commandName: string;
  /** Milliseconds until the failure. */
  duration: number;
  /** The error (a `MongoServerError` with `code` for `ok: 0` replies). */
  failure: unknown;
}

/**
 * The parts of a `MongoClient` used here: its event emitter (and its
 * `monitorCommands` flag, checked when readable).
 */
export interface MongoClientLike {
  /** Subscribes to an event. */
  // deno-lint-ignore no-explicit-any
  on(event: any, listener: any): unknown;
  /** Unsubscribes from an event. */
  // deno-lint-ignore no-explicit-any
  removeListener(event: any, listener: any): unknown;
  /** Whether the client emits command events (`new MongoClient(url, { monitorCommands: true })`). */
  readonly monitorCommands?: boolean;
}

/** Picks the parent of one command from its started event. */
export type MongoParentFunction = (
  event: MongoCommandStartedEvent,
) => Entity | undefined;

/** Options for {@linkcode traceMongoClient}. */
export interface TraceMongoClientOptions {
  /**
   * The parent of each command, chosen when the command starts: something
   * with `current()` (a tracer with an ambient context from
   * `xray-edge/als`, or the context itself), a segment or subsegment (for a
   * client made per request), or a function given the started event.
   * Commands without a parent, or under an unsampled one, are not recorded.
   */
  parent: ParentSource | MongoParentFunction;
  /**
   * Records the command and reply documents as metadata (`mongodb_command`,
   * `mongodb_reply`), as the Python SDK's `record_full_documents`. They can
   * hold business data: off unless asked. Authentication and user-management
   * commands (`saslStart`, `authenticate`, `createUser`, …) are never
   * recorded, whatever this says.
   * @default false
   */
  recordDocuments?: boolean;
  /**
   * Receives recording problems. @default the parent source's `reportError`
   * (a tracer's `onError`), else a `console.warn` line
   */
  onError?: (error: Error) => void;
}

/** A running subscription; `close()` (or `using`) stops tracing. */
export interface MongoClientTracing {
  /**
   * Stops tracing new commands. Commands in flight are still finished, then
   * the last listeners are removed.
   */
  close(): void;
  /** Same as `close()`. */
  [Symbol.dispose](): void;
}

/**
 * Commands whose documents may carry credentials: never recorded (the
 * driver's own list, compared without case). `hello` / `isMaster` join them
 * when they carry `speculativeAuthenticate`.
 */
export const MONGODB_SENSITIVE_COMMANDS: ReadonlySet<string> = new Set([
  "authenticate",
  "saslstart",
  "saslcontinue",
  "getnonce",
  "createuser",
  "updateuser",
  "copydbgetnonce",
  "copydbsaslstart",
  "copydb",
]);

const HELLO_COMMANDS = new Set(["hello", "ismaster"]);

/** Commands in flight per subscription, beyond which new ones go unrecorded. */
const MAX_OPEN_COMMANDS = 10_000;

const STARTED = "commandStarted";
const SUCCEEDED = "commandSucceeded";
const FAILED = "commandFailed";

interface OpenCommand {
  sub: Subsegment;
  redacted: boolean;
}

function isSensitive(name: string, command: unknown): boolean {
  const lower = name.toLowerCase();
  if (MONGODB_SENSITIVE_COMMANDS.has(lower)) return true;
  if (!HELLO_COMMANDS.has(lower)) return false;
  return typeof command === "object" && command !== null &&
    (command as Record<string, unknown>).speculativeAuthenticate !==
      undefined;
}

function keyOf(
  event: { requestId?: unknown; connectionId?: unknown; address?: unknown },
): string {
  return `${event.address}/${event.connectionId}/${event.requestId}`;
}

function micros(ms: unknown): number | undefined {
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0
    ? Math.round(ms * 1000)
    : undefined;
}

/**
 * Records every command a `MongoClient` sends as a `remote` subsegment named
 * `<database>@<host>:<port>`, with the annotations the AWS X-Ray SDK for
 * Python's pymongo listener records: `mongodb_command_name`,
 * `mongodb_connection_id` (`host:port`), `mongodb_database_name`,
 * `mongodb_request_id`, `mongodb_operation_id` (the request id where the
 * driver has no operation id) and `mongodb_duration_micros` (the driver's
 * measured duration). A failed command sets `fault` and records the error as
 * the cause (plus `mongodb_error_code` when the server gave one); the error
 * still reaches the caller unchanged.
 *
 * The parent is resolved when the command starts (in the caller's async
 * context, so an ambient `xray-edge/als` context works) and the finished
 * event is matched by request id, so concurrent commands on one client each
 * land under their own parent. Nothing here throws into the driver's event
 * emitter: problems go to `onError`.
 *
 * @param client A `MongoClient` created with `monitorCommands: true`.
 * @param options The parent source, document recording, error hook.
 * @returns The subscription; close it to stop.
 * @throws {TypeError} When `client` is not an event emitter, was created
 * without `monitorCommands: true`, or `parent` is not a parent source.
 *
 * @example Trace the commands of the current request
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventEmitter } from "node:events";
 * import { createTracer } from "../mod.ts";
 * import { createAsyncContext } from "./als.ts";
 * import { memorySender } from "./testing.ts";
 * import { traceMongoClient } from "./mongodb.ts";
 *
 * // Stands in for `new MongoClient(url, { monitorCommands: true })`.
 * const client = Object.assign(new EventEmitter(), { monitorCommands: true });
 * const context = createAsyncContext();
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "api", sender, context });
 * using _tracing = traceMongoClient(client, { parent: tracer });
 * const segment = tracer.startSegment("api", { sampled: true });
 * context.run(segment, () => {
 *   client.emit("commandStarted", {
 *     requestId: 7, databaseName: "shop", commandName: "find",
 *     command: { find: "items" }, address: "127.0.0.1:27017", connectionId: 1,
 *   });
 * });
 * client.emit("commandSucceeded", {
 *   requestId: 7, commandName: "find", address: "127.0.0.1:27017",
 *   connectionId: 1, duration: 1.5, reply: { ok: 1 },
 * });
 * segment.end();
 * await tracer.flush();
 * const sub = sender.documents[0].subsegments[0];
 * assert.equal(sub.name, "shop@127.0.0.1:27017");
 * assert.equal(sub.annotations.mongodb_duration_micros, 1500);
 * ```
 */
export function traceMongoClient(
  client: MongoClientLike,
  options: TraceMongoClientOptions,
): MongoClientTracing {
  if (
    typeof client?.on !== "function" ||
    typeof client.removeListener !== "function"
  ) {
    throw new TypeError(
      "Cannot trace MongoDB client as it is not an event emitter (a MongoClient is expected)",
    );
  }
  const monitor = client.monitorCommands;
  if (monitor !== undefined && monitor !== true) {
    throw new TypeError(
      `Cannot trace MongoDB client as 'monitorCommands' must be true (new MongoClient(url, { monitorCommands: true })): current value is ${
        String(monitor)
      }`,
    );
  }
  const { parent, recordDocuments = false, onError } = options ?? {};
  const pick = typeof parent === "function" ? parent : undefined;
  if (!pick && !isParentSource(parent)) {
    throw new TypeError(
      `Cannot trace MongoDB client as 'parent' must be a segment, a subsegment, have current() or be a function: current value is ${
        parent === null ? "null" : typeof parent
      }`,
    );
  }
  if (typeof recordDocuments !== "boolean") {
    throw new TypeError(
      `Cannot trace MongoDB client as 'recordDocuments' must be a boolean: current value is ${
        String(recordDocuments)
      }`,
    );
  }
  if (onError !== undefined && typeof onError !== "function") {
    throw new TypeError(
      "Cannot trace MongoDB client as 'onError' must be a function",
    );
  }
  const source = pick ? undefined : parent as ParentSource;
  const open = new Map<string, OpenCommand>();
  let warnedFull = false;

  const report = (error: unknown): void => {
    try {
      const e = error instanceof Error ? error : new XRayError(String(error));
      if (onError) return onError(e);
      const reporter = (source as { reportError?: unknown } | undefined)
        ?.reportError;
      if (typeof reporter === "function") {
        return reporter.call(source, e, "recording");
      }
      console.warn(`xray-edge (mongodb): ${e.message}`);
    } catch {
      // Reporting must not reach the driver.
    }
  };

  const onStarted = (event: MongoCommandStartedEvent): void => {
    try {
      const entity = pick ? pick(event) : resolveParent(source!);
      if (!entity || !entity.isSampled) return;
      if (open.size >= MAX_OPEN_COMMANDS) {
        if (!warnedFull) {
          warnedFull = true;
          report(
            new XRayError(
              `Cannot trace more than ${MAX_OPEN_COMMANDS} MongoDB commands in flight on one client: the excess goes unrecorded`,
            ),
          );
        }
        return;
      }
      const address = String(event.address ?? "");
      const database = String(event.databaseName ?? "");
      const name = String(event.commandName ?? "");
      const sub = entity.startSubsegment(`${database}@${address}`, {
        namespace: "remote",
      });
      const requestId = event.requestId;
      const operationId = typeof event.operationId === "number"
        ? event.operationId
        : requestId;
      sub.annotate("mongodb_command_name", name)
        .annotate("mongodb_connection_id", address)
        .annotate("mongodb_database_name", database)
        .annotate("mongodb_request_id", requestId)
        .annotate("mongodb_operation_id", operationId);
      const redacted = isSensitive(name, event.command);
      if (recordDocuments && !redacted) {
        sub.addMetadata("mongodb_command", event.command);
      }
      open.set(keyOf(event), { sub, redacted });
    } catch (error) {
      report(error);
    }
  };

  const finish = (
    event: MongoCommandSucceededEvent | MongoCommandFailedEvent,
    failed: boolean,
  ): void => {
    try {
      const key = keyOf(event);
      const command = open.get(key);
      if (!command) return;
      open.delete(key);
      const { sub, redacted } = command;
      const duration = micros(event.duration);
      if (duration !== undefined) {
        sub.annotate("mongodb_duration_micros", duration);
      }
      if (failed) {
        const failure = (event as MongoCommandFailedEvent).failure;
        const code = (failure as { code?: unknown } | null)?.code;
        if (typeof code === "number" && Number.isFinite(code)) {
          sub.annotate("mongodb_error_code", code);
        }
        sub.addError(failure, { remote: true });
      } else if (recordDocuments && !redacted) {
        sub.addMetadata(
          "mongodb_reply",
          (event as MongoCommandSucceededEvent).reply,
        );
      }
      sub.end();
    } catch (error) {
      report(error);
    }
    if (closed && open.size === 0) detach();
  };

  const onSucceeded = (event: MongoCommandSucceededEvent): void =>
    finish(event, false);
  const onFailed = (event: MongoCommandFailedEvent): void =>
    finish(event, true);

  client.on(STARTED, onStarted);
  client.on(SUCCEEDED, onSucceeded);
  client.on(FAILED, onFailed);

  let closed = false;
  let detached = false;
  const detach = (): void => {
    if (detached) return;
    detached = true;
    try {
      client.removeListener(SUCCEEDED, onSucceeded);
      client.removeListener(FAILED, onFailed);
    } catch (error) {
      report(error);
    }
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    client.removeListener(STARTED, onStarted);
    if (open.size === 0) detach();
  };
  return { close, [Symbol.dispose]: close };
}
