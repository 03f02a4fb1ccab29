// The database servers the SQL tests run against: PostgreSQL and MariaDB
// from Debian's packages, installed with apt-get when missing, started on
// 127.0.0.1 on free ports with their data in a temporary folder, and
// stopped (data removed) at the end.
//
//   deno run -A scripts/services.ts start   # idempotent: quick when already up
//   deno run -A scripts/services.ts stop
//   deno run -A scripts/services.ts status
//
// `start` writes .services/env (KEY=VALUE lines, gitignored), which the tests
// read through tests/_services.ts (the environment wins over the file):
//   XRAY_EDGE_PG_URL=postgres://xray:…@127.0.0.1:<port>/xray_test
//   XRAY_EDGE_MYSQL_URL=mysql://xray:…@127.0.0.1:<port>/xray_test
// `deno task test` starts them before the suites and stops them after.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIR = join(ROOT, ".services");
const ENV_FILE = join(DIR, "env");
const STATE_FILE = join(DIR, "state.json");

const USER = "xray";
// A test-only password; the tests check it never appears in a document.
const PASSWORD = "xray-test-pw-7f3a";
const DATABASE = "xray_test";

interface State {
  pg?: { dataDir: string; port: number; bin: string };
  mysql?: { dataDir: string; port: number; pid?: number };
}

const isRoot = Deno.uid?.() === 0;

async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; allowFail?: boolean } = {},
): Promise<{ ok: boolean; out: string }> {
  const result = await new Deno.Command(cmd, {
    args,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(result.stdout) +
    new TextDecoder().decode(result.stderr);
  if (!result.success && !options.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${out}`);
  }
  return { ok: result.success, out };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function listening(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function waitFor(port: number, what: string, log: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  let tail = "";
  try {
    tail = (await Deno.readTextFile(log)).slice(-2000);
  } catch {
    // No log.
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port}:\n${tail}`);
}

let aptUpdated = false;

/** Installs Debian packages that are missing (non-interactive). */
async function aptInstall(packages: string[]): Promise<void> {
  if (!isRoot) {
    throw new Error(
      `Cannot install ${
        packages.join(", ")
      }: not root (install them with apt-get)`,
    );
  }
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = [
    "install",
    "-y",
    "-q",
    "--no-install-recommends",
    ...packages,
  ];
  if (!aptUpdated) {
    const first = await run("apt-get", install, { env, allowFail: true });
    if (first.ok) return;
    await run("apt-get", ["update", "-q"], { env });
    aptUpdated = true;
  }
  await run("apt-get", install, { env });
}

async function pgBin(): Promise<string | undefined> {
  try {
    const versions: number[] = [];
    for await (const e of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(e.name)) versions.push(Number(e.name));
    }
    versions.sort((a, b) => b - a);
    for (const v of versions) {
      const bin = `/usr/lib/postgresql/${v}/bin`;
      if (await exists(join(bin, "initdb"))) return bin;
    }
  } catch {
    // Not installed.
  }
  return undefined;
}

/** Runs a server program as the given system user when we are root. */
function asUser(user: string, cmd: string, args: string[]): [string, string[]] {
  return isRoot ? ["runuser", ["-u", user, "--", cmd, ...args]] : [cmd, args];
}

async function chownTo(user: string, path: string): Promise<void> {
  if (isRoot) await run("chown", ["-R", `${user}:${user}`, path]);
}

async function startPostgres(): Promise<State["pg"]> {
  let bin = await pgBin();
  if (!bin) {
    await aptInstall(["postgresql"]);
    bin = await pgBin();
    if (!bin) throw new Error("PostgreSQL installed but no initdb found");
  }
  const dataDir = await Deno.makeTempDir({ prefix: "xray-edge-pg-" });
  await Deno.chmod(dataDir, 0o700);
  const pwFile = join(dataDir, "..", `${dataDir.split("/").pop()}.pw`);
  await Deno.writeTextFile(pwFile, PASSWORD + "\n");
  await chownTo("postgres", dataDir);
  await chownTo("postgres", pwFile);
  const data = join(dataDir, "data");
  await run(...asUser("postgres", join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    USER,
    `--pwfile=${pwFile}`,
    "-A",
    "scram-sha-256",
    "-E",
    "UTF8",
    "--no-sync",
  ]));
  await Deno.remove(pwFile);
  const port = freePort();
  const log = join(dataDir, "server.log");
  await run(...asUser("postgres", join(bin, "pg_ctl"), [
    "-D",
    data,
    "-l",
    log,
    "-o",
    `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c fsync=off`,
    "-w",
    "start",
  ]));
  await waitFor(port, "PostgreSQL", log);
  await run(join(bin, "psql"), [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    USER,
    "-d",
    "postgres",
    "-c",
    `CREATE DATABASE ${DATABASE}`,
  ], { env: { PGPASSWORD: PASSWORD } });
  return { dataDir, port, bin };
}

async function mariadbBin(): Promise<string | undefined> {
  for (const path of ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]) {
    if (await exists(path)) return path;
  }
  return undefined;
}

