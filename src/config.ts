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

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (/^(n|no|f|false|off|0)$/.test(v)) return false;
  if (/^(y|yes|t|true|on|1)$/.test(v)) return true;
  return undefined;
}

// `host:port` (the host without colons) or `[v6 host]:port`.
const HOST_PORT = /^(?:\[([^\]]+)\]|([^:[][^:]*)):(\d{1,5})$/;

function parseHostPort(part: string, whole: string): HostPort {
  const m = HOST_PORT.exec(part);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw badAddress(whole);
  return { host: m[1] ?? m[2], port };
}

function badAddress(value: string): RangeError {
  return new RangeError(
    `Cannot parse the daemon address as it must be 'host:port' or 'tcp:host:port udp:host:port': current value is '${value}'`,
  );
}

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
  if (typeof value !== "string") throw badAddress(String(value));
  const parts = value.trim().split(/\s+/);
  if (parts.length === 1 && !/^(tcp|udp):/i.test(parts[0])) {
    const hp = parseHostPort(parts[0], value);
    return { udp: hp, tcp: { ...hp } };
  }
  // Otherwise exactly one `tcp:` and one `udp:` part, in either order.
  const found: Partial<DaemonAddress> = {};
  for (const p of parts.length === 2 ? parts : []) {
    const kind = p.slice(0, 4).toLowerCase();
    const key = kind === "tcp:" ? "tcp" : kind === "udp:" ? "udp" : undefined;
    if (!key || found[key]) throw badAddress(value);
    found[key] = parseHostPort(p.slice(4), value);
  }
  if (!found.tcp || !found.udp) throw badAddress(value);
  return { udp: found.udp, tcp: found.tcp };
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
  const config: EnvConfig = {};
  if (typeof env !== "object" || env === null) return config;
  const name = env.AWS_XRAY_TRACING_NAME;
  if (typeof name === "string" && name.trim()) config.serviceName = name.trim();
  const address = env.AWS_XRAY_DAEMON_ADDRESS;
  if (typeof address === "string" && address.trim()) {
    config.daemonAddress = parseDaemonAddress(address);
  }
  const missing = env.AWS_XRAY_CONTEXT_MISSING;
  if (typeof missing === "string" && missing.trim()) {
    const m = missing.trim().toUpperCase();
    if (m !== "RUNTIME_ERROR" && m !== "LOG_ERROR" && m !== "IGNORE_ERROR") {
      throw new RangeError(
        `Cannot read 'AWS_XRAY_CONTEXT_MISSING' as it must be RUNTIME_ERROR, LOG_ERROR or IGNORE_ERROR: current value is '${missing}'`,
      );
    }
    config.contextMissing = m;
  }
  const enabled = env.AWS_XRAY_SDK_ENABLED;
  if (typeof enabled === "string") config.enabled = flag(enabled) !== false;
  const sql = flag(env.AWS_XRAY_COLLECT_SQL_QUERIES);
  if (sql !== undefined) config.collectSqlQueries = sql;
  const level = env.AWS_XRAY_LOG_LEVEL;
  if (typeof level === "string" && level.trim()) {
    config.logLevel = level.trim().toLowerCase();
  }
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
