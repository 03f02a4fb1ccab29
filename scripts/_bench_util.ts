// Helpers shared by the parts of `deno task bench` (scripts/bench.ts,
// scripts/bench_http.ts, scripts/bench_export.ts): flags, child processes,
// CPU accounting from /proc, the machine line and the runtimes.

export const ROOT = new URL("../", import.meta.url);
export const BENCH = new URL("bench/", ROOT);
export const DIST = new URL("dist/", BENCH);
export const RESULTS = new URL("results/", BENCH);
export const BUN_VERSION = "1.4.5";

/** `--name=value` → "value", `--name` → "", absent → undefined. */
export function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  const hit = Deno.args.find((a) => a === `--${name}` || a.startsWith(prefix));
  if (hit === undefined) return undefined;
  return hit.startsWith(prefix) ? hit.slice(prefix.length) : "";
}

/** Runs a command to its end and collects its output. */
export async function run(
  command: string,
  args: string[],
  cwd?: URL,
): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    ok: out.success,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Like {@linkcode run}, but throws with the output when the command fails. */
export async function must(
  what: string,
  command: string,
  args: string[],
  cwd?: URL,
): Promise<string> {
  const r = await run(command, args, cwd);
  if (!r.ok) {
    throw new Error(`${what} failed:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** A runtime the bench starts processes on. */
export interface Runtime {
  name: string;
  command: string;
  /** Arguments before the script's path. */
  args: string[];
  version: string;
}

/** Deno, Node and Bun (pinned, through npx) as far as `wanted` names them. */
export async function runtimes(wanted: string[]): Promise<Runtime[]> {
  const list: Runtime[] = [];
  if (wanted.includes("deno")) {
    list.push({
      name: "deno",
      command: Deno.execPath(),
      // bench/package.json + bench/node_modules resolve the bare imports.
      args: [
        "run",
        "-A",
        "--no-config",
        "--node-modules-dir=manual",
        "--v8-flags=--expose-gc",
      ],
      version: Deno.version.deno,
    });
  }
  if (wanted.includes("node")) {
    const version = (await must("node", "node", ["--version"])).trim();
    list.push({
      name: "node",
      command: "node",
      args: ["--expose-gc"],
      version: version.replace(/^v/, ""),
    });
  }
  if (wanted.includes("bun")) {
    // Resolve the binary once so npx's start-up is not paid per process (and
    // the process measured is bun itself, not npx).
    const out = await must("npx bun", "npx", [
      "--yes",
      `bun@${BUN_VERSION}`,
      "-e",
      "console.log(process.execPath + ' ' + Bun.version)",
    ]);
    const [path, version] = out.trim().split("\n").pop()!.split(" ");
    list.push({ name: "bun", command: path, args: [], version });
  }
  return list;
}

/** A long-running child process whose stdout is read line by line. */
export class Child {
  readonly process: Deno.ChildProcess;
  readonly pid: number;
  #lines: string[] = [];
  #waiters: ((line: string | undefined) => void)[] = [];
  #closed = false;
  #stderr = "";
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;

  constructor(
    command: string,
    args: string[],
    cwd?: URL,
    stdin = false,
  ) {
    this.process = new Deno.Command(command, {
      args,
      cwd,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    }).spawn();
    this.pid = this.process.pid;
    if (stdin) this.#writer = this.process.stdin.getWriter();
    this.#read();
    this.#readErr();
  }

  async #read(): Promise<void> {
    let rest = "";
    const decoder = new TextDecoder();
    for await (const chunk of this.process.stdout) {
      rest += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        const w = this.#waiters.shift();
        if (w) w(line);
        else this.#lines.push(line);
      }
    }
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
  }

  async #readErr(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.process.stderr) {
      // Keep the tail only: a chatty child must not grow the bench's heap.
      this.#stderr = (this.#stderr + decoder.decode(chunk)).slice(-4000);
    }
  }

  /** What the child wrote to stderr (the last 4000 characters). */
  get stderr(): string {
    return this.#stderr;
  }

  /** The next stdout line; throws after `timeoutMs` or when stdout closed. */
  line(timeoutMs = 60_000): Promise<string> {
    const queued = this.#lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) {
      return Promise.reject(
        new Error(`child ${this.pid} exited:\n${this.#stderr}`),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`child ${this.pid} silent:\n${this.#stderr}`));
      }, timeoutMs);
      const waiter = (line: string | undefined) => {
        clearTimeout(timer);
        if (line === undefined) {
          reject(new Error(`child ${this.pid} exited:\n${this.#stderr}`));
        } else resolve(line);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Writes one line to the child's stdin. */
  async send(line: string): Promise<void> {
    await this.#writer!.write(new TextEncoder().encode(line + "\n"));
  }

  /** Ends the child (SIGTERM, then SIGKILL after 3 s) and waits for it. */
  async stop(): Promise<void> {
    try {
      await this.#writer?.close();
    } catch {
      // Already closed.
    }
    try {
      this.process.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch {
        // Gone.
      }
    }, 3000);
    await this.process.status;
    clearTimeout(timer);
  }
}

/** CPU time (clock ticks, utime + stime) a process has used, from /proc. */
export function processTicks(pid: number | "self"): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces) in parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/**
 * Busy and total clock ticks of all CPUs, from /proc/stat. `busy` is user,
 * nice, system and steal time (steal: other virtual machines); interrupt and
 * softirq time is left out, as the kernel counts it to no process although
 * most of it here is the loopback traffic of the benchmark itself.
 */
export function systemTicks(): { busy: number; total: number } {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .trim().split(/\s+/).slice(1).map(Number);
    const busy = user + nice + system + steal;
    return { busy, total: busy + idle + iowait + irq + softirq };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** Clock ticks per second of /proc (USER_HZ; 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/** The CPU model, core count and OS. */
export async function machine(): Promise<string> {
  let cpu = "unknown CPU";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpu;
  } catch {
    // Not Linux.
  }
  const cores = navigator.hardwareConcurrency;
  return `${cpu}, ${cores} cores, ${Deno.build.os} ${Deno.osRelease()}`;
}

/** What every results file (micro, http, export) starts with. */
export interface RunHeader {
  date: string;
  machine: string;
  versions: Record<string, string>;
  command: string;
  seconds: number;
}

/**
 * The header of a results file: now, the machine, the runtimes' versions,
 * the command and the seconds since `started` (a `performance.now()`).
 */
export function runHeader(
  machine: string,
  runtimes: Runtime[],
  command: string,
  started: number,
): RunHeader {
  return {
    date: new Date().toISOString(),
    machine,
    versions: Object.fromEntries(runtimes.map((r) => [r.name, r.version])),
    command,
    seconds: Math.round((performance.now() - started) / 1000),
  };
}

/** The median of a list (the lower middle for even lengths). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The "Problems in this run" list of a results section (nothing when none). */
export function problemsMarkdown(problems: string[]): string[] {
  return problems.length > 0
    ? ["Problems in this run:", "", ...problems.map((p) => `- ${p}`), ""]
    : [];
}

/** Writes a results file as pretty JSON. */
export async function writeResults(name: string, data: unknown): Promise<URL> {
  await Deno.mkdir(RESULTS, { recursive: true });
  const file = new URL(name, RESULTS);
  await Deno.writeTextFile(file, JSON.stringify(data, null, 2) + "\n");
  return file;
}

/** Reads a results file, or undefined when it does not exist. */
export async function readResults<T>(name: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(new URL(name, RESULTS))) as T;
  } catch {
    return undefined;
  }
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