async function startMariadb(): Promise<State["mysql"]> {
  let server = await mariadbBin();
  if (!server || !(await exists("/usr/bin/mariadb-install-db"))) {
    await aptInstall(["mariadb-server", "mariadb-client"]);
    server = await mariadbBin();
    if (!server) throw new Error("MariaDB installed but no mariadbd found");
  }
  const dataDir = await Deno.makeTempDir({ prefix: "xray-edge-mariadb-" });
  const data = join(dataDir, "data");
  const userArgs = isRoot ? ["--user=mysql"] : [];
  if (isRoot) await chownTo("mysql", dataDir);
  await run("mariadb-install-db", [
    "--no-defaults",
    `--datadir=${data}`,
    ...userArgs,
    "--auth-root-authentication-method=normal",
    "--skip-test-db",
  ]);
  if (isRoot) await chownTo("mysql", dataDir);
  const port = freePort();
  const socket = join(dataDir, "mysqld.sock");
  const log = join(dataDir, "server.log");
  const pidFile = join(dataDir, "mysqld.pid");
  const args = [
    "--no-defaults",
    `--datadir=${data}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    `--socket=${socket}`,
    `--pid-file=${pidFile}`,
    `--log-error=${log}`,
    "--skip-log-bin",
    "--innodb-flush-log-at-trx-commit=0",
    ...userArgs,
  ];
  // Detached, so it outlives this script.
  await run("sh", [
    "-c",
    `nohup ${server} ${args.map((a) => `'${a}'`).join(" ")} >/dev/null 2>&1 &`,
  ]);
  await waitFor(port, "MariaDB", log);
  await run("mariadb", [
    "--no-defaults",
    `--socket=${socket}`,
    "-uroot",
    "-e",
    `CREATE DATABASE ${DATABASE};
     CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}';
     CREATE USER '${USER}'@'localhost' IDENTIFIED BY '${PASSWORD}';
     GRANT ALL ON ${DATABASE}.* TO '${USER}'@'%';
     GRANT ALL ON ${DATABASE}.* TO '${USER}'@'localhost';`,
  ]);
  let pid: number | undefined;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim()) || undefined;
  } catch {
    // Stop falls back to the socket.
  }
  return { dataDir, port, pid };
}

async function readState(): Promise<State> {
  try {
    return JSON.parse(await Deno.readTextFile(STATE_FILE));
  } catch {
    return {};
  }
}

async function writeState(state: State): Promise<void> {
  await Deno.mkdir(DIR, { recursive: true });
  await Deno.writeTextFile(STATE_FILE, JSON.stringify(state, null, 2) + "\n");
  const lines: string[] = [];
  if (state.pg) {
    lines.push(
      `XRAY_EDGE_PG_URL=postgres://${USER}:${PASSWORD}@127.0.0.1:${state.pg.port}/${DATABASE}`,
    );
  }
  if (state.mysql) {
    lines.push(
      `XRAY_EDGE_MYSQL_URL=mysql://${USER}:${PASSWORD}@127.0.0.1:${state.mysql.port}/${DATABASE}`,
    );
  }
  await Deno.writeTextFile(ENV_FILE, lines.join("\n") + "\n");
}

async function stopPostgres(pg: NonNullable<State["pg"]>): Promise<void> {
  await run(
    ...asUser("postgres", join(pg.bin, "pg_ctl"), [
      "-D",
      join(pg.dataDir, "data"),
      "-m",
      "fast",
      "-w",
      "stop",
    ]),
    { allowFail: true },
  );
  await Deno.remove(pg.dataDir, { recursive: true }).catch(() => {});
}

async function stopMariadb(mysql: NonNullable<State["mysql"]>): Promise<void> {
  if (mysql.pid) {
    try {
      Deno.kill(mysql.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    for (let i = 0; i < 100 && await listening(mysql.port); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await Deno.remove(mysql.dataDir, { recursive: true }).catch(() => {});
}

/** Starts whatever is not running; returns the env lines. */
export async function start(): Promise<Record<string, string>> {
  const state = await readState();
  const work: Promise<void>[] = [];
  if (!state.pg || !(await listening(state.pg.port))) {
    if (state.pg) await stopPostgres(state.pg);
    work.push(
      startPostgres().then((pg) => {
        state.pg = pg;
      }),
    );
  }
  if (!state.mysql || !(await listening(state.mysql.port))) {
    if (state.mysql) await stopMariadb(state.mysql);
    // apt-get takes one lock: install one after the other.
    await Promise.all(work);
    work.push(
      startMariadb().then((mysql) => {
        state.mysql = mysql;
      }),
    );
  }
  const results = await Promise.allSettled(work);
  await writeState(state);
  const failures = results.filter((r): r is PromiseRejectedResult =>
    r.status === "rejected"
  );
  if (failures.length) {
    throw new Error(
      failures.map((f) => String(f.reason?.message ?? f.reason)).join("\n"),
    );
  }
  return readEnv();
}

/** Stops both servers and removes their data. */
export async function stop(): Promise<void> {
  const state = await readState();
  if (state.pg) await stopPostgres(state.pg);
  if (state.mysql) await stopMariadb(state.mysql);
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
}

async function readEnv(): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  try {
    for (const line of (await Deno.readTextFile(ENV_FILE)).split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
  } catch {
    // Nothing started.
  }
  return env;
}

if (import.meta.main) {
  const command = Deno.args[0] ?? "start";
  if (command === "start") {
    const started = performance.now();
    const env = await start();
    for (const [key, value] of Object.entries(env)) {
      console.log(`${key}=${value}`);
    }
    console.log(
      `services ready in ${Math.round(performance.now() - started)} ms (${
        ENV_FILE.slice(ROOT.length + 1)
      })`,
    );
  } else if (command === "stop") {
    await stop();
    console.log("services stopped");
  } else if (command === "status") {
    const state = await readState();
    console.log(
      `PostgreSQL: ${
        state.pg && await listening(state.pg.port)
          ? `up on ${state.pg.port}`
          : "down"
      }`,
    );
    console.log(
      `MariaDB: ${
        state.mysql && await listening(state.mysql.port)
          ? `up on ${state.mysql.port}`
          : "down"
      }`,
    );
  } else {
    console.error("usage: services.ts start|stop|status");
    Deno.exit(2);
  }
}
