// The README's screenshot: runs the demo's setup (collector in memory on a
// free port, the traced shop and inventory services, the 60-request burst),
// opens the viewer in Debian's Chromium through playwright-core, opens one
// /cart trace's waterfall and saves docs/viewer.png, re-encoded with a
// 256-colour palette (the UI has few colours; anti-aliased text takes the
// nearest one), which makes it about a third of Chromium's PNG.
//
//   deno run -A scripts/screenshot.ts [OUT.png]
import { deflateSync, inflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, ensureChromium } from "./chromium.ts";
import { sendBurst, startDemo, waitForCollector } from "./demo.ts";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

const out = Deno.args[0] ??
  new URL("../docs/viewer.png", import.meta.url).pathname;

const executablePath = await ensureChromium();
const demo = await startDemo({ port: 0 });
const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
try {
  const burst = await sendBurst(demo);
  await waitForCollector(demo, burst.documents);
  const page = await browser.newPage({
    viewport: { width: 1200, height: 700 },
  });
  await page.goto(demo.collector.url);
  await page.waitForFunction(
    (n) => document.querySelectorAll("tr.trace-row").length >= n,
    10,
  );
  // The newest /cart/1 trace: its waterfall has the SQL, fetch, downstream
  // segment and AWS call.
  await page.locator("tr.trace-row", {
    has: page.locator("td.url", { hasText: "/cart/1" }),
  }).first().click();
  const row = (name: string) =>
    page.locator(".wf-row", {
      has: page.locator(".entity-name", { hasText: name }),
    }).first();
  await row("demo-inventory").waitFor();
  await row("demo-shop").locator(".bar").click();
  await page.locator("#entity-panel table.annotations").waitFor();
  const png = toPalettePng(await page.screenshot());
  await Deno.writeFile(out, png);
  console.log(`${out}: ${Math.round(png.byteLength / 1024)} KB`);
} finally {
  await browser.close();
  await demo.close();
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGB. */
function decodePng(
  png: Uint8Array,
): { width: number; height: number; rgb: Uint8Array } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length;) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const [depth, color, , , interlace] = data.subarray(8);
      channels = color === 2 ? 3 : color === 6 ? 4 : 0;
      if (depth !== 8 || !channels || interlace) {
        throw new Error(
          `unsupported PNG: depth ${depth}, colour type ${color}`,
        );
      }
    } else if (type === "IDAT") idat.push(data);
    at += 12 + length;
  }
  const raw = new Uint8Array(inflateSync(concat(idat)));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[row + x - channels] : 0;
      const b = y > 0 ? pixels[row - stride + x] : 0;
      const c = x >= channels && y > 0
        ? pixels[row - stride + x - channels]
        : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[row + x] = (line[x] + predictor) & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < pixels.length; i += channels, j += 3) {
    rgb[j] = pixels[i];
    rgb[j + 1] = pixels[i + 1];
    rgb[j + 2] = pixels[i + 2];
  }
  return { width, height, rgb };
}

/** Re-encodes a PNG with a palette of its 256 most frequent colours. */
function toPalettePng(png: Uint8Array): Uint8Array {
  const { width, height, rgb } = decodePng(png);
  const counts = new Map<number, number>();
  for (let i = 0; i < rgb.length; i += 3) {
    const key = (rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const palette = [...counts.entries()].sort((a, b) => b[1] - a[1])
    .slice(0, 256).map(([key]) => key);
  const index = new Map<number, number>();
  const nearest = (key: number): number => {
    let found = index.get(key);
    if (found !== undefined) return found;
    let best = Infinity;
    for (let i = 0; i < palette.length; i++) {
      const p = palette[i];
      const dr = ((p >> 16) & 0xff) - ((key >> 16) & 0xff);
      const dg = ((p >> 8) & 0xff) - ((key >> 8) & 0xff);
      const db = (p & 0xff) - (key & 0xff);
      const d = 3 * dr * dr + 4 * dg * dg + 2 * db * db;
      if (d < best) [best, found] = [d, i];
    }
    index.set(key, found!);
    return found!;
  };
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width + 1)] = 0; // filter: none suits indexed pixels
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[y * (width + 1) + 1 + x] = nearest(
        (rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2],
      );
    }
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header.set([8, 3, 0, 0, 0], 8);
  const plte = new Uint8Array(palette.length * 3);
  palette.forEach((p, i) =>
    plte.set([p >> 16, (p >> 8) & 0xff, p & 0xff], i * 3)
  );
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("PLTE", plte),
    chunk("IDAT", new Uint8Array(deflateSync(raw, { level: 9 }))),
    chunk("IEND", new Uint8Array()),
  ]);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  let crc = 0xffffffff;
  for (const byte of out.subarray(4, 8 + data.length)) {
    crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  }
  view.setUint32(8 + data.length, (crc ^ 0xffffffff) >>> 0);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
