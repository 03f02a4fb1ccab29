// matrix: deno — type-checks and runs the README's code through Deno.Command
// The README works as written: every ```ts block type-checks on its own
// (imports of `xray-edge` point at this checkout), blocks that only define
// things run to the end, and the Quick start server, started as shown on
// Deno, Node and Bun, prints each request's trace and exits 0 on SIGTERM.
// Blocks fenced ```ts no-run (they call AWS or other hosts) are only checked.
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import { createServer } from "node:net";

const ROOT = new URL("../", import.meta.url);
const WORK = new URL(".matrix/readme/", ROOT);
const deno = Deno.execPath();
const CONFIG = new URL("deno.json", WORK).pathname;

interface Block {
  line: number;
  info: string;
  code: string;
}

function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^```(ts\b.*)$/);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== "```") body.push(lines[i]);
    blocks.push({
      line: start + 1,
      info: open[1].trim(),
      code: body.join("\n"),
    });
  }
  return blocks;
}

/**
 * A config beside the blocks: the project's imports (npm packages from its
 * node_modules) plus `xray-edge` and its subpaths mapped to this checkout.
 */
async function readmeConfig(): Promise<Record<string, unknown>> {
  const { exports, imports } = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ) as { exports: Record<string, string>; imports: Record<string, string> };
  const mapped: Record<string, string> = { ...imports };
  for (const [subpath, target] of Object.entries(exports)) {
    mapped[`xray-edge${subpath.slice(1)}`] = new URL(target, ROOT).href;
  }
  return { imports: mapped, nodeModulesDir: "auto", lock: false };
}

const readme = await Deno.readTextFile(new URL("README.md", ROOT));
const blocks = readmeBlocks(readme);
const isServer = (b: Block) => /\bserve\(\{\s*fetch: app\.fetch/.test(b.code);

// Written once per run, by the first test that needs them: the block files
// and their config (whose node_modules Deno then installs once).
let written: Promise<Map<Block, string>> | undefined;
function writeBlocks(): Promise<Map<Block, string>> {
  return written ??= writeAll();
}

async function writeAll(): Promise<Map<Block, string>> {
  await Deno.remove(WORK, { recursive: true }).catch(() => {});
  await Deno.mkdir(WORK, { recursive: true });
  await Deno.writeTextFile(
    new URL("deno.json", WORK),
    JSON.stringify(await readmeConfig(), null, 2),
  );
  const files = new Map<Block, string>();
  for (const block of blocks) {
    const file = new URL(`block_${block.line}.ts`, WORK);
    await Deno.writeTextFile(file, block.code);
    files.set(block, file.pathname);
  }
  return files;
}

async function run(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ ok: boolean; out: string }> {
  const child = new Deno.Command(args[0], {
    args: args.slice(1),
    cwd: options.cwd ?? new URL(".", ROOT).pathname,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A block that keeps running (a server) is a failure, not a hang.
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const r = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("the README has the blocks this test knows", () => {
  assert.ok(blocks.length >= 15, `found ${blocks.length} ts blocks`);
  assert.equal(blocks.filter(isServer).length, 1, "one Quick start server");
  assert.match(
    readme,
    /^# xray-edge\n\n[^\n]+\n[^\n]*\n\n```sh\nnpx --yes deno@2\.9\.6 task demo\nnpx --yes deno@2\.9\.6 task test\n```/,
  );
});

Deno.test("every README ts block type-checks as shown", async () => {
  const files = await writeBlocks();
  const r = await run([
    deno,
    "check",
    "--quiet",
    "--config",
    CONFIG,
    ...files.values(),
  ]);
  const report = r.out.replaceAll(WORK.pathname + "block_", "README.md line ");
  assert.ok(r.ok, report);
});

Deno.test("README blocks that only define things run to the end", async () => {
  const files = await writeBlocks();
  const failures: string[] = [];
  for (const [block, file] of files) {
    if (isServer(block) || block.info.includes("no-run")) continue;
    const r = await run([deno, "run", "-A", "--config", CONFIG, file]);
    if (!r.ok) failures.push(`README.md line ${block.line}:\n${r.out}`);
  }
  assert.deepEqual(failures, []);
});

async function freePort(): Promise<number> {
  return await new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts the Quick start, asks it twice, and stops it with SIGTERM. */
async function quickStart(command: string[]): Promise<string> {
  const port = await freePort();
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    cwd: new URL(".", ROOT).pathname,
    env: { PORT: String(port), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const dec = new TextDecoder();
  const collect = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) out += dec.decode(chunk);
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  try {
    let up = false;
    for (let i = 0; i < 200 && !up; i++) {
      try {
        await (await fetch(`http://127.0.0.1:${port}/users/41`)).text();
        up = true;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(up, `the server never answered:\n${out}`);
    // The default rule samples the first request of each second (then 5 %).
    await new Promise((r) => setTimeout(r, 1100));
    const res = await fetch(`http://127.0.0.1:${port}/users/42`);
    assert.deepEqual(await res.json(), { id: "42", name: "Ada" });
    // The traces print without a flush on the request path: wait for them.
    for (let i = 0; i < 100 && !/user_id":"42"/.test(out); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(
      out,
      /● users-api .*GET http:\/\/127\.0\.0\.1:\d+\/users\/42 → 200/,
    );
    assert.match(out, /└ load user .*\{"user_id":"42"\}/);
  } finally {
    child.kill("SIGTERM");
  }
  const status = await child.status;
  await reading;
  assert.equal(status.code, 0, `exit ${status.code} after SIGTERM:\n${out}`);
  return out;
}

Deno.test("the Quick start server prints each trace and stops on SIGTERM: Deno", async () => {
  const files = await writeBlocks();
  const file = files.get(blocks.find(isServer)!)!;
  await quickStart([deno, "run", "-A", "--config", CONFIG, file]);
});

Deno.test("the Quick start server prints each trace and stops on SIGTERM: Node and Bun", async () => {
  const files = await writeBlocks();
  const file = files.get(blocks.find(isServer)!)!;
  const bundle = new URL("quick_start.mjs", WORK).pathname;
  await esbuild.build({
    entryPoints: [file],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "es2022",
    outfile: bundle,
    nodePaths: [new URL("node_modules", ROOT).pathname],
    alias: Object.fromEntries(
      Object.entries(
        (await readmeConfig()).imports as Record<string, string>,
      ).filter(([name]) => name.startsWith("xray-edge"))
        .map(([name, href]) => [name, new URL(href).pathname]),
    ),
    logLevel: "error",
  });
  await esbuild.stop();
  await quickStart(["node", bundle]);
  // Bun's own binary: a signal sent to npx does not reach the program it runs.
  const bun = (await run([
    "npx",
    "--yes",
    "bun@1.4.5",
    "-e",
    "console.log(process.execPath)",
  ])).out.trim().split("\n").pop()!;
  await quickStart([bun, bundle]);
});
