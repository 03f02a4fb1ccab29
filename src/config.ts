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

const TRUTHY = new Set(["y", "yes", "t", "true", "on", "1"]);
const FALSY = new Set(["n", "no", "f", "false", "off", "0"]);

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (FALSY.has(v)) return false;
  if (TRUTHY.has(v)) return true;
  return undefined;
}

function parseHostPort(part: string, whole: string): HostPort {
  let host: string;
  let portText: string;
  if (part.startsWith("[")) {
    const close = part.indexOf("]");
    if (close === -1 || part[close + 1] !== ":") throw badAddress(whole);
    host = part.slice(1, close);
    portText = part.slice(close + 2);
  } else {
    const colon = part.lastIndexOf(":");
    if (colon === -1) throw badAddress(whole);
    host = part.slice(0, colon);
    portText = part.slice(colon + 1);
    if (host.includes(":")) throw badAddress(whole);
  }
  if (host.length === 0 || !/^\d{1,5}$/.test(portText)) throw badAddress(whole);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw badAddress(whole);
  return { host, port };
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
  const parts = value.trim().split(/\s+/).filter((p) => p.length > 0);
  if (parts.length === 1) {
    const p = parts[0];
    // A lone `tcp:…` or `udp:…` part names only one of the two addresses.
    if (/^(tcp|udp):/i.test(p)) throw badAddress(value);
    const hp = parseHostPort(p, value);
    return { udp: hp, tcp: { ...hp } };
  }
  if (parts.length !== 2) throw badAddress(value);
  let tcp: HostPort | undefined;
  let udp: HostPort | undefined;
  for (const p of parts) {
    const lower = p.toLowerCase();
    if (lower.startsWith("tcp:") && !tcp) {
      tcp = parseHostPort(p.slice(4), value);
    } else if (lower.startsWith("udp:") && !udp) {
      udp = parseHostPort(p.slice(4), value);
    } else throw badAddress(value);
  }
  if (!tcp || !udp) throw badAddress(value);
  return { udp, tcp };
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
