// matrix: deno — its X-Ray endpoint comes from tests/_server.ts (Deno.serve / Deno.listen)
// centralizedSampler against a real HTTP server on 127.0.0.1 that answers
// GetSamplingRules and GetSamplingTargets with the service's documented
// response shapes; the request shapes are cross-checked with the AWS SDK.
import assert from "node:assert/strict";
import {
  GetSamplingRulesCommand,
  GetSamplingTargetsCommand,
  XRayClient,
} from "@aws-sdk/client-xray";
import { AwsClient } from "aws4fetch";
import {
  centralizedSampler,
  type CentralizedSamplerOptions,
  GET_SAMPLING_RULES_PATH,
  GET_SAMPLING_TARGETS_PATH,
} from "../src/sampling.ts";
import type { Sampler, SamplingDecision } from "../mod.ts";
import { type FixedClock, fixedClock } from "../src/testing.ts";
import { serve, type TestServer } from "./_server.ts";
import { testTracer } from "./_helpers.ts";

// ---------------------------------------------------------------------------
// The scripted X-Ray sampling endpoint

interface Seen {
  method: string;
  path: string;
  contentType: string | null;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
}

interface SamplingServer extends TestServer {
  seen: Seen[];
  rulesCalls(): Seen[];
  targetsCalls(): Seen[];
}

type Handler = (seen: Seen) => Response | Promise<Response>;

function samplingServer(handlers: {
  rules?: Handler;
  targets?: Handler;
}): SamplingServer {
  const seen: Seen[] = [];
  const server = serve(async (request) => {
    const text = await request.text();
    const entry: Seen = {
      method: request.method,
      path: new URL(request.url).pathname,
      contentType: request.headers.get("content-type"),
      headers: request.headers,
      body: text === "" ? undefined : JSON.parse(text),
    };
    seen.push(entry);
    if (entry.path === GET_SAMPLING_RULES_PATH && handlers.rules) {
      return await handlers.rules(entry);
    }
    if (entry.path === GET_SAMPLING_TARGETS_PATH && handlers.targets) {
      return await handlers.targets(entry);
    }
    return Response.json({ message: "Not found" }, {
      status: 404,
      headers: { "x-amzn-errortype": "NotFoundException" },
    });
  });
  return {
    ...server,
    seen,
    rulesCalls: () => seen.filter((s) => s.path === GET_SAMPLING_RULES_PATH),
    targetsCalls: () =>
      seen.filter((s) => s.path === GET_SAMPLING_TARGETS_PATH),
  };
}

/** A SamplingRuleRecord as GetSamplingRules returns it. */
function record(
  name: string,
  rule: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    SamplingRule: {
      RuleName: name,
      RuleARN: `arn:aws:xray:us-east-1:123456789012:sampling-rule/${name}`,
      ResourceARN: "*",
      Priority: 100,
      FixedRate: 0.05,
      ReservoirSize: 1,
      ServiceName: "*",
      ServiceType: "*",
      Host: "*",
      HTTPMethod: "*",
      URLPath: "*",
      Version: 1,
      Attributes: {},
      ...rule,
    },
    CreatedAt: 1700000000,
    ModifiedAt: 1700000000,
  };
}

const DEFAULT_RECORD = record("Default", {
  Priority: 10000,
  FixedRate: 0,
  ReservoirSize: 0,
});

function rulesResponse(
  records: unknown[],
  nextToken?: string,
): Response {
  return Response.json({
    SamplingRuleRecords: records,
    ...(nextToken ? { NextToken: nextToken } : {}),
  });
}

function targetsResponse(
  body: Record<string, unknown> = {},
): Response {
  return Response.json({
    SamplingTargetDocuments: [],
    LastRuleModification: 1700000000,
    UnprocessedStatistics: [],
    ...body,
  });
}

/** A fallback that names itself, so tests can tell who decided. */
function namedFallback(): Sampler & { calls: number } {
  const decision: SamplingDecision = { sampled: false, ruleName: "fallback" };
  return {
    calls: 0,
    shouldSample(): SamplingDecision {
      this.calls++;
      return decision;
    },
  };
}

interface Setup {
  server: SamplingServer;
  clock: FixedClock;
  random: { value: number };
  errors: Error[];
  sampler: ReturnType<typeof centralizedSampler>;
}

function setup(
  handlers: { rules?: Handler; targets?: Handler },
  options: Partial<CentralizedSamplerOptions> = {},
): Setup {
  const server = samplingServer(handlers);
  const clock = fixedClock();
  const random = { value: 0.5 };
  const errors: Error[] = [];
  const sampler = centralizedSampler({
    endpoint: server.url,
    clock,
    random: () => random.value,
    onError: (error, source) => {
      assert.equal(source, "sampling");
      errors.push(error);
    },
    ...options,
  });
  return { server, clock, random, errors, sampler };
}

