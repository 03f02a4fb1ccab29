// The collector's command line: `deno task collector`, `xray-edge collector`.

import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningCollector, startCollector } from "./server.ts";
import { samplingService } from "./_sampling.ts";

/** The `--help` text. */
export const COLLECTOR_USAGE: string =
  `xray-edge collector: a local X-Ray collector and trace viewer

Usage: deno task collector [options]      (npm: npx xray-edge collector [options])

  --port N         TCP and UDP port (default 2000; 0 picks a free one)
  --host ADDR      address to listen on (default 127.0.0.1)
  --data DIR       where traces are kept (default .xray-edge; ':memory:' keeps nothing)
  --rules FILE     sampling rules served to centralizedSampler (localSampler format)
  --max-traces N   traces kept before the oldest are dropped (default 10000)
  --no-udp         do not take daemon-format UDP datagrams
  --help           this text

Point an app at it: AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000 (daemonSender, udpSender,
the AWS X-Ray SDKs), or xrayApiSender / the AWS CLI with endpoint http://127.0.0.1:2000.`;

/** Parsed command-line options. */
export interface CollectorCliOptions {
  /** `--port` (TCP and UDP). */
  port: number;
  /** `--host`. */
  host: string;
  /** `--data`: a directory, or `:memory:`. */
  data: string;
  /** `--rules`: a rules file path. */
  rules?: string;
  /** `--max-traces`. */
  maxTraces?: number;
  /** False with `--no-udp`. */
  udp: boolean;
  /** `--help` was given. */
  help: boolean;
}

/**
 * Parses the collector's arguments.
 * @throws {RangeError} On an unknown option or a bad value.
 */
export function parseCollectorArgs(
  args: readonly string[],
): CollectorCliOptions {
  const out: CollectorCliOptions = {
    port: 2000,
    host: "127.0.0.1",
    data: ".xray-edge",
    udp: true,
    help: false,
  };
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = (): string => {
      const v = value ?? args[++i];
      if (v === undefined) {
        throw new RangeError(
          `Cannot start collector as '${arg}' needs a value`,
        );
      }
      return v;
    };
    switch (arg) {
      case "--help":
      case "-h":
        out.help = true;
        break;
      case "--port": {
        const v = take();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 65535) {
          throw new RangeError(
            `Cannot start collector as '--port' must be an integer from 0 to 65535: current value is '${v}'`,
          );
        }
        out.port = n;
        break;
      }
      case "--host":
        out.host = take();
        break;
      case "--data":
        out.data = take();
        break;
      case "--rules":
        out.rules = take();
        break;
      case "--max-traces": {
        const v = take();
        if (!/^[1-9]\d*$/.test(v)) {
          throw new RangeError(
            `Cannot start collector as '--max-traces' must be a positive integer: current value is '${v}'`,
          );
        }
        out.maxTraces = Number(v);
        break;
      }
      case "--no-udp":
        out.udp = false;
        break;
      default:
        throw new RangeError(
          `Cannot start collector as '${arg}' is not a known option (see --help)`,
        );
    }
  }
  return out;
}

/**
 * Runs the collector from command-line arguments and prints where it listens.
 * @param args The arguments after the command name.
 * @param log Where lines are printed. @default console.log
 * @returns The running collector, or `undefined` after `--help`.
 */
export async function runCollectorCli(
  args: readonly string[],
  log: (line: string) => void = console.log,
): Promise<RunningCollector | undefined> {
  const options = parseCollectorArgs(args);
  if (options.help) {
    log(COLLECTOR_USAGE);
    return undefined;
  }
  let database = ":memory:";
  if (options.data !== ":memory:") {
    mkdirSync(options.data, { recursive: true });
    database = join(options.data, "traces.sqlite");
  }
  let rules: string | undefined;
  if (options.rules !== undefined) {
    try {
      rules = readFileSync(options.rules, "utf8");
      // Checked here so the message names the file.
      samplingService(rules, 0);
    } catch (e) {
      throw new RangeError(
        `Cannot start collector as the rules file '${options.rules}' is not usable: ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  }
  const running = await startCollector({
    host: options.host,
    port: options.port,
    udp: options.udp,
    database,
    rules,
    maxTraces: options.maxTraces,
  });
  const address = `${options.host}:${running.port}`;
  log(`xray-edge collector on ${address} (HTTP${running.udp ? " + UDP" : ""})`);
  if (options.host === "0.0.0.0" || options.host === "::") {
    log(
      "  listening on every interface: anyone who can reach it can read traces",
    );
  }
  log(`  storage: ${database === ":memory:" ? "in memory" : database}`);
  if (options.rules) log(`  sampling rules: ${options.rules}`);
  log(
    `  send traces: AWS_XRAY_DAEMON_ADDRESS=${
      new URL(running.url).host.replace(/^\[(.*)\]/, "$1")
    }`,
  );
  log(`  viewer: ${running.url}`);
  return running;
}
