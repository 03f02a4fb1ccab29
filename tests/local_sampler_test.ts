import assert from "node:assert/strict";
import {
  DEFAULT_SAMPLING_RULES,
  localSampler,
  type LocalSamplingRules,
  wildcardMatch,
} from "../mod.ts";
import { compilePattern, isAscii, matches } from "../src/sampling/_match.ts";

import { fixedClock } from "../src/testing.ts";
import { testTracer } from "./_helpers.ts";

/** A random source that replays `values` in order (then repeats the last). */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}

Deno.test("localSampler() without a document samples 1 request per second, then 5 %", () => {
  const clock = fixedClock();
  const sampler = localSampler(undefined, {
    clock,
    random: sequence(0.5, 0.049, 0.05, 0.5),
  });
  // The first request of the second comes from the reservoir (no random drawn).
  assert.deepEqual(sampler.shouldSample({}), {
    sampled: true,
    ruleName: "Default",
  });
  assert.deepEqual(sampler.shouldSample({}), {
    sampled: false,
    ruleName: "Default",
  }); // 0.5
  assert.equal(sampler.shouldSample({}).sampled, true); // 0.049 < 0.05
  assert.equal(sampler.shouldSample({}).sampled, false); // 0.05 is not < 0.05
  clock.advance(999);
  assert.equal(sampler.shouldSample({}).sampled, false); // same second, 0.5
  clock.advance(1);
  assert.equal(sampler.shouldSample({}).sampled, true); // a new second refills it
  assert.equal(sampler.shouldSample({}).sampled, false);
});

Deno.test("DEFAULT_SAMPLING_RULES is the frozen 1/s + 5 % version 2 document", () => {
  assert.deepEqual(DEFAULT_SAMPLING_RULES, {
    version: 2,
    default: { fixed_target: 1, rate: 0.05 },
    rules: [],
  });
  assert.equal(Object.isFrozen(DEFAULT_SAMPLING_RULES), true);
  assert.equal(Object.isFrozen(DEFAULT_SAMPLING_RULES.default), true);
  assert.throws(() => {
    (DEFAULT_SAMPLING_RULES.default as { rate: number }).rate = 1;
  }, TypeError);
});

const ROUTES: LocalSamplingRules = {
  version: 2,
  default: { fixed_target: 0, rate: 0 },
  rules: [
    {
      description: "health",
      host: "*",
      http_method: "GET",
      url_path: "/health",
      fixed_target: 0,
      rate: 0,
    },
    {
      description: "api",
      host: "*.example.com",
      http_method: "*",
      url_path: "/api/*",
      fixed_target: 0,
      rate: 1,
    },
    {
      host: "admin.example.com",
      http_method: "P?ST",
      url_path: "*",
      fixed_target: 0,
      rate: 1,
    },
  ],
};

Deno.test("localSampler() tries rules in document order and the first match wins", () => {
  const sampler = localSampler(ROUTES, { random: () => 0.5 });
  assert.deepEqual(
    sampler.shouldSample({
      host: "a.example.com",
      method: "GET",
      path: "/api/items",
    }),
    { sampled: true, ruleName: "api" },
  );
  // /health on a host the api rule also matches: health comes first.
  assert.deepEqual(
    sampler.shouldSample({
      host: "a.example.com",
      method: "GET",
      path: "/health",
    }),
    { sampled: false, ruleName: "health" },
  );
  // admin.example.com POST /api/... hits "api" first (document order), not rules[2].
  assert.equal(
    sampler.shouldSample({
      host: "admin.example.com",
      method: "POST",
      path: "/api/x",
    })
      .ruleName,
    "api",
  );
  // A rule without description is named by its place in the document.
  assert.deepEqual(
    sampler.shouldSample({
      host: "admin.example.com",
      method: "POST",
      path: "/x",
    }),
    { sampled: true, ruleName: "rules[2]" },
  );
  assert.deepEqual(
    sampler.shouldSample({ host: "other.org", method: "GET", path: "/api/x" }),
    { sampled: false, ruleName: "Default" },
  );
});

Deno.test("localSampler() matches wildcards case-insensitively, with ? as one character", () => {
  const sampler = localSampler(ROUTES, { random: () => 0.5 });
  assert.equal(
    sampler.shouldSample({
      host: "A.EXAMPLE.COM",
      method: "get",
      path: "/API/Items",
    }).ruleName,
    "api",
  );
  assert.equal(
    sampler.shouldSample({
      host: "admin.example.com",
      method: "PUST",
      path: "/x",
    }).ruleName,
    "rules[2]",
  );
  assert.equal(
    sampler.shouldSample({
      host: "admin.example.com",
      method: "PATCH",
      path: "/x",
    }).ruleName,
    "Default",
  );
  // "/api/*" needs the slash: "/apix" is not under it.
  assert.equal(
    sampler.shouldSample({
      host: "a.example.com",
      method: "GET",
      path: "/apix",
    }).ruleName,
    "Default",
  );
});

