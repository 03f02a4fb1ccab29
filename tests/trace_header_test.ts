import assert from "node:assert/strict";
import {
  formatTraceHeader,
  isSegmentId,
  isTraceId,
  parseTraceHeader,
  responseTraceHeader,
  TRACE_HEADER,
} from "../mod.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";

Deno.test("TRACE_HEADER is the X-Ray header name", () => {
  assert.equal(TRACE_HEADER, "X-Amzn-Trace-Id");
});

Deno.test("parseTraceHeader() reads Root, Parent and Sampled", () => {
  assert.deepEqual(
    parseTraceHeader(`Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=1`),
    {
      root: ROOT,
      parent: "53995c3f42cd8ad8",
      sampled: true,
      data: {},
    },
  );
});

Deno.test("parseTraceHeader() treats keys case-insensitively and trims parts", () => {
  const h = parseTraceHeader(
    ` root = ${ROOT} ; PARENT=53995C3F42CD8AD8 ;sampled= 0 `,
  );
  assert.equal(h?.root, ROOT);
  assert.equal(h?.parent, "53995C3F42CD8AD8");
  assert.equal(h?.sampled, false);
});

Deno.test("parseTraceHeader() keeps Sampled=? as requested", () => {
  assert.equal(
    parseTraceHeader(`Root=${ROOT};Sampled=?`)?.sampled,
    "requested",
  );
});

Deno.test("parseTraceHeader() accepts a Root-only header", () => {
  assert.deepEqual(parseTraceHeader(`Root=${ROOT}`), { root: ROOT, data: {} });
});

Deno.test("parseTraceHeader() drops an invalid Root and parent but keeps the rest", () => {
  const h = parseTraceHeader("Root=1-xyz-abc;Parent=123;Sampled=1");
  assert.deepEqual(h, { sampled: true, data: {} });
});

Deno.test("parseTraceHeader() ignores unknown Sampled values", () => {
  assert.equal(
    parseTraceHeader(`Root=${ROOT};Sampled=yes`)?.sampled,
    undefined,
  );
});

Deno.test("parseTraceHeader() skips parts without '=' or with an empty key", () => {
  const h = parseTraceHeader(
    `garbage;=x;Root=${ROOT};;Lineage=a87bd80c:1|68fd508a:5`,
  );
  assert.deepEqual(h, {
    root: ROOT,
    data: { Lineage: "a87bd80c:1|68fd508a:5" },
  });
});

Deno.test("parseTraceHeader() drops Self and keeps other keys in order with their case", () => {
  const h = parseTraceHeader(`Self=1-abc;Root=${ROOT};Zeta=1;Alpha=2`);
  assert.deepEqual(Object.keys(h!.data), ["Zeta", "Alpha"]);
  assert.equal("Self" in h!.data, false);
});

Deno.test("parseTraceHeader() caps extra data at 256 bytes of key+value", () => {
  const big = "x".repeat(200);
  const h = parseTraceHeader(`Root=${ROOT};A=${big};B=${big};C=1`);
  assert.deepEqual(Object.keys(h!.data), ["A", "C"]);
});

Deno.test("parseTraceHeader() refuses extra data that could not be forwarded safely", () => {
  const h = parseTraceHeader(`Root=${ROOT};Bad=a\nb;Sp ace=1;Ok=fine`);
  assert.deepEqual(h?.data, { Ok: "fine" });
});

Deno.test("parseTraceHeader() keeps __proto__ as plain data", () => {
  const h = parseTraceHeader(`Root=${ROOT};__proto__=x`);
  assert.equal(Object.getPrototypeOf(h!.data), Object.prototype);
  assert.equal(Object.hasOwn(h!.data, "__proto__"), true);
});

Deno.test("parseTraceHeader() returns undefined when nothing usable remains", () => {
  for (
    const v of [
      undefined,
      null,
      "",
      ";;;",
      "Root=bad",
      "Self=1-2-3",
      "no equals",
    ]
  ) {
    assert.equal(parseTraceHeader(v), undefined, String(v));
  }
});

