// Reads AWS_XRAY_DAEMON_ADDRESS-style values: `host:port` (both transports)
// or `tcp:host:port udp:host:port` (either order). The same shape as the
// public `parseDaemonAddress` in config.ts, kept here so the senders do not
// depend on the config module.

/** One transport's host and port. */
export interface HostPort {
  /** The host name or IP (IPv6 without brackets). */
  host: string;
  /** The port. */
  port: number;
}

/** The daemon's TCP (HTTP proxy) and UDP addresses. */
export interface DaemonAddress {
  /** Where datagrams go. */
  udp: HostPort;
  /** Where the HTTP proxy listens. */
  tcp: HostPort;
}

/** The daemon's default address. */
export const DEFAULT_DAEMON_HOST = "127.0.0.1";
/** The daemon's default port. */
export const DEFAULT_DAEMON_PORT = 2000;

function hostPort(text: string, whole: string): HostPort {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot parse daemon address as it must be 'host:port' or 'tcp:host:port udp:host:port': current value is ${
        JSON.stringify(whole)
      }`,
    );
  }
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}

/** Parses a daemon address; throws RangeError on malformed input. */
export function daemonAddress(value: string): DaemonAddress {
  const text = String(value).trim();
  const parts = text.split(/\s+/);
  if (parts.length === 1 && !/^(tcp|udp):/i.test(parts[0])) {
    const both = hostPort(parts[0], text);
    return { udp: both, tcp: { ...both } };
  }
  let udp: HostPort | undefined;
  let tcp: HostPort | undefined;
  for (const part of parts) {
    const m = /^(tcp|udp):(.*)$/i.exec(part);
    if (!m) return hostPort("", text) as never;
    const parsed = hostPort(m[2], text);
    if (m[1].toLowerCase() === "tcp") tcp = parsed;
    else udp = parsed;
  }
  if (!udp || !tcp || parts.length !== 2) return hostPort("", text) as never;
  return { udp, tcp };
}

/** Formats a host and port for a URL or a message (brackets IPv6). */
export function formatHost(address: HostPort): string {
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