Deno.test("localSampler() lets a missing request field match, field by field", () => {
  const sampler = localSampler(ROUTES, { random: () => 0.5 });
  // No host: method and path must still match (unlike the Node SDK, which let a
  // host-less request match the first rule whatever its method and path were).
  assert.equal(
    sampler.shouldSample({ method: "POST", path: "/health" }).ruleName,
    "rules[2]",
  );
  assert.equal(
    sampler.shouldSample({ method: "DELETE", path: "/orders" }).ruleName,
    "Default",
  );
  assert.equal(
    sampler.shouldSample({ method: "GET", path: "/health" }).ruleName,
    "health",
  );
  // No method and no path: the host alone decides.
  assert.equal(
    sampler.shouldSample({ host: "x.example.com" }).ruleName,
    "health",
  );
  assert.equal(sampler.shouldSample({ path: "/api/1" }).ruleName, "api");
  // Nothing at all: the first rule matches.
  assert.equal(sampler.shouldSample({}).ruleName, "health");
});

Deno.test("localSampler() version 1 matches service_name against the request host", () => {
  const sampler = localSampler({
    version: 1,
    default: { fixed_target: 0, rate: 0 },
    rules: [{
      description: "shop",
      service_name: "shop.*",
      http_method: "*",
      url_path: "*",
      fixed_target: 0,
      rate: 1,
    }],
  }, { random: () => 0.5 });
  assert.deepEqual(
    sampler.shouldSample({ host: "shop.example.com", serviceName: "x" }),
    {
      sampled: true,
      ruleName: "shop",
    },
  );
  assert.equal(
    sampler.shouldSample({ host: "cart.example.com", serviceName: "shop.a" })
      .ruleName,
    "Default",
  );
});

Deno.test("localSampler() reservoir takes fixed_target per second, then rate, per rule", () => {
  const clock = fixedClock(1_000_000);
  const draws: number[] = [];
  const values = [0.1, 0.3, 0.29, 0.9];
  const sampler = localSampler({
    version: 2,
    default: { fixed_target: 1, rate: 0 },
    rules: [{
      description: "r",
      host: "*",
      http_method: "*",
      url_path: "/r",
      fixed_target: 3,
      rate: 0.3,
    }],
  }, {
    clock,
    random: () => {
      const v = values[draws.length % values.length];
      draws.push(v);
      return v;
    },
  });
  const r = (): boolean => sampler.shouldSample({ path: "/r" }).sampled;
  const d = (): boolean => sampler.shouldSample({ path: "/d" }).sampled;
  assert.deepEqual([r(), r(), r()], [true, true, true]); // reservoir, no draws
  assert.equal(draws.length, 0);
  assert.deepEqual([r(), r(), r(), r()], [true, false, true, false]); // 0.1 0.3 0.29 0.9
  // The default rule has its own reservoir.
  assert.deepEqual([d(), d()], [true, false]);
  clock.advance(500);
  // The default's second request drew 0.1 (rate 0: no); now 0.3 is not < 0.3.
  assert.equal(r(), false);
  clock.advance(500);
  // A new second refills the reservoir, then 0.29 < 0.3.
  assert.deepEqual([r(), r(), r(), r()], [true, true, true, true]);
  assert.deepEqual([d(), d()], [true, false]); // reservoir, then 0.9
  assert.deepEqual(draws, [0.1, 0.3, 0.29, 0.9, 0.1, 0.3, 0.29, 0.9]);
});

Deno.test("localSampler() with rate 1 samples all and with 0/0 samples none", () => {
  const all = localSampler({
    version: 2,
    default: { fixed_target: 0, rate: 1 },
  }, {
    random: () => 0.999999,
  });
  const none = localSampler({
    version: 2,
    default: { fixed_target: 0, rate: 0 },
  }, {
    random: () => 0,
  });
  for (let i = 0; i < 100; i++) {
    assert.equal(all.shouldSample({}).sampled, true);
    assert.equal(none.shouldSample({}).sampled, false);
  }
});

Deno.test("localSampler() accepts the document as JSON text", () => {
  const sampler = localSampler(JSON.stringify(ROUTES), { random: () => 0.5 });
  assert.equal(sampler.shouldSample({ path: "/api/1" }).ruleName, "api");
  assert.throws(
    () => localSampler("{version: 2"),
    (e: unknown) =>
      e instanceof RangeError &&
      /rules document is not valid JSON/.test(e.message),
  );
});

