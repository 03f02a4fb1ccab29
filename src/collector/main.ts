#!/usr/bin/env node
// The collector's executable: `deno task collector`, and the npm bin
// `xray-edge collector`. Stops on Ctrl-C.

import process from "node:process";
import { COLLECTOR_USAGE, runCollectorCli } from "./cli.ts";

async function main(argv: string[]): Promise<number> {
  const args = argv[0] === "collector" ? argv.slice(1) : argv;
  if (
    argv[0] !== undefined && !argv[0].startsWith("-") && argv[0] !== "collector"
  ) {
    console.error(`Unknown command '${argv[0]}'\n\n${COLLECTOR_USAGE}`);
    return 2;
  }
  try {
    const running = await runCollectorCli(args);
    if (!running) return 0;
    const stop = () => {
      running.close().finally(() => process.exit(0));
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    return -1;
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
}

const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
