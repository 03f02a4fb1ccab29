/**
 * Configuration from environment variables and the daemon address format.
 *
 * @module
 */

/** What to do when no parent entity can be found in the ambient context. */
export type ContextMissing = "RUNTIME_ERROR" | "LOG_ERROR" | "IGNORE_ERROR";

/** Settings read from the environment. Explicit options win over these. */
export interface EnvConfig {
  /** `AWS_XRAY_TRACING_NAME`: the default segment name. */
  serviceName?: string;
  /** `AWS_XRAY_DAEMON_ADDRESS`, parsed. */
  daemonAddress?: DaemonAddress;
  /** `AWS_XRAY_CONTEXT_MISSING`. */
  contextMissing?: ContextMissing;
  /** `AWS_XRAY_SDK_ENABLED` (anything but a falsy word means enabled). */
  enabled?: boolean;
  /** `AWS_XRAY_COLLECT_SQL_QUERIES`. */
  collectSqlQueries?: boolean;
  /** `AWS_XRAY_LOG_LEVEL`, lower-cased. */
  logLevel?: string;
}

/** A host and port. */
export interface HostPort {
  /** Host name or address (IPv6 without brackets). */
  host: string;
  /** Port, 1 to 65535. */
  port: number;
}

/** The daemon's UDP and TCP addresses. */
export interface DaemonAddress {
  /** Where UDP datagrams go. */
  udp: HostPort;
  /** Where HTTP requests (sampling, TraceSegments proxy) go. */
  tcp: HostPort;
}

const CONTEXT_MISSING = ["RUNTIME_ERROR", "LOG_ERROR", "IGNORE_ERROR"];

/**
 * Checks a context-missing mode.
 *
 * @internal
 * @throws {RangeError} When `mode` is not one of the three.
 */
export function checkContextMissing(
  mode: string,
  what: string,
  name: string,
): ContextMissing {
  if (!CONTEXT_MISSING.includes(mode)) {
    throw new RangeError(
      `Cannot ${what} as '${name}' must be RUNTIME_ERROR, LOG_ERROR or IGNORE_ERROR: current value is '${mode}'`,
    );
  }
  return mode as ContextMissing;
}

// `n`, `no`, `f`, `false`, `off`, `0` (group 1: false) or `y`, `yes`, `t`,
// `true`, `on`, `1`, in any case.
const FLAG = /^(?:(n|no|f|false|off|0)|y|yes|t|true|on|1)$/i;

function flag(value: string | undefined): boolean | undefined {
  const m = FLAG.exec(String(value).trim());
  return m ? !m[1] : undefined;
}

// An optional `tcp:` or `udp:` (group 1), then `host:port` (the host without
// colons) or `[v6 host]:port`.
const ADDRESS =
  /^(?:(tcp|udp):|(?!(?:tcp|udp):))(?:\[([^\]]+)\]|([^:[][^:]*)):(\d{1,5})$/i;

/**
 * Parses `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, `[v6]:port`, or
 * `tcp:host:port udp:host:port` in either order.
 *
 * @param value The address.
 * @returns The UDP and TCP addresses.
 * @throws {RangeError} When the value is not one of those forms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDaemonAddress } from "./config.ts";
 * assert.deepEqual(parseDaemonAddress("tcp:10.0.0.1:2000 udp:10.0.0.2:2001"), {
 *   tcp: { host: "10.0.0.1", port: 2000 },
 *   udp: { host: "10.0.0.2", port: 2001 },
 * });
 * ```
 */
export function parseDaemonAddress(value: string): DaemonAddress {
  // One part without a prefix, or a `tcp:` and a `udp:` part in either order.
  const parts = typeof value === "string" ? value.trim().split(/\s+/) : [];
  const found: Partial<Record<string, HostPort>> = {};
  for (const part of parts) {
    const m = ADDRESS.exec(part);
    const kind = m?.[1]?.toLowerCase() ?? "";
    const port = Number(m?.[4]);
    if (
      !m || port < 1 || port > 65535 || found[kind] || parts.length > 2 ||
      !kind !== (parts.length === 1)
    ) break;
    found[kind] = { host: m[2] ?? m[3], port };
  }
  const { "": one, tcp, udp } = found;
  if (one) return { udp: one, tcp: { ...one } };
  if (tcp && udp) return { udp, tcp };
  throw new RangeError(
    `Cannot parse the daemon address as it must be 'host:port' or 'tcp:host:port udp:host:port': current value is '${
      String(value)
    }'`,
  );
}