Deno.test("parseTraceHeader() never throws on thousands of random strings", () => {
  const alphabet =
    "Root=Parent;Sampled?01-abcdef\u0000\n \u00e9\ud83d\ude00=;;Self";
  let seed = 7;
  const rand = () =>
    (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 5000; i++) {
    let s = "";
    const n = Math.floor(rand() * 80);
    for (let j = 0; j < n; j++) {
      s += alphabet[Math.floor(rand() * alphabet.length)];
    }
    if (rand() < 0.3) s = `Root=${ROOT};` + s;
    const h = parseTraceHeader(s);
    if (h) {
      // Whatever survives can be written into real Headers.
      new Headers().set(TRACE_HEADER, formatTraceHeader(h));
    }
  }
});

Deno.test("formatTraceHeader() writes Root, Parent, Sampled, then data without spaces", () => {
  assert.equal(
    formatTraceHeader({
      root: ROOT,
      parent: "53995c3f42cd8ad8",
      sampled: "requested",
      data: { Lineage: "a:1" },
    }),
    `Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=?;Lineage=a:1`,
  );
  assert.equal(formatTraceHeader({ sampled: false, data: {} }), "Sampled=0");
});

Deno.test("formatTraceHeader() round-trips what parseTraceHeader() reads", () => {
  const text = `Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1`;
  assert.equal(formatTraceHeader(parseTraceHeader(text)!), text);
});

Deno.test("responseTraceHeader() echoes the decision only when asked with Sampled=?", () => {
  assert.equal(
    responseTraceHeader(ROOT, true, parseTraceHeader(`Root=${ROOT};Sampled=?`)),
    `Root=${ROOT};Sampled=1`,
  );
  assert.equal(
    responseTraceHeader(ROOT, false, parseTraceHeader("Sampled=?")),
    `Root=${ROOT};Sampled=0`,
  );
  assert.equal(
    responseTraceHeader(ROOT, true, parseTraceHeader(`Root=${ROOT};Sampled=1`)),
    `Root=${ROOT}`,
  );
  assert.equal(responseTraceHeader(ROOT, true), `Root=${ROOT}`);
});

Deno.test("isTraceId() and isSegmentId() check the exact formats", () => {
  assert.equal(isTraceId(ROOT), true);
  assert.equal(isTraceId(ROOT.toUpperCase().replace("1-", "1-")), true);
  assert.equal(isTraceId("2-5759e988-bd862e3fe1be46a994272793"), false);
  assert.equal(isTraceId(ROOT + "0"), false);
  assert.equal(isSegmentId("53995c3f42cd8ad8"), true);
  assert.equal(isSegmentId("53995c3f42cd8ad"), false);
  assert.equal(isSegmentId("53995c3f42cd8adg"), false);
});

// A plain reference reading of the same rules (slice, trim; keys in any case, ids kept as sent),
// compared with the allocation-light parser on random input.
function referenceParse(value: string): unknown {
  const out: {
    root?: string;
    parent?: string;
    sampled?: unknown;
    data: Record<string, string>;
  } = {
    data: {},
  };
  let bytes = 0;
  let found = false;
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    const key = part.slice(0, eq).trim();
    const val = part.slice(eq + 1).trim();
    if (!key) continue;
    const lower = /^[A-Za-z]+$/.test(key) ? key.toLowerCase() : "";
    if (lower === "root") {
      if (/^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$/.test(val)) {
        [out.root, found] = [val, true];
      }
    } else if (lower === "parent") {
      if (/^[0-9a-fA-F]{16}$/.test(val)) {
        [out.parent, found] = [val, true];
      }
    } else if (lower === "sampled") {
      if (val === "1") out.sampled = true;
      else if (val === "0") out.sampled = false;
      else if (val === "?") out.sampled = "requested";
      if (out.sampled !== undefined) found = true;
    } else if (lower !== "self") {
      const size = key.length + val.length;
      if (
        bytes + size <= 256 && /^[\x21-\x3a\x3c\x3e-\x7e]+$/.test(key) &&
        /^[\x21-\x3a\x3c-\x7e]*$/.test(val) && !Object.hasOwn(out.data, key)
      ) {
        Object.defineProperty(out.data, key, {
          value: val,
          enumerable: true,
          writable: true,
          configurable: true,
        });
        bytes += size;
        found = true;
      }
    }
  }
  if (!found) return undefined;
  return Object.fromEntries(
    Object.entries(out).filter(([, v]) => v !== undefined),
  );
}