const RULE = {
  host: "*",
  http_method: "*",
  url_path: "*",
  fixed_target: 1,
  rate: 0.1,
};

const { host: _host, ...NO_HOST } = RULE;

const BAD_DOCUMENTS: [string, unknown, RegExp][] = [
  ["not an object", [], /rules document must be an object/],
  [
    "unknown version",
    { version: 3, default: { fixed_target: 1, rate: 0.1 } },
    /'version' must be 1 or 2: current value is 3/,
  ],
  [
    "missing version",
    { default: { fixed_target: 1, rate: 0.1 } },
    /'version' must be 1 or 2: current value is undefined/,
  ],
  ["missing default", { version: 2, rules: [] }, /'default' must be an object/],
  ["default with host", {
    version: 2,
    default: { host: "*", fixed_target: 1, rate: 0.1 },
  }, /'default.host' is not allowed on the default rule/],
  ["default with http_method", {
    version: 2,
    default: { http_method: "GET", fixed_target: 1, rate: 0.1 },
  }, /'default.http_method' is not allowed/],
  ["default with url_path", {
    version: 1,
    default: { url_path: "/", fixed_target: 1, rate: 0.1 },
  }, /'default.url_path' is not allowed/],
  [
    "default missing rate",
    { version: 2, default: { fixed_target: 1 } },
    /'default.rate' must be a number between 0 and 1: current value is undefined/,
  ],
  ["rules not an array", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: {},
  }, /'rules' must be an array/],
  ["rule not an object", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: ["x"],
  }, /'rules\[0\]' must be an object/],
  ["rule missing host", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: [RULE, { ...RULE, host: undefined }],
  }, /'rules\[1\].host' must be a string pattern: current value is undefined/],
  ["v1 rule missing service_name", {
    version: 1,
    default: { fixed_target: 1, rate: 0.1 },
    rules: [NO_HOST],
  }, /'rules\[0\].service_name' must be a string pattern/],
  [
    "v1 rule with host",
    {
      version: 1,
      default: { fixed_target: 1, rate: 0.1 },
      rules: [{ ...RULE, service_name: "*" }],
    },
    /'rules\[0\].host' is not allowed in a version 1 document \(use 'service_name'\)/,
  ],
  [
    "v2 rule with service_name",
    {
      version: 2,
      default: { fixed_target: 1, rate: 0.1 },
      rules: [{ ...RULE, service_name: "*" }],
    },
    /'rules\[0\].service_name' is not allowed in a version 2 document \(use 'host'\)/,
  ],
  ["rule missing http_method", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: [{ ...RULE, http_method: undefined }],
  }, /'rules\[0\].http_method' must be a string pattern/],
  ["rule missing url_path", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: [{ ...RULE, url_path: 5 }],
  }, /'rules\[0\].url_path' must be a string pattern: current value is 5/],
  [
    "negative fixed_target",
    { version: 2, default: { fixed_target: -1, rate: 0.1 } },
    /'default.fixed_target' must be a non-negative integer: current value is -1/,
  ],
  [
    "fractional fixed_target",
    {
      version: 2,
      default: { fixed_target: 1, rate: 0.1 },
      rules: [{ ...RULE, fixed_target: 1.5 }],
    },
    /'rules\[0\].fixed_target' must be a non-negative integer: current value is 1.5/,
  ],
  [
    "string fixed_target",
    { version: 2, default: { fixed_target: "1", rate: 0.1 } },
    /'default.fixed_target' must be a non-negative integer: current value is "1"/,
  ],
  [
    "rate above 1",
    {
      version: 2,
      default: { fixed_target: 1, rate: 0.1 },
      rules: [RULE, RULE, { ...RULE, rate: 1.5 }],
    },
    /'rules\[2\].rate' must be a number between 0 and 1: current value is 1.5/,
  ],
  [
    "negative rate",
    { version: 2, default: { fixed_target: 1, rate: -0.1 } },
    /'default.rate' must be a number between 0 and 1: current value is -0.1/,
  ],
  [
    "NaN rate",
    { version: 2, default: { fixed_target: 1, rate: NaN } },
    /'default.rate' must be a number between 0 and 1/,
  ],
  ["unknown top-level key", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    extra: true,
  }, /'extra' is not a known key \(expected one of version, default, rules\)/],
  ["unknown rule key", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: [{ ...RULE, priority: 1 }],
  }, /'rules\[0\].priority' is not a known key/],
  ["unknown default key", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1, reservoir: 1 },
  }, /'default.reservoir' is not a known key/],
  ["non-string description", {
    version: 2,
    default: { fixed_target: 1, rate: 0.1 },
    rules: [{ ...RULE, description: 7 }],
  }, /'rules\[0\].description' must be a string/],
];

