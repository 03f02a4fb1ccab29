// matrix: deno — drives a real workerd (Miniflare) from the host: centralized sampling polled through ctx.waitUntil
// Centralized sampling in a real Worker (workerd through Miniflare). The X-Ray
// sampling API and the document collector are real HTTP servers on 127.0.0.1;
// the Worker (tests/workerd/_sampling_worker.ts) has no timers and never
// flushes by itself, so every poll it makes rides on the request's
// ctx.waitUntil(tracer.flush()) that the Hono middleware hands over.
import { bundleWorker } from "./_bundle.ts";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { assertValidDocuments } from "../_schema.ts";
import { serve } from "../_server.ts";
import type { CentralizedRuleState } from "../../src/sampling.ts";

function rule(
  name: string,
  priority: number,
  urlPath: string,
  fixedRate: number,
  reservoirSize: number,
): Record<string, unknown> {
  return {
    SamplingRule: {
      RuleName: name,
      RuleARN: `arn:aws:xray:us-east-1:123456789012:sampling-rule/${name}`,
      ResourceARN: "*",
      Priority: priority,
      FixedRate: fixedRate,
      ReservoirSize: reservoirSize,
      ServiceName: "*",
      ServiceType: "*",
      Host: "*",
      HTTPMethod: "*",
      URLPath: urlPath,
      Version: 1,
      Attributes: {},
    },
    CreatedAt: 1700000000,
    ModifiedAt: 1700000000,
  };
}

// "/quiet" is never sampled and "/traced" only through its reservoir (1/s
// borrowed until a quota arrives); Default samples nothing. The local
// fallback samples the first request of each second, so the first "/quiet"
// request is sampled before the rules arrive and not after.
const RULES = {
  SamplingRuleRecords: [
    rule("Default", 10000, "*", 0, 0),
    rule("quiet", 1, "/quiet", 0, 0),
    rule("traced", 2, "/traced", 0, 1),
  ],
};

/** One statistics document as the Worker reported it. */
interface Statistics {
  RuleName: string;
  ClientID: string;
  Timestamp: number;
  RequestCount: number;
  SampledCount: number;
  BorrowCount: number;
}

/** The parts of a delivered segment document the test reads. */
interface Delivered {
  http: { request: { url: string } };
  aws: { xray: { sampling_rule_name?: string } };
}

/** What the Worker's `/__sampler` hook answers. */
interface SamplerState {
  rules: CentralizedRuleState[];
  errors: string[];
}

/** A promise the test resolves later, and whether it has. */
function latch<T = void>(): PromiseWithResolvers<T> & { done: boolean } {
  const p = Promise.withResolvers<T>();
  const out = { ...p, done: false };
  out.resolve = (value: T | PromiseLike<T>) => {
    out.done = true;
    p.resolve(value);
  };
  return out;
}