async function teardown(s: Setup): Promise<void> {
  await s.sampler.close();
  await s.server.close();
}

// ---------------------------------------------------------------------------
// Rules

Deno.test("centralizedSampler() fetches every NextToken page and applies only valid rules, by priority then name, Default last", async () => {
  const s = setup({
    rules: (seen) =>
      seen.body.NextToken === undefined
        ? rulesResponse([
          record("b-rule", { Priority: 5 }),
          DEFAULT_RECORD,
          record("v2-rule", { Version: 2, Priority: 1 }),
        ], "page-2")
        : rulesResponse([
          record("a-rule", { Priority: 5 }),
          record("first", { Priority: 1 }),
          record("one-resource", {
            ResourceARN: "arn:aws:ecs:us-east-1:123456789012:service/x",
            Priority: 1,
          }),
          record("broken", { FixedRate: "high" }),
        ]),
  }, { fallback: namedFallback() });
  try {
    assert.deepEqual(s.sampler.shouldSample({ path: "/" }), {
      sampled: false,
      ruleName: "fallback",
    });
    await s.sampler.pending();
    assert.deepEqual(s.sampler.rules().map((r) => r.name), [
      "first",
      "a-rule",
      "b-rule",
      "Default",
    ]);
    assert.deepEqual(
      s.server.seen.map((x) => [x.method, x.path, x.contentType, x.body]),
      [
        ["POST", "/GetSamplingRules", "application/json", {}],
        ["POST", "/GetSamplingRules", "application/json", {
          NextToken: "page-2",
        }],
      ],
    );
    assert.equal(s.sampler.shouldSample({ path: "/" }).ruleName, "first");
    assert.deepEqual(s.errors, []);
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() matches ServiceName, ServiceType, Host, HTTPMethod, URLPath and Attributes", async () => {
  const s = setup({
    rules: () =>
      rulesResponse([
        record("vip", {
          Priority: 1,
          Attributes: { tier: "gold*", region: "eu-*" },
        }),
        record("ec2-shop", {
          Priority: 2,
          ServiceName: "shop",
          ServiceType: "AWS::EC2::Instance",
        }),
        record("api-post", {
          Priority: 3,
          Host: "*.example.com",
          HTTPMethod: "POST",
          URLPath: "/api/*",
        }),
        DEFAULT_RECORD,
      ]),
  });
  try {
    await s.sampler.poll();
    const name = (request: object): string | undefined =>
      s.sampler.shouldSample(request).ruleName;
    // Attributes rules apply only when the request carries matching attributes.
    assert.equal(
      name({ attributes: { tier: "GOLD-1", region: "eu-west-1" } }),
      "vip",
    );
    assert.equal(
      name({ attributes: { tier: "gold", region: "us-east-1" } }),
      "ec2-shop",
    );
    assert.equal(name({ attributes: { tier: "gold" } }), "ec2-shop");
    assert.equal(
      name({ serviceName: "cart", attributes: { tier: "silver" } }),
      "api-post",
    );
    // Without attributes the vip rule is skipped.
    assert.equal(
      name({ serviceName: "shop", serviceType: "AWS::EC2::Instance" }),
      "ec2-shop",
    );
    assert.equal(
      name({ serviceName: "Shop", serviceType: "AWS::ECS::Container" }),
      "api-post",
    );
    assert.equal(
      name({
        serviceName: "cart",
        host: "a.example.com",
        method: "post",
        path: "/api/x",
      }),
      "api-post",
    );
    assert.equal(
      name({
        serviceName: "cart",
        host: "a.example.com",
        method: "GET",
        path: "/api/x",
      }),
      "Default",
    );
    assert.equal(
      name({
        serviceName: "cart",
        host: "a.example.org",
        method: "POST",
        path: "/api/x",
      }),
      "Default",
    );
  } finally {
    await teardown(s);
  }
});

// ---------------------------------------------------------------------------
// Reservoir, quota and rate

Deno.test("centralizedSampler() borrows 1/s before a quota, takes the quota until its TTL, then uses FixedRate only", async () => {
  let targetBody: Record<string, unknown> = {};
  const s = setup({
    rules: () =>
      rulesResponse([
        record("R", { URLPath: "/r", FixedRate: 0.1, ReservoirSize: 10 }),
        DEFAULT_RECORD,
      ]),
    targets: () => targetsResponse(targetBody),
  });
  const r = (): boolean => s.sampler.shouldSample({ path: "/r" }).sampled;
  try {
    await s.sampler.poll();
    const t0 = s.clock.now();
    // Borrowing: the first request of each second, then FixedRate 0.1.
    assert.deepEqual([r(), r(), r()], [true, false, false]);
    s.random.value = 0.09;
    assert.equal(r(), true);
    s.random.value = 0.1;
    assert.equal(r(), false);
    s.clock.advance(1000);
    assert.deepEqual([r(), r()], [true, false]);
    assert.deepEqual(
      s.sampler.rules().map((
        x,
      ) => [x.name, x.requestCount, x.sampledCount, x.borrowCount]),
      [["R", 7, 3, 2], ["Default", 0, 0, 0]],
    );

    // The service grants 2 per second for a minute, and FixedRate 0.2.
    const ttl = (t0 + 60_000) / 1000;
    targetBody = {
      SamplingTargetDocuments: [{
        RuleName: "R",
        FixedRate: 0.2,
        ReservoirQuota: 2,
        ReservoirQuotaTTL: ttl,
        Interval: 10,
      }],
    };
    await s.sampler.poll();
    const [stats] = s.server.targetsCalls();
    assert.deepEqual(stats.body, {
      SamplingStatisticsDocuments: [{
        RuleName: "R",
        ClientID: s.sampler.clientId,
        Timestamp: Math.floor(s.clock.now() / 1000),
        RequestCount: 7,
        SampledCount: 3,
        BorrowCount: 2,
      }],
    });
    assert.match(s.sampler.clientId, /^[0-9a-f]{24}$/);
    s.clock.advance(1000);
    s.random.value = 0.5;
    assert.deepEqual([r(), r(), r()], [true, true, false]); // quota 2, then rate
    s.random.value = 0.19;
    assert.equal(r(), true); // FixedRate 0.2 from the target
    s.clock.advance(1000);
    s.random.value = 0.5;
    assert.deepEqual([r(), r(), r()], [true, true, false]);
    assert.deepEqual(
      s.sampler.rules().filter((x) => x.name === "R").map((x) => [
        x.requestCount,
        x.sampledCount,
        x.borrowCount,
        x.fixedRate,
        x.reservoirQuota,
        x.reservoirQuotaExpiresAtMs,
      ]),
      [[7, 5, 0, 0.2, 2, t0 + 60_000]],
    );

    // After the TTL: no quota and no borrowing, FixedRate only.
    s.clock.set(t0 + 60_000);
    assert.deepEqual([r(), r()], [false, false]);
    s.random.value = 0.19;
    assert.deepEqual([r(), r()], [true, true]);
    assert.deepEqual(s.errors, []);
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() does not borrow for a rule with ReservoirSize 0 and keeps borrowing when a target carries no quota", async () => {
  const s = setup({
    rules: () =>
      rulesResponse([
        record("none", { URLPath: "/none", FixedRate: 0, ReservoirSize: 0 }),
        record("B", { URLPath: "/b", FixedRate: 0, ReservoirSize: 5 }),
        DEFAULT_RECORD,
      ]),
    targets: () =>
      targetsResponse({
        SamplingTargetDocuments: [{
          RuleName: "B",
          FixedRate: 0,
          Interval: 10,
        }],
      }),
  });
  try {
    await s.sampler.poll();
    assert.equal(s.sampler.shouldSample({ path: "/none" }).sampled, false);
    assert.equal(s.sampler.shouldSample({ path: "/b" }).sampled, true);
    await s.sampler.poll();
    s.clock.advance(1000);
    assert.equal(s.sampler.shouldSample({ path: "/b" }).sampled, true);
    assert.equal(s.sampler.shouldSample({ path: "/b" }).sampled, false);
  } finally {
    await teardown(s);
  }
});

// ---------------------------------------------------------------------------
// Polling schedule

Deno.test("centralizedSampler() polls lazily: targets every 10 s or the returned Interval, rules every 300 s plus jitter", async () => {
  let interval: number | undefined;
  const s = setup({
    rules: () => rulesResponse([record("R"), DEFAULT_RECORD]),
    targets: () =>
      targetsResponse({
        SamplingTargetDocuments: [{
          RuleName: "R",
          FixedRate: 0.05,
          ...(interval === undefined ? {} : { Interval: interval }),
        }],
      }),
  });
  const t0 = s.clock.now();
  const tick = async (): Promise<void> => {
    s.sampler.shouldSample({ path: "/" });
    await s.sampler.pending();
  };
  try {
    await tick(); // first rules fetch
    assert.equal(s.server.rulesCalls().length, 1);
    assert.equal(s.server.targetsCalls().length, 0);
    // Targets: 10 s + random() * 0.1 s of jitter = 10.05 s after the fetch.
    s.clock.set(t0 + 10_049);
    await tick();
    assert.equal(s.server.targetsCalls().length, 0);
    s.clock.set(t0 + 10_050);
    await tick();
    assert.equal(s.server.targetsCalls().length, 1);
    // No Interval in the answer: the next report is 10.05 s later again.
    interval = 3;
    s.clock.set(t0 + 20_099);
    await tick();
    assert.equal(s.server.targetsCalls().length, 1);
    s.clock.set(t0 + 20_100);
    await tick();
    assert.equal(s.server.targetsCalls().length, 2);
    // That answer said Interval 3: the next report comes 3 s later.
    s.clock.set(t0 + 23_099);
    await tick();
    assert.equal(s.server.targetsCalls().length, 2);
    s.clock.set(t0 + 23_100);
    await tick();
    assert.equal(s.server.targetsCalls().length, 3);
    // Rules: 300 s + random() * 5 s = 302.5 s after the first fetch.
    s.clock.set(t0 + 302_499);
    await tick();
    assert.equal(s.server.rulesCalls().length, 1);
    s.clock.set(t0 + 302_500);
    await tick();
    assert.equal(s.server.rulesCalls().length, 2);
    assert.deepEqual(s.errors, []);
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() refetches rules when LastRuleModification is newer, merging by name and keeping counters and quota", async () => {
  let version = 1;
  const s = setup({
    rules: () =>
      rulesResponse(
        version === 1
          ? [
            record("keep", { URLPath: "/k", Priority: 2 }),
            record("gone", { URLPath: "/g" }),
            DEFAULT_RECORD,
          ]
          : [
            record("keep", { URLPath: "/k*", Priority: 3, FixedRate: 0.5 }),
            record("new", { URLPath: "/n", Priority: 1 }),
            record("extra", { URLPath: "/e", Priority: 4 }),
            DEFAULT_RECORD,
          ],
      ),
    targets: (seen) =>
      targetsResponse({
        SamplingTargetDocuments: [{
          RuleName: "keep",
          FixedRate: 0.3,
          ReservoirQuota: 4,
          ReservoirQuotaTTL: s.clock.now() / 1000 + 600,
          Interval: 10,
        }],
        // Modified after our fetch only on the first report.
        LastRuleModification: seen === s.server.targetsCalls()[0]
          ? s.clock.now() / 1000 + 1
          : 1700000000,
      }),
  }, { fallback: namedFallback() });
  try {
    await s.sampler.poll();
    s.sampler.shouldSample({ path: "/k" });
    await s.sampler.poll(); // rules again (unchanged) + the first report
    assert.equal(s.server.rulesCalls().length, 2);
    assert.equal(s.server.targetsCalls().length, 1);
    // Decided once under the old rules with these field values (cached).
    assert.equal(
      s.sampler.shouldSample({ host: "h.example.com", path: "/zzz" }).ruleName,
      "Default",
    );
    version = 2;
    // The report said rules changed: the next decision (counted under the
    // current rules) starts a refetch, without waiting for the 300 s schedule.
    s.sampler.shouldSample({ path: "/k" });
    await s.sampler.pending();
    assert.equal(s.server.rulesCalls().length, 3);
    const keep = s.sampler.rules().find((r) => r.name === "keep");
    assert.deepEqual(
      s.sampler.rules().map((r) => r.name),
      ["new", "keep", "extra", "Default"],
    );
    assert.equal(keep?.urlPath, "/k*");
    assert.equal(keep?.fixedRate, 0.5); // the rule's own rate until the next target
    assert.equal(keep?.reservoirQuota, 4); // quota kept across the refresh
    assert.equal(keep?.requestCount, 1); // counter kept
    assert.equal(s.sampler.shouldSample({ path: "/kx" }).ruleName, "keep");
    assert.equal(s.sampler.shouldSample({ path: "/g" }).ruleName, "Default");
    // The same field values see the new rule list, not a stale cached one.
    assert.equal(
      s.sampler.shouldSample({ host: "h.example.com", path: "/zzz" }).ruleName,
      "Default",
    );
    assert.equal(
      s.sampler.shouldSample({ host: "h.example.com", path: "/e" }).ruleName,
      "extra",
    );
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() reports at most 25 statistics documents per GetSamplingTargets call", async () => {
  const records = Array.from(
    { length: 30 },
    (_, i) =>
      record(`rule-${String(i).padStart(2, "0")}`, {
        URLPath: `/p${i}`,
        Priority: i + 1,
      }),
  );
  const s = setup({
    rules: () => rulesResponse([...records, DEFAULT_RECORD]),
    targets: (seen) =>
      targetsResponse({
        SamplingTargetDocuments: seen.body.SamplingStatisticsDocuments.map((
          d: { RuleName: string },
        ) => ({ RuleName: d.RuleName, FixedRate: 1, Interval: 10 })),
      }),
  });
  try {
    await s.sampler.poll();
    for (let i = 0; i < 30; i++) s.sampler.shouldSample({ path: `/p${i}` });
    s.sampler.shouldSample({ path: "/elsewhere" });
    await s.sampler.poll();
    const calls = s.server.targetsCalls();
    assert.deepEqual(
      calls.map((c) => c.body.SamplingStatisticsDocuments.length),
      [25, 6],
    );
    const docs = calls.flatMap((c) => c.body.SamplingStatisticsDocuments);
    assert.deepEqual(
      new Set(docs.map((d: { ClientID: string }) => d.ClientID)),
      new Set([s.sampler.clientId]),
    );
    assert.equal(
      docs.every((d: { RequestCount: number }) => d.RequestCount === 1),
      true,
    );
    // Targets from both calls applied: every rule now samples at FixedRate 1.
    assert.equal(s.sampler.rules().filter((r) => r.fixedRate === 1).length, 31);
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() reports UnprocessedStatistics through onError and ignores unknown response fields", async () => {
  const s = setup({
    rules: () => rulesResponse([record("R"), DEFAULT_RECORD]),
    targets: () =>
      targetsResponse({
        SamplingTargetDocuments: [{
          RuleName: "R",
          FixedRate: 0.25,
          ReservoirQuota: 3,
          ReservoirQuotaTTL: 1767225660,
          Interval: 10,
          SamplingBoost: { BoostRate: 0.9, BoostRateTTL: 1767225660 },
        }, { RuleName: "no-such-rule", FixedRate: 1 }],
        UnprocessedStatistics: [{
          RuleName: "Default",
          ErrorCode: "400",
          Message: "Rule does not exist",
        }],
        UnprocessedBoostStatistics: [],
        SomethingNew: { x: 1 },
      }),
  });
  try {
    await s.sampler.poll();
    s.sampler.shouldSample({ path: "/" });
    await s.sampler.poll();
    assert.equal(s.errors.length, 1);
    assert.match(
      s.errors[0].message,
      /did not process statistics for 'Default' \(400: Rule does not exist\)/,
    );
    const [rule] = s.sampler.rules();
    assert.equal(rule.fixedRate, 0.25);
    assert.equal(rule.reservoirQuota, 3);
  } finally {
    await teardown(s);
  }
});

// ---------------------------------------------------------------------------
// Failures and fallback

Deno.test("centralizedSampler() reports service errors, falls back to local rules and retries with backoff", async () => {
  const answers: (() => Response)[] = [
    () =>
      Response.json({ message: "Internal failure" }, {
        status: 500,
        headers: {
          "x-amzn-errortype": "InternalFailure:http://internal.amazon.com/",
        },
      }),
    () =>
      Response.json({ message: "Rate exceeded" }, {
        status: 429,
        headers: { "x-amzn-errortype": "ThrottledException" },
      }),
    () => new Response("<html>bad gateway</html>", { status: 200 }),
    () => Response.json({ SamplingRuleRecords: "nope" }),
    () => rulesResponse([record("R", { FixedRate: 1 }), DEFAULT_RECORD]),
  ];
  const fallback = namedFallback();
  const s = setup({ rules: () => answers.shift()!() }, { fallback });
  const t0 = s.clock.now();
  const decide = async (): Promise<SamplingDecision> => {
    const d = s.sampler.shouldSample({ path: "/" });
    await s.sampler.pending();
    return d;
  };
  try {
    assert.equal((await decide()).ruleName, "fallback");
    assert.match(
      s.errors[0].message,
      /GetSamplingRules failed with HTTP 500 \(InternalFailure\): Internal failure/,
    );
    // Retry after 10 s, then 20 s, 40 s, 80 s.
    s.clock.set(t0 + 9_999);
    assert.equal((await decide()).ruleName, "fallback");
    assert.equal(s.server.rulesCalls().length, 1);
    s.clock.set(t0 + 10_000);
    await decide();
    assert.equal(s.server.rulesCalls().length, 2);
    assert.match(
      s.errors[1].message,
      /HTTP 429 \(ThrottledException\): Rate exceeded/,
    );
    s.clock.set(t0 + 29_999);
    await decide();
    assert.equal(s.server.rulesCalls().length, 2);
    s.clock.set(t0 + 30_000);
    await decide();
    assert.match(
      s.errors[2].message,
      /GetSamplingRules answered with a body that is not JSON/,
    );
    s.clock.set(t0 + 70_000);
    await decide();
    assert.match(s.errors[3].message, /without a SamplingRuleRecords list/);
    s.clock.set(t0 + 150_000);
    assert.equal((await decide()).ruleName, "fallback"); // this call fetched them
    assert.deepEqual(s.sampler.shouldSample({ path: "/" }), {
      sampled: true,
      ruleName: "R",
    });
    assert.equal(s.errors.length, 4);
    assert.equal(s.errors.every((e) => e.name === "XRayError"), true);
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() turns a refused connection into onError and the default local fallback", async () => {
  const closed = serve(() => new Response());
  const url = closed.url;
  await closed.close();
  const errors: Error[] = [];
  const sampler = centralizedSampler({
    endpoint: url,
    clock: fixedClock(),
    random: () => 0.5,
    onError: (e) => errors.push(e),
  });
  try {
    // The default fallback: 1 request/second, then 5 %.
    assert.deepEqual(sampler.shouldSample({}), {
      sampled: true,
      ruleName: "Default",
    });
    assert.deepEqual(sampler.shouldSample({}), {
      sampled: false,
      ruleName: "Default",
    });
    await sampler.pending();
    assert.equal(errors.length, 1);
    assert.match(
      errors[0].message,
      new RegExp(`^GetSamplingRules to ${url} failed: `),
    );
    assert.deepEqual(sampler.rules(), []);
  } finally {
    await sampler.close();
  }
});

Deno.test("centralizedSampler() aborts a request that takes longer than timeoutMs", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const s = setup({
    rules: async () => {
      await gate;
      return rulesResponse([DEFAULT_RECORD]);
    },
  }, { timeoutMs: 50 });
  try {
    s.sampler.shouldSample({});
    await s.sampler.pending();
    assert.equal(s.errors.length, 1);
    assert.match(s.errors[0].message, /GetSamplingRules timed out after 50 ms/);
  } finally {
    release();
    await teardown(s);
  }
});

Deno.test("centralizedSampler() uses the fallback once rules are older than an hour", async () => {
  let healthy = true;
  const fallback = namedFallback();
  const s = setup({
    rules: () =>
      healthy
        ? rulesResponse([record("R", { FixedRate: 1 }), DEFAULT_RECORD])
        : new Response("{}", { status: 503 }),
  }, { fallback });
  const t0 = s.clock.now();
  try {
    await s.sampler.poll();
    healthy = false;
    s.clock.set(t0 + 3_600_000);
    assert.equal(s.sampler.shouldSample({}).ruleName, "R"); // an hour old: still used
    await s.sampler.pending();
    s.clock.set(t0 + 3_600_001);
    assert.equal(s.sampler.shouldSample({}).ruleName, "fallback");
    assert.ok(s.errors.length >= 1);
    assert.match(s.errors[0].message, /HTTP 503/);
  } finally {
    await teardown(s);
  }
});

Deno.test("centralizedSampler() keeps statistics that could not be delivered for the next report", async () => {
  let fail = true;
  const s = setup({
    rules: () =>
      rulesResponse([
        record("R", { ReservoirSize: 0, FixedRate: 1 }),
        DEFAULT_RECORD,
      ]),
    targets: () =>
      fail ? new Response("{}", { status: 500 }) : targetsResponse(),
  });
  try {
    await s.sampler.poll();
    s.sampler.shouldSample({});
    s.sampler.shouldSample({});
    await s.sampler.poll();
    assert.equal(s.errors.length, 1);
    s.sampler.shouldSample({});
    fail = false;
    await s.sampler.poll();
    const calls = s.server.targetsCalls();
    assert.equal(calls.length, 2);
    assert.deepEqual(
      calls.map((c) => c.body.SamplingStatisticsDocuments[0].RequestCount),
      [2, 3],
    );
  } finally {
    await teardown(s);
  }
});

// ---------------------------------------------------------------------------
// Never waiting, waitUntil, interval mode

Deno.test("centralizedSampler() decides without waiting and hands the polling promise to waitUntil", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let answered = false;
  const handed: Promise<unknown>[] = [];
  const s = setup({
    rules: async () => {
      await gate;
      answered = true;
      return rulesResponse([record("R", { FixedRate: 1 }), DEFAULT_RECORD]);
    },
  }, { waitUntil: (p) => handed.push(p), fallback: namedFallback() });
  try {
    // The server has not answered, yet decisions come back at once.
    assert.equal(s.sampler.shouldSample({}).ruleName, "fallback");
    assert.equal(s.sampler.shouldSample({}).ruleName, "fallback");
    assert.equal(answered, false);
    assert.equal(handed.length, 1); // one poll in flight, handed over once
    assert.equal(s.sampler.pending(), handed[0]);
    release();
    await handed[0];
    assert.equal(answered, true);
    assert.equal(s.sampler.shouldSample({}).ruleName, "R");
    // Nothing due: no new work, pending() is already settled.
    assert.equal(handed.length, 1);
    await s.sampler.pending();
  } finally {
    release();
    await teardown(s);
  }
});

Deno.test("centralizedSampler() in interval mode polls on its own timer until close()", async () => {
  let fetched!: () => void;
  const firstFetch = new Promise<void>((resolve) => fetched = resolve);
  const server = samplingServer({
    rules: () => {
      fetched();
      return rulesResponse([record("R", { FixedRate: 1 }), DEFAULT_RECORD]);
    },
  });
  const sampler = centralizedSampler({
    endpoint: server.url,
    pollMode: "interval",
  });
  try {
    await firstFetch; // no shouldSample call was made
    await sampler.pending();
    assert.deepEqual(sampler.rules().map((r) => r.name), ["R", "Default"]);
    assert.equal(sampler.shouldSample({}).ruleName, "R");
  } finally {
    await sampler.close();
    await server.close();
  }
});

// ---------------------------------------------------------------------------
// Endpoints, signing, configuration

Deno.test("centralizedSampler() finds the daemon through AWS_XRAY_DAEMON_ADDRESS's tcp part or a host:port endpoint", async () => {
  const server = samplingServer({
    rules: () => rulesResponse([DEFAULT_RECORD]),
  });
  try {
    for (
      const options of [
        {
          env: {
            AWS_XRAY_DAEMON_ADDRESS:
              `tcp:127.0.0.1:${server.port} udp:127.0.0.1:9`,
          },
        },
        { env: { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${server.port}` } },
        { endpoint: `127.0.0.1:${server.port}` },
        { endpoint: new URL(`${server.url}/`) },
      ]
    ) {
      const sampler = centralizedSampler(options);
      await sampler.poll();
      assert.deepEqual(sampler.rules().map((r) => r.name), ["Default"]);
      await sampler.close();
    }
    assert.equal(server.rulesCalls().length, 4);
    assert.equal(
      server.seen.every((x) => x.path === "/GetSamplingRules"),
      true,
    );
  } finally {
    await server.close();
  }
});

Deno.test("centralizedSampler() signs requests when given an aws4fetch signing fetch", async () => {
  const server = samplingServer({
    rules: () => rulesResponse([record("R"), DEFAULT_RECORD]),
    targets: () => targetsResponse(),
  });
  const aws = new AwsClient({
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    sessionToken: "session-token",
    region: "us-east-1",
    service: "xray",
  });
  const sampler = centralizedSampler({
    endpoint: server.url,
    region: "us-east-1",
    fetch: (input, init) => aws.fetch(input as string, init),
  });
  try {
    await sampler.poll();
    sampler.shouldSample({});
    await sampler.poll();
    assert.deepEqual(server.seen.map((x) => x.path), [
      "/GetSamplingRules",
      "/GetSamplingRules",
      "/SamplingTargets",
    ]);
    for (const seen of server.seen) {
      assert.match(
        seen.headers.get("authorization") ?? "",
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/xray\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
      assert.equal(seen.headers.get("x-amz-security-token"), "session-token");
      assert.match(seen.headers.get("x-amz-date") ?? "", /^\d{8}T\d{6}Z$/);
    }
  } finally {
    await sampler.close();
    await server.close();
  }
});

Deno.test("centralizedSampler() rejects bad options with errors naming the option", () => {
  const cases: [Partial<CentralizedSamplerOptions>, RegExp][] = [
    [{ endpoint: "no port here" }, /'endpoint' must be a URL, host:port/],
    [{ endpoint: "http://[::1" }, /'endpoint' must be a URL or host:port/],
    [{ env: { AWS_XRAY_DAEMON_ADDRESS: "tcp:1.2.3.4" } }, /'endpoint'/],
    [
      { region: "US East" },
      /'region' must be an AWS region name: current value is 'US East'/,
    ],
    [
      { clientId: "abc" },
      /'clientId' must be 24 hexadecimal digits: current value is 'abc'/,
    ],
    [
      { pollMode: "sometimes" as "lazy" },
      /'pollMode' must be 'lazy' or 'interval'/,
    ],
    [
      { rulesIntervalMs: 0 },
      /'rulesIntervalMs' must be a positive number: current value is 0/,
    ],
    [
      { targetsIntervalMs: -1 },
      /'targetsIntervalMs' must be a positive number/,
    ],
    [{ maxRuleAgeMs: Number.NaN }, /'maxRuleAgeMs' must be a positive number/],
    [{ timeoutMs: Infinity }, /'timeoutMs' must be a positive number/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => centralizedSampler(options), (e: unknown) => {
      assert.ok(e instanceof RangeError, `${JSON.stringify(options)}: ${e}`);
      assert.match(e.message, /^Cannot create centralized sampler as /);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.throws(
    () => centralizedSampler({ fallback: {} as Sampler }),
    TypeError,
  );
  assert.throws(
    () => centralizedSampler({ waitUntil: "x" as unknown as () => void }),
    TypeError,
  );
  // Creating a sampler does no I/O: nothing is fetched until shouldSample or poll.
  let calls = 0;
  const idle = centralizedSampler({
    fetch: () => {
      calls++;
      return Promise.resolve(new Response("{}"));
    },
  });
  assert.equal(calls, 0);
  assert.match(idle.clientId, /^[0-9a-f]{24}$/);
});

Deno.test("centralizedSampler() never throws from shouldSample, even with a failing clock", async () => {
  const errors: Error[] = [];
  let broken = false;
  const sampler = centralizedSampler({
    fetch: () => Promise.resolve(rulesResponse([DEFAULT_RECORD])),
    clock: {
      now: () => {
        if (broken) throw new Error("clock broke");
        return 0;
      },
    },
    onError: (e) => errors.push(e),
  });
  await sampler.poll();
  broken = true;
  assert.deepEqual(sampler.shouldSample({}), { sampled: false });
  assert.equal(errors[0].message, "clock broke");
  broken = false;
  await sampler.close();
});

// ---------------------------------------------------------------------------
// Cross-checks with the AWS SDK and the tracer

Deno.test("centralizedSampler() sends the same requests as @aws-sdk/client-xray, and the SDK reads the test server's answers", async () => {
  const s = setup({
    rules: (seen) =>
      seen.body.NextToken === undefined
        ? rulesResponse(
          [record("R", { ReservoirSize: 0, FixedRate: 1 })],
          "next",
        )
        : rulesResponse([DEFAULT_RECORD]),
    targets: () =>
      targetsResponse({
        SamplingTargetDocuments: [{
          RuleName: "R",
          FixedRate: 0.5,
          ReservoirQuota: 7,
          ReservoirQuotaTTL: 1767225660,
          Interval: 10,
        }],
        LastRuleModification: 1767225000,
        UnprocessedStatistics: [{
          RuleName: "X",
          ErrorCode: "400",
          Message: "m",
        }],
      }),
  }, { clientId: "0123456789abcdef01234567" });
  const client = new XRayClient({
    endpoint: s.server.url,
    region: "us-east-1",
    credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
  });
  try {
    await s.sampler.poll();
    s.sampler.shouldSample({});
    s.sampler.shouldSample({});
    await s.sampler.poll();
    const ours = s.server.seen.slice();
    assert.equal(ours.length, 5); // 2 rules pages, 2 more, 1 targets report

    const page1 = await client.send(new GetSamplingRulesCommand({}));
    const page2 = await client.send(
      new GetSamplingRulesCommand({ NextToken: page1.NextToken }),
    );
    const targets = await client.send(
      new GetSamplingTargetsCommand({
        SamplingStatisticsDocuments: [{
          RuleName: "R",
          ClientID: "0123456789abcdef01234567",
          Timestamp: new Date(s.clock.now()),
          RequestCount: 2,
          SampledCount: 2,
          BorrowCount: 0,
        }],
      }),
    );
    const sdk = s.server.seen.slice(5);
    const shape = (x: Seen): unknown[] => [
      x.method,
      x.path,
      x.contentType,
      JSON.stringify(x.body),
    ];
    assert.deepEqual(sdk.map(shape), [ours[2], ours[3], ours[4]].map(shape));
    assert.deepEqual(ours[0].body, {});

    // The SDK parses the server's answers as the service's: the fake is faithful.
    assert.equal(page1.NextToken, "next");
    assert.equal(page1.SamplingRuleRecords?.[0].SamplingRule?.RuleName, "R");
    assert.equal(page1.SamplingRuleRecords?.[0].SamplingRule?.Version, 1);
    assert.equal(page2.SamplingRuleRecords?.[0].SamplingRule?.Priority, 10000);
    const [target] = targets.SamplingTargetDocuments ?? [];
    assert.equal(target.ReservoirQuota, 7);
    assert.equal(target.ReservoirQuotaTTL?.getTime(), 1767225660000);
    assert.equal(target.Interval, 10);
    assert.equal(targets.LastRuleModification?.getTime(), 1767225000000);
    assert.equal(targets.UnprocessedStatistics?.[0].ErrorCode, "400");
    // And the sampler read the same answer the same way.
    const rule = s.sampler.rules().find((r) => r.name === "R");
    assert.equal(rule?.reservoirQuota, 7);
    assert.equal(rule?.reservoirQuotaExpiresAtMs, 1767225660000);
    assert.equal(rule?.fixedRate, 0.5);
  } finally {
    client.destroy();
    await teardown(s);
  }
});

Deno.test("A tracer with centralizedSampler records the centralized rule name on sampled segments", async () => {
  const server = samplingServer({
    rules: () =>
      rulesResponse([
        record("Shop", { ServiceName: "shop", FixedRate: 1, ReservoirSize: 0 }),
        DEFAULT_RECORD,
      ]),
  });
  const sampler = centralizedSampler({ endpoint: server.url });
  const t = testTracer({ sampler });
  try {
    t.tracer.startSegment("shop").end(); // fallback decides while rules load
    await sampler.pending();
    t.tracer.startSegment("shop").end();
    t.tracer.startSegment("cart").end(); // Default: FixedRate 0, no reservoir
    const docs = await t.flushed();
    const named = docs.filter((d) =>
      d.aws?.xray?.sampling_rule_name === "Shop"
    );
    assert.equal(named.length, 1);
    assert.equal(named[0].name, "shop");
    assert.equal(docs.some((d) => d.name === "cart"), false);
    assert.deepEqual(t.errors, []);
  } finally {
    await sampler.close();
    await server.close();
  }
});