Deno.test("parseTraceHeader() agrees with a plain reference reading on random headers", () => {
  const pieces = [
    "Root",
    "ROOT",
    "rOoT",
    "Parent",
    "PARENT",
    "Sampled",
    "sampled",
    "Self",
    "Lineage",
    "K",
    ROOT,
    ROOT.toUpperCase(),
    "53995c3f42cd8ad8",
    "53995C3F42CD8AD8",
    "1",
    "0",
    "?",
    "=",
    ";",
    " ",
    "\t",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "x",
    "a87bd80c:1",
  ];
  let seed = 11;
  const rand = () =>
    (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 20_000; i++) {
    let h = "";
    for (let n = Math.floor(rand() * 14); n > 0; n--) {
      h += pieces[Math.floor(rand() * pieces.length)];
    }
    assert.deepEqual(parseTraceHeader(h), referenceParse(h), JSON.stringify(h));
  }
});

/**
 * Runs `fn` and counts the characters String#indexOf scanned and the
 * String#charCodeAt calls it made: the parser's work, measured without a
 * clock.
 */
function work(fn: () => void): number {
  const proto = String.prototype;
  const { indexOf, charCodeAt } = proto;
  let count = 0;
  proto.indexOf = function (this: string, search: string, from = 0) {
    const at = indexOf.call(this, search, from);
    count += (at < 0 ? this.length : at) - from + 1;
    return at;
  };
  proto.charCodeAt = function (this: string, at: number) {
    count++;
    return charCodeAt.call(this, at);
  };
  try {
    fn();
  } finally {
    proto.indexOf = indexOf;
    proto.charCodeAt = charCodeAt;
  }
  return count;
}

Deno.test("parseTraceHeader() does work linear in a header of parts without '=', and caps it", () => {
  // 16,000 parts without '=' before a valid Root, then before nothing.
  const parts = ";".repeat(16_000);
  for (
    const header of [parts, `${parts}Root=${ROOT}`, `${"a;".repeat(8_000)}b=c`]
  ) {
    let parsed: unknown = "not called";
    const steps = work(() => parsed = parseTraceHeader(header));
    // Parts beyond the first 2,048 characters are ignored.
    assert.equal(parsed, undefined);
    assert.ok(
      steps <= 3 * 2048,
      `${steps} steps for ${header.length} characters`,
    );
  }
});

Deno.test("parseTraceHeader() reads the first 2,048 characters of a 1 MB header", () => {
  const junk = "x".repeat(1 << 20);
  const head =
    `Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1`;
  for (
    const header of [
      `${head};${junk}`,
      `${head};${"x;".repeat(1 << 19)}`,
      `${head};${" ".repeat(2000)};${junk}=${junk};Self=1`,
    ]
  ) {
    let parsed: unknown;
    const steps = work(() => parsed = parseTraceHeader(header));
    assert.deepEqual(parsed, {
      root: ROOT,
      parent: "53995c3f42cd8ad8",
      sampled: true,
      data: { Lineage: "a87bd80c:1" },
    });
    assert.ok(
      steps <= 3 * 2048,
      `${steps} steps for ${header.length} characters`,
    );
  }
  // A part that starts before the cut is read up to the cut.
  const late = `${" ".repeat(1980)}Root=${ROOT};Sampled=0`;
  assert.deepEqual(parseTraceHeader(late), {
    root: ROOT,
    sampled: false,
    data: {},
  });
  assert.equal(parseTraceHeader(`${" ".repeat(2048)}Root=${ROOT}`), undefined);
});

Deno.test("parseTraceHeader() keeps Root and Parent exactly as received and validates them in any case", () => {
  const h = parseTraceHeader(
    "Root=1-5759E988-BD862e3fe1be46a994272793;Parent=53995C3F42cd8ad8;Sampled=1",
  );
  assert.equal(h?.root, "1-5759E988-BD862e3fe1be46a994272793");
  assert.equal(h?.parent, "53995C3F42cd8ad8");
  // Forwarded unchanged, so a service that keeps the id and one that
  // lower-cases it cannot split the trace downstream of us.
  assert.equal(
    formatTraceHeader(h!),
    "Root=1-5759E988-BD862e3fe1be46a994272793;Parent=53995C3F42cd8ad8;Sampled=1",
  );
  assert.equal(
    parseTraceHeader("Root=1-5759E988-BD862E3FE1BE46A99427279G"),
    undefined,
  );
});