for (const [what, document, message] of BAD_DOCUMENTS) {
  Deno.test(`localSampler() rejects a rules document with ${what} by a RangeError naming the field`, () => {
    assert.throws(
      () => localSampler(document as LocalSamplingRules),
      (e: unknown) => {
        assert.ok(e instanceof RangeError, `expected RangeError, got ${e}`);
        assert.match(e.message, /^Cannot create local sampler as /);
        assert.match(e.message, message);
        return true;
      },
    );
  });
}

Deno.test("localSampler() rejects an unusable clock or random source with a TypeError", () => {
  assert.throws(
    () => localSampler(undefined, { clock: {} as { now(): number } }),
    /'clock' must have a now\(\) method/,
  );
  assert.throws(
    () => localSampler(undefined, { random: 0.5 as unknown as () => number }),
    /'random' must be a function/,
  );
});

Deno.test("localSampler() never throws: a failing clock reports to onError and answers unsampled", () => {
  const errors: [Error, string][] = [];
  const sampler = localSampler(undefined, {
    clock: {
      now() {
        throw new Error("clock broke");
      },
    },
    onError: (error, source) => errors.push([error, source]),
  });
  assert.deepEqual(sampler.shouldSample({}), { sampled: false });
  assert.equal(errors.length, 1);
  assert.equal(errors[0][0].message, "clock broke");
  assert.equal(errors[0][1], "sampling");
  // Even a throwing error hook and a garbage request do not escape.
  const worse = localSampler(undefined, {
    random: () => {
      throw new Error("no entropy");
    },
    clock: { now: () => 0 },
    onError: () => {
      throw new Error("hook broke");
    },
  });
  assert.equal(worse.shouldSample({}).sampled, true); // reservoir, no draw
  assert.deepEqual(worse.shouldSample(null as unknown as object), {
    sampled: false,
  });
});

Deno.test("localSampler() decisions are reused objects: no allocation per call", () => {
  const sampler = localSampler(ROUTES, { random: () => 0.5 });
  const a = sampler.shouldSample({ path: "/api/1" });
  const b = sampler.shouldSample({ path: "/api/2" });
  assert.equal(a, b);
  assert.equal(Object.isFrozen(a), true);
});

Deno.test("A sampled segment records the local rule name as aws.xray.sampling_rule_name", async () => {
  const { tracer, flushed } = testTracer({
    sampler: localSampler(ROUTES, { random: () => 0.5 }),
  });
  tracer.startSegment("shop", {
    sampling: { host: "a.example.com", method: "GET", path: "/api/cart" },
  }).end();
  // Unsampled by the health rule: nothing is sent.
  tracer.startSegment("shop", {
    sampling: { host: "a.example.com", method: "GET", path: "/health" },
  }).end();
  const docs = await flushed();
  assert.equal(docs.length, 1);
  assert.equal(docs[0].aws.xray.sampling_rule_name, "api");
});

Deno.test("Compiled sampling patterns answer exactly as wildcardMatch, ASCII or not", () => {
  // Includes U+212A (Kelvin sign, lower-cases to ASCII "k") and U+0130
  // (lower-cases to two code units), which the fast path must hand over.
  const patternChars = [
    "a",
    "B",
    "k",
    "-",
    "/",
    "*",
    "?",
    "\u212A",
    "\u0130",
    "i",
  ];
  const textChars = [
    "a",
    "b",
    "K",
    "-",
    "/",
    "*",
    "?",
    "\u212A",
    "\u0130",
    "i",
    "I",
  ];
  let seed = 42;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = (chars: string[], max: number): string => {
    let out = "";
    for (let i = next(max + 1); i > 0; i--) out += chars[next(chars.length)];
    return out;
  };
  for (let i = 0; i < 20_000; i++) {
    const pattern = word(patternChars, 6);
    const text = word(textChars, 8);
    assert.equal(
      matches(compilePattern(pattern), text, isAscii(text)),
      wildcardMatch(pattern, text),
      `${JSON.stringify(pattern)} ~ ${JSON.stringify(text)}`,
    );
  }
});

Deno.test("wildcardMatch() treats every * in the pattern as a wildcard, even facing a * in the text", () => {
  assert.equal(wildcardMatch("*a", "*ba"), true);
  assert.equal(wildcardMatch("/x/*/y", "/x/*/z/y"), true);
  assert.equal(wildcardMatch("a*", "*a"), false);
});