Deno.test({
  name:
    "centralized sampling in a Worker: the fallback decides at once, GetSamplingRules and SamplingTargets go out through ctx.waitUntil, and later requests follow the fetched rules and quota",
  // Miniflare keeps internal handles between its own start and dispose.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const rulesArrived = latch<unknown>();
    const releaseRules = latch();
    let rulesCalls = 0;
    const targets = [latch<Statistics[]>(), latch<Statistics[]>()];
    let targetsCalls = 0;
    // The Worker's clock skew when a quota is handed out (its TTL is epoch seconds on that clock).
    let skewMs = 0;
    const api = await serve(async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method === "POST" && path === "/GetSamplingRules") {
        rulesCalls++;
        rulesArrived.resolve(await req.json());
        // Held until the test has the first request's response.
        await releaseRules.promise;
        return Response.json(RULES);
      }
      if (req.method === "POST" && path === "/SamplingTargets") {
        const body = await req.json();
        const call = targetsCalls++;
        const ttl = Math.floor((Date.now() + skewMs) / 1000) + 300;
        targets[call]?.resolve(body.SamplingStatisticsDocuments);
        return Response.json({
          SamplingTargetDocuments: [{
            RuleName: "traced",
            FixedRate: 0,
            ReservoirQuota: 5,
            ReservoirQuotaTTL: ttl,
            Interval: 10,
          }],
          UnprocessedStatistics: [],
        });
      }
      return new Response("not found", { status: 404 });
    });
    const docs: Delivered[] = [];
    let waiter: { n: number; resolve: () => void } | undefined;
    const collector = await serve(async (req) => {
      for (const d of JSON.parse(await req.text())) docs.push(JSON.parse(d));
      if (waiter && docs.length >= waiter.n) waiter.resolve();
      return new Response("ok");
    });
    const mf = new Miniflare({
      modules: true,
      script: await bundleWorker(
        new URL("./_sampling_worker.ts", import.meta.url),
      ),
      compatibilityDate: "2026-07-01",
      compatibilityFlags: ["nodejs_compat"],
      cf: false,
      bindings: { XRAY_ENDPOINT: api.url, COLLECTOR: collector.url },
    });
    /** Resolves `p`, or fails the test after 10 s with `what`. */
    const within = async <T>(p: Promise<T>, what: string): Promise<T> => {
      let guard: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          p,
          new Promise<never>((_, reject) => {
            guard = setTimeout(() => reject(new Error(what)), 10000);
          }),
        ]);
      } finally {
        clearTimeout(guard);
      }
    };
    const get = async (path: string, skew?: number) => {
      const headers: Record<string, string> = {};
      if (skew !== undefined) headers["x-test-clock-skew-ms"] = String(skew);
      const res = await mf.dispatchFetch(`http://shop.example.com${path}`, {
        headers,
      });
      assert.equal(res.status, 200);
      return await res.json() as { sampled: boolean; ruleName: string | null };
    };
    const samplerState = async (): Promise<SamplerState> =>
      await (await mf.dispatchFetch("http://shop.example.com/__sampler"))
        .json() as SamplerState;
    /** Asks the Worker (without a sampling decision) until `ok` holds for its sampler. */
    const until = async (
      ok: (s: SamplerState) => boolean,
      what: string,
    ) => {
      await within(
        (async () => {
          while (!ok(await samplerState())) {
            await new Promise((r) => setTimeout(r, 20));
          }
        })(),
        what,
      );
    };
    try {
      // 1. No rules yet: the local fallback decides, and the response comes
      //    back while GetSamplingRules is still unanswered on the server.
      const first = await get("/quiet");
      assert.deepEqual(first, { sampled: true, ruleName: "Default" });
      assert.equal(releaseRules.done, false);
      assert.deepEqual(
        await within(rulesArrived.promise, "no GetSamplingRules call"),
        {},
      );
      assert.equal(rulesCalls, 1);

      // 2. The rules call was started by request 1 and outlives its response:
      //    only ctx.waitUntil keeps it alive in workerd. Answer it now.
      releaseRules.resolve();
      await until(
        (s) => s.rules.length === 3,
        "the rules answered after the response never reached the Worker",
      );
      assert.deepEqual(
        (await samplerState()).rules.map((r) => r.name),
        ["quiet", "traced", "Default"],
      );

      // 3. The fetched rules decide now: "/quiet" (sampled by the fallback
      //    before) is dropped, "/traced" borrows from its reservoir.
      assert.deepEqual(await get("/quiet"), {
        sampled: false,
        ruleName: "quiet",
      });
      assert.deepEqual(await get("/traced"), {
        sampled: true,
        ruleName: "traced",
      });
      assert.equal(targetsCalls, 0);
      assert.equal(rulesCalls, 1);

      // 4. 20 s later on the Worker's clock, the next request reports
      //    statistics (a new second: it borrows again, and is counted).
      skewMs = 20000;
      assert.deepEqual(await get("/traced", 20000), {
        sampled: true,
        ruleName: "traced",
      });
      const report = await within(
        targets[0].promise,
        "no SamplingTargets call after 10 s of Worker time",
      );
      const clientId = report[0].ClientID;
      assert.match(clientId, /^[0-9a-f]{24}$/);
      const byRule = (stats: Statistics[]) =>
        Object.fromEntries(
          stats.map((
            s,
          ) => [s.RuleName, [s.RequestCount, s.SampledCount, s.BorrowCount]]),
        );
      assert.deepEqual(byRule(report), {
        quiet: [1, 0, 0],
        traced: [2, 2, 2],
      });
      for (const s of report) {
        assert.equal(s.ClientID, clientId);
        assert.ok(Number.isInteger(s.Timestamp));
      }
      await until(
        (s) => s.rules.find((r) => r.name === "traced")?.reservoirQuota === 5,
        "the SamplingTargets quota never reached the Worker",
      );

      // 5. Past the returned Interval, "/traced" is sampled from the quota
      //    (no borrowing), and the next report says so (every rule that has
      //    ever matched is reported, "quiet" with zero counts).
      skewMs = 40000;
      assert.deepEqual(await get("/traced", 40000), {
        sampled: true,
        ruleName: "traced",
      });
      const second = await within(
        targets[1].promise,
        "no second SamplingTargets call after the returned Interval",
      );
      assert.deepEqual(byRule(second), {
        quiet: [0, 0, 0],
        traced: [1, 1, 0],
      });
      assert.equal(second[0].ClientID, clientId);
      assert.equal(rulesCalls, 1);

      // 6. The sampled requests were delivered, schema-valid, each naming the
      //    rule that sampled it: the local Default first, then "traced".
      if (docs.length < 4) {
        await within(
          new Promise<void>((resolve) => waiter = { n: 4, resolve }),
          `only ${docs.length} of 4 documents`,
        );
      }
      assert.equal(assertValidDocuments(docs), 4);
      const ruleByPath = docs
        .map((d) =>
          `${
            new URL(d.http.request.url).pathname
          } ${d.aws.xray.sampling_rule_name}`
        )
        .sort();
      assert.deepEqual(ruleByPath, [
        "/quiet Default",
        "/traced traced",
        "/traced traced",
        "/traced traced",
      ]);
      assert.deepEqual((await samplerState()).errors, []);
    } finally {
      releaseRules.resolve();
      await mf.dispose();
      await api.close();
      await collector.close();
    }
  },
});