/**
 * Reads X-Ray settings from an environment record (`Deno.env.toObject()`,
 * `process.env`, a Workers `env` binding).
 *
 * @param env The variables.
 * @returns The settings found; absent keys stay absent.
 * @throws {RangeError} For a malformed `AWS_XRAY_DAEMON_ADDRESS` or `AWS_XRAY_CONTEXT_MISSING`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configFromEnv } from "./config.ts";
 * const config = configFromEnv({ AWS_XRAY_TRACING_NAME: "shop", AWS_XRAY_SDK_ENABLED: "off" });
 * assert.equal(config.serviceName, "shop");
 * assert.equal(config.enabled, false);
 * ```
 */
export function configFromEnv(
  env: Record<string, string | undefined>,
): EnvConfig {
  const config = tracerEnv(env);
  const level = env?.AWS_XRAY_LOG_LEVEL;
  if (typeof level === "string" && level.trim()) {
    config.logLevel = level.trim().toLowerCase();
  }
  return config;
}

/**
 * What `createTracer` reads from the environment: everything
 * {@linkcode configFromEnv} reads but the log level.
 *
 * @internal
 */
export function tracerEnv(
  env: unknown | ((name: string) => string | undefined),
): EnvConfig {
  const config: EnvConfig = {};
  const read = (name: string): string | undefined => {
    const key = "AWS_XRAY_" + name;
    const value = typeof env === "function"
      ? env(key)
      : (env as Record<string, unknown> | undefined)?.[key];
    return typeof value === "string" ? value : undefined;
  };
  const name = read("TRACING_NAME")?.trim();
  if (name) config.serviceName = name;
  const address = read("DAEMON_ADDRESS");
  if (address?.trim()) config.daemonAddress = parseDaemonAddress(address);
  const missing = read("CONTEXT_MISSING")?.trim();
  if (missing) {
    config.contextMissing = checkContextMissing(
      missing.toUpperCase(),
      "read the environment",
      "AWS_XRAY_CONTEXT_MISSING",
    );
  }
  const enabled = read("SDK_ENABLED");
  if (enabled !== undefined) config.enabled = flag(enabled) !== false;
  const sql = flag(read("COLLECT_SQL_QUERIES"));
  if (sql !== undefined) config.collectSqlQueries = sql;
  return config;
}

/**
 * The daemon address a sender should use: its `address` option, else a
 * non-blank `AWS_XRAY_DAEMON_ADDRESS` from `env`, else `undefined`. A
 * `{ host, port }` object is checked here; strings are left to the caller
 * (they may be URLs or daemon address forms).
 *
 * @param address The sender's `address` option.
 * @param env The environment the sender was given.
 * @param sender The sender's name for error messages, such as `UDP sender`.
 * @returns The address, or `undefined` when neither gives one.
 * @throws {RangeError} For a `{ host, port }` object without a host or with a port outside 1–65535.
 */
export function senderAddress(
  address: string | HostPort | undefined,
  env: Readonly<Record<string, unknown>> | undefined,
  sender: string,
): string | HostPort | undefined {
  const fromEnv = env?.AWS_XRAY_DAEMON_ADDRESS;
  const chosen = address ??
    (typeof fromEnv === "string" && fromEnv.trim() !== ""
      ? fromEnv
      : undefined);
  if (typeof chosen !== "object" || chosen === null) return chosen;
  const { host, port } = chosen;
  if (
    typeof host !== "string" || host === "" || !Number.isInteger(port) ||
    port < 1 || port > 65535
  ) {
    throw new RangeError(
      `Cannot create ${sender} as 'address' must have a host and a port between 1 and 65535: current value is ${
        JSON.stringify(chosen)
      }`,
    );
  }
  return { host, port };
}
