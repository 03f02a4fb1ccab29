// Microbenchmark: shouldSample() with 100 rules, local and centralized.
// Prints nanoseconds per call for a request that matches the first rule, the
// last rule, and no rule (default). Run: deno run -A scripts/bench_sampling.ts
import { localSampler, type LocalSamplingRule } from "../mod.ts";
import { centralizedSampler } from "../src/sampling.ts";
import type { Sampler, SamplingRequest } from "../src/types.ts";

const RULES = 100;
const CALLS = 1_000_000;

const localRules: LocalSamplingRule[] = Array.from(
  { length: RULES },
  (_, i) => ({
    description: `rule-${i}`,
    host: i % 3 === 0 ? "*" : `svc-${i}.example.com`,
    http_method: i % 2 === 0 ? "GET" : "*",
    url_path: i % 5 === 0 ? `/api/v${i}/*/items` : `/api/v${i}/*`,
    fixed_target: 1,
    rate: 0.05,
  }),
);

const centralRecords = localRules.map((rule, i) => ({
  SamplingRule: {
    RuleName: `rule-${i}`,
    RuleARN: `arn:aws:xray:us-east-1:123456789012:sampling-rule/rule-${i}`,
    ResourceARN: "*",
    Priority: i + 1,
    FixedRate: 0.05,
    ReservoirSize: 1,
    ServiceName: i % 4 === 0 ? "*" : "shop*",
    ServiceType: "*",
    Host: rule.host,
    HTTPMethod: rule.http_method,
    URLPath: rule.url_path,
    Version: 1,
    Attributes: {},
  },
}));
centralRecords.push({
  SamplingRule: {
    ...centralRecords[0].SamplingRule,
    RuleName: "Default",
    Priority: 10000,
    Host: "*",
    HTTPMethod: "*",
    URLPath: "*",
    ServiceName: "*",
  },
});

const local = localSampler({
  version: 2,
  default: { fixed_target: 1, rate: 0.05 },
  rules: localRules,
});
const central = centralizedSampler({
  fetch: (input) =>
    Promise.resolve(
      String(input).endsWith("/GetSamplingRules")
        ? Response.json({ SamplingRuleRecords: centralRecords })
        : Response.json({ SamplingTargetDocuments: [] }),
    ),
});
await central.poll();
if (central.rules().length !== RULES + 1) {
  throw new Error(`expected ${RULES + 1} rules, got ${central.rules().length}`);
}

const cases: [string, SamplingRequest[]][] = [
  ["first rule", [
    {
      host: "svc-0.example.com",
      method: "GET",
      path: "/api/v0/a/items",
      serviceName: "shop",
    },
    {
      host: "svc-0.example.com",
      method: "GET",
      path: "/api/v0/b/items",
      serviceName: "shop",
    },
  ]],
  ["last rule", [
    {
      host: "svc-99.example.com",
      method: "POST",
      path: "/api/v99/x",
      serviceName: "shop",
    },
    {
      host: "svc-99.example.com",
      method: "PUT",
      path: "/api/v99/y",
      serviceName: "shop",
    },
  ]],
  ["no rule (default)", [
    {
      host: "other.example.org",
      method: "DELETE",
      path: "/health",
      serviceName: "shop",
    },
    {
      host: "other.example.org",
      method: "GET",
      path: "/status",
      serviceName: "shop",
    },
  ]],
];

function measure(sampler: Sampler, requests: SamplingRequest[]): number {
  let sampled = 0;
  for (let i = 0; i < 100_000; i++) {
    if (sampler.shouldSample(requests[i & 1]).sampled) sampled++;
  }
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) {
    if (sampler.shouldSample(requests[i & 1]).sampled) sampled++;
  }
  const ns = ((performance.now() - start) * 1e6) / CALLS;
  if (sampled < 0) console.log(sampled); // keep the loop's result alive
  return ns;
}

console.log(`shouldSample() with ${RULES} rules, ${CALLS} calls each`);
for (const [label, requests] of cases) {
  const l = measure(local, requests);
  const c = measure(central, requests);
  console.log(
    `${label.padEnd(18)} local ${
      l.toFixed(1).padStart(6)
    } ns/call   centralized ${c.toFixed(1).padStart(6)} ns/call`,
  );
}
await central.close();
