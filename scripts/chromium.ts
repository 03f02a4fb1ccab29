// Finds Debian's Chromium for the browser tests (driven by playwright-core),
// installing it with apt-get when it is missing. Never downloads a browser
// build of its own (`npx playwright install` cannot work offline-from-npm).
//
//   deno run -A scripts/chromium.ts     # install if missing, print the path
//
// Set XRAY_EDGE_CHROMIUM to use another Chromium binary.

const DEFAULT_PATH = "/usr/bin/chromium";

/** The flags every test launch uses (headless, no network but 127.0.0.1). */
export const CHROMIUM_ARGS: string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function run(args: string[]): Promise<void> {
  const out = await new Deno.Command(args[0], {
    args: args.slice(1),
    stdout: "null",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!out.success) {
    throw new Error(
      `'${args.join(" ")}' failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

let installing: Promise<string> | undefined;

/**
 * The path of a Chromium binary, installing Debian's `chromium` package
 * (apt-get, as root) when none is there.
 *
 * @returns The executable path for playwright-core's `executablePath`.
 * @throws Error with the install command when it cannot be installed.
 */
export function ensureChromium(): Promise<string> {
  return installing ??= (async () => {
    const chosen = Deno.env.get("XRAY_EDGE_CHROMIUM");
    if (chosen) return chosen;
    if (await exists(DEFAULT_PATH)) return DEFAULT_PATH;
    console.error("chromium is missing: installing Debian's package (~35 s)");
    try {
      // Another apt-get may hold the lock for a while: wait for it.
      const wait = ["-o", "DPkg::Lock::Timeout=300"];
      await run(["apt-get", ...wait, "update", "-qq"]);
      await run(["apt-get", ...wait, "install", "-y", "-qq", "chromium"]);
    } catch (error) {
      throw new Error(
        `The browser tests need Chromium: run 'apt-get update && apt-get install -y chromium' as root (${
          (error as Error).message
        })`,
      );
    }
    if (!await exists(DEFAULT_PATH)) {
      throw new Error(
        `apt-get installed chromium but ${DEFAULT_PATH} is missing`,
      );
    }
    return DEFAULT_PATH;
  })();
}

if (import.meta.main) console.log(await ensureChromium());
