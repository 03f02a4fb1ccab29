// matrix: deno,node22,bun,deno-npm — the collector's store is node:sqlite (Deno, Node >= 22.13) or bun:sqlite; Node 20 has neither, workerd no servers
// The local collector on real sockets: ingest from the project's own senders
// (daemonSender, udpSender, xrayApiSender), trace assembly, retention, the
// read APIs in X-Ray's shapes, sampling from a rules file, and junk input.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTracer, daemonSender, xrayApiSender } from "../mod.ts";
import { udpSender } from "../src/udp.ts";
import { centralizedSampler } from "../src/sampling.ts";
import {
  createCollector,
  FilterExpressionError,
  parseCollectorArgs,
  parseFilterExpression,
  runCollectorCli,
  type RunningCollector,
  startCollector,
  type TraceSummary,
} from "../src/collector/mod.ts";
import { schemaErrors } from "../src/collector/_schema.ts";
import { openSqlite } from "../src/collector/_sqlite.ts";
import { assertValidDocument } from "./_schema.ts";

const T0 = Math.floor(Date.now() / 1000);
let counter = 0;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0").slice(-width);
}

function traceId(): string {
  return `1-${hex(T0, 8)}-${hex(++counter, 24)}`;
}

function segId(): string {
  return hex(0xa000000000000 + ++counter, 16);
}

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

async function post(
  running: RunningCollector,
  path: string,
  body: unknown,
  // deno-lint-ignore no-explicit-any
): Promise<{ status: number; json: any }> {
  const response = await fetch(new URL(path, running.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : {} };
}

async function put(running: RunningCollector, docs: Doc[]) {
  const out = await post(running, "/TraceSegments", {
    TraceSegmentDocuments: docs.map((d) => JSON.stringify(d)),
  });
  assert.equal(out.status, 200);
  return out.json;
}

async function summaries(
  running: RunningCollector,
  filter?: string,
): Promise<TraceSummary[]> {
  const out = await post(running, "/TraceSummaries", {
    StartTime: T0 - 3600,
    EndTime: T0 + 3600,
    FilterExpression: filter,
  });
  assert.equal(out.status, 200, JSON.stringify(out.json));
  return out.json.TraceSummaries;
}

async function getTrace(running: RunningCollector, id: string): Promise<Doc> {
  const out = await post(running, "/Traces", { TraceIds: [id] });
  assert.equal(out.status, 200);
  assert.equal(out.json.Traces.length, 1);
  return out.json.Traces[0];
}

async function withCollector(
  fn: (running: RunningCollector) => Promise<void>,
  options: Parameters<typeof startCollector>[0] = {},
): Promise<void> {
  const running = await startCollector({
    port: 0,
    database: ":memory:",
    ...options,
  });
  try {
    await fn(running);
  } finally {
    await running.close();
  }
}

function segment(fields: Doc = {}): Doc {
  return {
    name: "api",
    id: segId(),
    trace_id: traceId(),
    start_time: T0 + 1,
    end_time: T0 + 1.5,
    ...fields,
  };
}

Deno.test("collector: PutTraceSegments stores valid documents and answers invalid ones with the schema's reason", async () => {
  await withCollector(async (running) => {
    const good = segment();
    const badName = segment({ name: "bad{name}" });
    const noEnd = segment();
    delete noEnd.end_time;
    const out = await post(running, "/TraceSegments", {
      TraceSegmentDocuments: [
        JSON.stringify(good),
        JSON.stringify(badName),
        JSON.stringify(noEnd),
        "{not json",
        JSON.stringify({ ...segment(), trace_id: "1-x" }),
        // 25,000 characters but 75,000 UTF-8 bytes: over the 64 KB limit.
        JSON.stringify(
          segment({ metadata: { default: { s: "€".repeat(25_000) } } }),
        ),
      ],
    });
    assert.equal(out.status, 200);
    const un = out.json.UnprocessedTraceSegments;
    assert.equal(un.length, 5);
    assert.equal(un[4].ErrorCode, "DocumentTooLarge");
    assert.match(un[4].Message, /over the 64 KB limit/);
    assert.equal(un[0].Id, badName.id);
    assert.match(un[0].Message, /name does not match/);
    assert.equal(un[0].ErrorCode, "InvalidDocument");
    assert.match(un[1].Message, /end_time is required unless in_progress/);
    assert.equal(un[2].ErrorCode, "InvalidJson");
    assert.match(un[3].Message, /trace_id/);
    const stats = running.collector.stats();
    assert.equal(stats.documents.received, 6);
    assert.equal(stats.documents.stored, 1);
    assert.equal(stats.documents.rejected, 5);
    assert.equal(stats.store.traces, 1);
    const trace = await getTrace(running, good.trace_id);
    assert.deepEqual(JSON.parse(trace.Segments[0].Document), good);
  });
});

Deno.test("collector: the schema check agrees with the official schema on valid and invalid documents", () => {
  const good: Doc[] = [
    segment(),
    segment({
      annotations: { a: 1, b: "x", c: true },
      http: { request: { method: "GET", url: "http://x/" } },
    }),
    {
      ...segment(),
      type: "subsegment",
      parent_id: segId(),
      namespace: "remote",
    },
    segment({ in_progress: true, end_time: undefined }),
    segment({
      cause: {
        exceptions: [{ id: segId(), message: "m", stack: [{ path: "a.ts" }] }],
      },
    }),
  ];
  for (const d of good) {
    const doc = JSON.parse(JSON.stringify(d));
    assertValidDocument(doc);
    assert.deepEqual(schemaErrors(doc), [], JSON.stringify(doc));
  }
  const bad: Doc[] = [
    segment({ id: "short" }),
    segment({ annotations: { "bad-key": 1 } }),
    segment({ annotations: { k: { nested: 1 } } }),
    segment({ name: "tab\tname" }),
    segment({ user: "u".repeat(251) }),
    segment({ start_time: "1" }),

    { ...segment(), name: undefined },
  ];
  for (const d of bad) {
    const doc = JSON.parse(JSON.stringify(d));
    assert.notDeepEqual(schemaErrors(doc), [], JSON.stringify(doc));
    assert.throws(() => assertValidDocument(doc));
  }
  // Independent subsegments are also held to the schema's subsegment
  // definition, which the root schema does not apply to them.
  const sub = {
    ...segment(),
    type: "subsegment",
    parent_id: segId(),
    sql: { url: 5 },
  };
  assert.deepEqual(schemaErrors(sub), ["sql.url must be string"]);
  assert.deepEqual(schemaErrors({ ...sub, sql: { url: "x" } }), []);
});

Deno.test("collector: daemonSender, udpSender and xrayApiSender all deliver to it", async () => {
  await withCollector(async (running) => {
    const address = `127.0.0.1:${running.port}`;
    const senders = {
      daemon: daemonSender({ address }),
      udp: udpSender({ address }),
      api: xrayApiSender({
        region: "us-east-1",
        credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
        endpoint: `http://${address}`,
      }),
    };
    const ids: Record<string, string> = {};
    for (const [name, sender] of Object.entries(senders)) {
      const tracer = createTracer({ serviceName: `via-${name}`, sender });
      const seg = tracer.startSegment(`via-${name}`, { sampled: true });
      seg.annotate("sender", name);
      seg.capture("work", () => {});
      seg.end();
      ids[name] = seg.traceId;
      const result = await tracer.flush();
      assert.equal(result.dropped, 0, name);
      await tracer.shutdown();
    }
    // UDP is asynchronous: wait for the datagram to land.
    for (let i = 0; i < 200; i++) {
      if (running.collector.stats().store.traces === 3) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const [name, id] of Object.entries(ids)) {
      const trace = await getTrace(running, id);
      const doc = JSON.parse(trace.Segments[0].Document);
      assert.equal(doc.name, `via-${name}`);
      assert.equal(doc.annotations.sender, name);
      assert.equal(doc.subsegments[0].name, "work");
    }
    const found = await summaries(running, 'service("via-udp")');
    assert.deepEqual(found.map((s) => s.Id), [ids.udp]);
  });
});

Deno.test("collector: streamed subsegments join their segment, a final version replaces the in-progress one, duplicates are stored once", async () => {
  await withCollector(async (running) => {
    const trace = traceId();
    const rootId = segId();
    const childId = segId();
    const grandchildId = segId();
    const inProgress = {
      name: "api",
      id: rootId,
      trace_id: trace,
      start_time: T0 + 1,
      in_progress: true,
      subsegments: [{
        name: "db",
        id: childId,
        start_time: T0 + 1.1,
        in_progress: true,
      }],
    };
    await put(running, [inProgress]);
    let got = await getTrace(running, trace);
    assert.equal(JSON.parse(got.Segments[0].Document).in_progress, true);
    let [summary] = await summaries(running);
    assert.equal(summary.IsPartial, true);

    const child = {
      name: "db",
      id: childId,
      trace_id: trace,
      parent_id: rootId,
      type: "subsegment",
      start_time: T0 + 1.1,
      end_time: T0 + 1.2,
      namespace: "remote",
    };
    const grandchild = {
      name: "query",
      id: grandchildId,
      trace_id: trace,
      parent_id: childId,
      type: "subsegment",
      start_time: T0 + 1.15,
      end_time: T0 + 1.18,
    };
    const final = {
      ...inProgress,
      in_progress: undefined,
      end_time: T0 + 1.5,
      subsegments: undefined,
    };
    // Out of order: the grandchild first, then the final segment, then the child twice.
    const first = await put(running, [grandchild, final, child]);
    assert.deepEqual(first.UnprocessedTraceSegments, []);
    // The child again (same id, same end; a different body is still a repeat)
    // and the in-progress segment once more after its final version.
    await put(running, [
      { ...child, annotations: { again: true } },
      inProgress,
    ]);
    const stats = running.collector.stats();
    assert.equal(stats.documents.duplicates, 1);
    assert.equal(stats.documents.stale, 1);
    assert.equal(stats.store.documents, 3);

    got = await getTrace(running, trace);
    assert.equal(got.Segments.length, 1);
    const doc = JSON.parse(got.Segments[0].Document);
    assertValidDocument(doc);
    assert.equal(doc.in_progress, undefined);
    assert.equal(doc.end_time, T0 + 1.5);
    assert.equal(doc.subsegments.length, 1);
    assert.equal(doc.subsegments[0].id, childId);
    assert.equal(doc.subsegments[0].end_time, T0 + 1.2);
    assert.equal(doc.subsegments[0].trace_id, undefined);
    assert.equal(doc.subsegments[0].annotations, undefined);
    assert.equal(doc.subsegments[0].subsegments[0].id, grandchildId);
    assert.equal(got.Duration, 0.5);
    [summary] = await summaries(running);
    assert.equal(summary.IsPartial, false);
    assert.equal(summary.ResponseTime, 0.5);
  });
});

Deno.test("collector: the tracer's streamed documents come back as one tree", async () => {
  await withCollector(async (running) => {
    const tracer = createTracer({
      serviceName: "streamer",
      sender: daemonSender({ address: `127.0.0.1:${running.port}` }),
      streamingThreshold: 2,
    });
    const seg = tracer.startSegment("streamer", { sampled: true });
    for (let i = 0; i < 6; i++) seg.capture(`step-${i}`, () => {});
    seg.end();
    await tracer.flush();
    await tracer.shutdown();
    const stats = running.collector.stats();
    assert.ok(
      stats.store.documents > 1,
      "streaming produced several documents",
    );
    const got = await getTrace(running, seg.traceId);
    assert.equal(got.Segments.length, 1);
    const doc = JSON.parse(got.Segments[0].Document);
    assert.deepEqual(
      doc.subsegments.map((s: Doc) => s.name),
      ["step-0", "step-1", "step-2", "step-3", "step-4", "step-5"],
    );
    assertValidDocument(doc);
  });
});

Deno.test("collector: retention keeps the newest traces within the trace and byte caps", async () => {
  await withCollector(async (running) => {
    const docs = Array.from({ length: 5 }, () => segment());
    for (const d of docs) await put(running, [d]);
    const stats = running.collector.stats();
    assert.equal(stats.store.traces, 3);
    assert.equal(stats.store.evicted, 2);
    const unknown = await post(running, "/Traces", {
      TraceIds: [docs[0].trace_id, docs[4].trace_id],
    });
    assert.deepEqual(unknown.json.UnprocessedTraceIds, [docs[0].trace_id]);
    assert.equal(unknown.json.Traces[0].Id, docs[4].trace_id);
  }, { maxTraces: 3 });
  await withCollector(async (running) => {
    const big = (n: number) =>
      segment({ metadata: { default: { pad: "x".repeat(n) } } });
    await put(running, [big(600)]);
    await put(running, [big(600)]);
    const stats = running.collector.stats();
    assert.equal(stats.store.traces, 1);
    assert.ok(stats.store.bytes <= 1000);
  }, { maxBytes: 1000 });
});

Deno.test("collector: traces survive a restart with a database file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xray-edge-collector-"));
  try {
    const database = join(dir, "traces.sqlite");
    const doc = segment({ annotations: { kept: true } });
    let running = await startCollector({ port: 0, database, udp: false });
    await put(running, [doc]);
    await running.close();
    running = await startCollector({ port: 0, database, udp: false });
    try {
      assert.equal(running.collector.stats().store.traces, 1);
      const found = await summaries(running, "annotation.kept = true");
      assert.deepEqual(found.map((s) => s.Id), [doc.trace_id]);
    } finally {
      await running.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("collector: a data file from another store layout starts afresh", async () => {
  const dir = mkdtempSync(join(tmpdir(), "xray-edge-collector-"));
  try {
    const database = join(dir, "traces.sqlite");
    const old = await openSqlite(database);
    old.exec("CREATE TABLE traces (trace_id TEXT PRIMARY KEY, summary TEXT)");
    old.prepare("INSERT INTO traces VALUES (?, ?)").run("x", "{}");
    old.close();
    const running = await startCollector({ port: 0, database, udp: false });
    try {
      assert.equal(running.collector.stats().store.traces, 0);
      const doc = segment();
      assert.deepEqual(
        (await put(running, [doc])).UnprocessedTraceSegments,
        [],
      );
      assert.equal((await summaries(running))[0].Id, doc.trace_id);
    } finally {
      await running.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Deno.test("collector: GetTraceSummaries filters with X-Ray filter expressions", async () => {
  await withCollector(async (running) => {
    const make = (name: string, fields: Doc, http: Doc, duration: number) =>
      segment({
        name,
        end_time: T0 + 1 + duration,
        http,
        ...fields,
      });
    const a = make("shop", { annotations: { customer: "c-1", items: 3 } }, {
      request: { method: "GET", url: "http://shop/cart?x=1" },
      response: { status: 200 },
    }, 0.2);
    const b = make("shop", {
      fault: true,
      annotations: { items: 12 },
      cause: {
        exceptions: [{ id: segId(), type: "TypeError", message: "no price" }],
      },
    }, {
      request: { method: "POST", url: "http://shop/pay" },
      response: { status: 500 },
    }, 2.5);
    const c = make("inventory", { error: true, throttle: true }, {
      request: { method: "GET", url: "http://inventory/stock" },
      response: { status: 429 },
    }, 0.05);
    await put(running, [a, b, c]);
    const ids = async (filter: string) =>
      (await summaries(running, filter)).map((s) => s.Id).sort();
    const all = [a, b, c].map((d) => d.trace_id).sort();
    assert.deepEqual(await ids(""), all);
    assert.deepEqual(
      await ids('service("shop")'),
      [a.trace_id, b.trace_id].sort(),
    );
    assert.deepEqual(await ids('annotation.customer = "c-1"'), [a.trace_id]);
    assert.deepEqual(await ids("annotation.items > 5"), [b.trace_id]);
    assert.deepEqual(await ids("annotation.items < 5"), [a.trace_id]);
    assert.deepEqual(await ids("http.status = 500"), [b.trace_id]);
    assert.deepEqual(await ids('http.url CONTAINS "stock"'), [c.trace_id]);
    assert.deepEqual(await ids('http.method = "POST"'), [b.trace_id]);
    assert.deepEqual(await ids("responsetime > 1"), [b.trace_id]);
    assert.deepEqual(await ids("duration < 0.1"), [c.trace_id]);
    assert.deepEqual(await ids("fault"), [b.trace_id]);
    assert.deepEqual(await ids("error"), [c.trace_id]);
    assert.deepEqual(await ids("throttle = true"), [c.trace_id]);
    assert.deepEqual(await ids("ok"), [a.trace_id]);
    assert.deepEqual(await ids("!ok"), [b.trace_id, c.trace_id].sort());
    assert.deepEqual(
      await ids('service("shop") AND (fault OR annotation.customer = "c-1")'),
      [a.trace_id, b.trace_id].sort(),
    );
    assert.deepEqual(
      await ids('service("inventory") || http.status = 500 && fault'),
      [b.trace_id, c.trace_id].sort(),
    );
    const [summary] = await summaries(running, "fault");
    assert.equal(summary.HasFault, true);
    assert.deepEqual(summary.FaultRootCauses[0].Services[0].EntityPath, [{
      Name: "shop",
      Exceptions: [{ Name: "TypeError", Message: "no price" }],
      Remote: false,
    }]);
    assert.deepEqual(summary.Http, {
      HttpURL: "http://shop/pay",
      HttpStatus: 500,
      HttpMethod: "POST",
    });
    assert.deepEqual(summary.Annotations.items, [{
      AnnotationValue: { NumberValue: 12 },
      ServiceIds: [{ Name: "shop", Names: ["shop"], Type: "service" }],
    }]);
    assert.deepEqual(summary.EntryPoint, {
      Name: "shop",
      Names: ["shop"],
      Type: "service",
    });
    // Time range: nothing outside it.
    const none = await post(running, "/TraceSummaries", {
      StartTime: T0 - 7200,
      EndTime: T0 - 3600,
    });
    assert.deepEqual(none.json.TraceSummaries, []);
    // A bad filter is a 400 with the parser's message.
    const bad = await post(running, "/TraceSummaries", {
      StartTime: T0 - 3600,
      EndTime: T0 + 3600,
      FilterExpression: "http.status = ",
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.__type, "InvalidRequestException");
    assert.match(
      bad.json.message,
      /position 15: expected a value \(a number\)/,
    );
  });
});

Deno.test("parseFilterExpression() explains what is wrong and where", () => {
  const cases: [string, RegExp][] = [
    [
      "service(",
      /position 9: expected a "name", id\(\.\.\.\) or '\)' in service/,
    ],
    ['service("a"', /position 12: expected a "name", id\(\.\.\.\) or '\)'/],
    ['service(id(nam: "x"))', /position 12: expected name: or type: in id/],
    ['service(id(name "x"))', /position 17: expected ':' after name/],
    ["(fault", /position 7: expected '\)', found the end/],
    ["fault AND", /position 10: expected a keyword/],
    [
      "http.status CONTAINS 5",
      /expected one of = != < <= > >= after http.status/,
    ],
    ['http.status = "500"', /expected a value \(a number\), found '"500"'/],
    ["http.url > 3", /expected one of = != CONTAINS BEGINSWITH ENDSWITH/],
    ["nonsense = 1", /position 1: expected a keyword .*found 'nonsense'/],
    [
      "fault fault",
      /expected AND, OR or the end of the expression, found 'fault'/,
    ],
    ['http.url = "open', /Unterminated string starting at position 12/],
    ["fault $", /Unexpected character '\$' at position 7/],
    ["annotation.k CONTAINS 3", /CONTAINS needs a "string" value/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseFilterExpression(text),
      (e: unknown) =>
        e instanceof FilterExpressionError && message.test(e.message),
      text,
    );
  }
  const summary = {
    Id: "1-00000000-000000000000000000000001",
    StartTime: 0,
    HasFault: false,
    HasError: false,
    HasThrottle: false,
    IsPartial: false,
    Annotations: {
      tier: [{ AnnotationValue: { StringValue: "gold" }, ServiceIds: [] }],
    },
    Users: [{ UserName: "ann", ServiceIds: [] }],
    ServiceIds: [],
    ResourceARNs: [],
    InstanceIds: [],
    AvailabilityZones: [],
    FaultRootCauses: [],
    ErrorRootCauses: [],
    ResponseTimeRootCauses: [],
    Revision: 1,
  } as TraceSummary;
  assert.equal(
    parseFilterExpression('annotation.tier BEGINSWITH "go"')(summary),
    true,
  );
  assert.equal(
    parseFilterExpression('annotation.tier != "gold"')(summary),
    false,
  );
  assert.equal(
    parseFilterExpression('user = "ann" AND NOT fault')(summary),
    true,
  );
  assert.equal(parseFilterExpression("annotation.missing")(summary), false);
  const withService = {
    ...summary,
    ServiceIds: [{ Name: "db", Names: ["db"], Type: "Database::SQL" }],
    FaultRootCauses: [{
      Services: [{
        Name: "db",
        Names: ["db"],
        Type: "Database::SQL",
        EntityPath: [],
        Inferred: true,
      }],
      ClientImpacting: true,
    }],
  } as TraceSummary;
  const matches = (text: string) => parseFilterExpression(text)(withService);
  assert.equal(matches('service(id(name: "db", type: "Database::SQL"))'), true);
  assert.equal(matches('service(id(type: "remote"))'), false);
  assert.equal(matches('service(id(name: "db"))'), true);
  assert.equal(matches('rootcause.fault.service("db")'), true);
  assert.equal(matches('rootcause.error.service("db")'), false);
  assert.equal(matches("service()"), true);
  assert.equal(parseFilterExpression("  ")(summary), true);
});

Deno.test("collector: GetServiceGraph and GetTraceGraph show services, downstream hosts and calls", async () => {
  await withCollector(async (running) => {
    const trace = traceId();
    const shopId = segId();
    const callId = segId();
    const invId = segId();
    const shop = {
      name: "shop",
      id: shopId,
      trace_id: trace,
      start_time: T0 + 1,
      end_time: T0 + 2,
      http: { response: { status: 500 } },
      fault: true,
      subsegments: [
        {
          name: "inventory",
          id: callId,
          start_time: T0 + 1.1,
          end_time: T0 + 1.5,
          namespace: "remote",
        },
        {
          name: "api.example.com",
          id: segId(),
          start_time: T0 + 1.5,
          end_time: T0 + 1.9,
          namespace: "remote",
          error: true,
          http: { response: { status: 404 } },
        },
      ],
    };
    const inventory = {
      name: "inventory",
      id: invId,
      trace_id: trace,
      parent_id: callId,
      start_time: T0 + 1.2,
      end_time: T0 + 1.4,
    };
    await put(running, [shop, inventory]);
    const graph = await post(running, "/ServiceGraph", {
      StartTime: T0 - 60,
      EndTime: T0 + 60,
    });
    assert.equal(graph.status, 200);
    // deno-lint-ignore no-explicit-any
    const services: any[] = graph.json.Services;
    const byName = (name?: string) =>
      services.find((s) => s.Name === name || (!name && s.Type === "client"));
    assert.deepEqual(
      services.map((s) => `${s.Name ?? "-"}:${s.Type}`).sort(),
      [
        "-:client",
        "api.example.com:remote",
        "inventory:service",
        "shop:service",
      ],
    );
    const edgesOf = (name?: string) =>
      byName(name).Edges.map((e: Doc) =>
        services.find((s) => s.ReferenceId === e.ReferenceId).Name
      ).sort();
    assert.deepEqual(edgesOf(), ["shop"]);
    assert.deepEqual(edgesOf("shop"), ["api.example.com", "inventory"]);
    assert.deepEqual(edgesOf("inventory"), []);
    assert.equal(byName("shop").Root, true);
    assert.equal(
      byName("shop").SummaryStatistics.FaultStatistics.TotalCount,
      1,
    );
    assert.equal(byName("shop").SummaryStatistics.TotalResponseTime, 1);
    assert.deepEqual(byName("shop").ResponseTimeHistogram, [
      { Value: 1, Count: 1 },
    ]);
    assert.deepEqual(
      byName("shop").Edges.map((e: Doc) => e.ResponseTimeHistogram).sort((
        a: Doc[],
        b: Doc[],
      ) => a[0].Value - b[0].Value),
      [[{ Value: 0.2, Count: 1 }], [{ Value: 0.4, Count: 1 }]],
    );
    assert.equal(
      byName("api.example.com").SummaryStatistics.ErrorStatistics.OtherCount,
      1,
    );
    const traceGraph = await post(running, "/TraceGraph", {
      TraceIds: [trace],
    });
    assert.deepEqual(traceGraph.json.Services, services);
    // The trace summary names every service, downstream hosts included.
    const [summary] = await summaries(running);
    assert.deepEqual(
      summary.ServiceIds.map((s) => s.Name).sort(),
      ["api.example.com", "inventory", "shop"],
    );
    // Root causes: the shop segment itself faulted; the error is the
    // untraced downstream host, reached from the shop.
    assert.deepEqual(summary.FaultRootCauses, [{
      Services: [{
        Name: "shop",
        Names: ["shop"],
        Type: "service",
        EntityPath: [{ Name: "shop", Exceptions: [], Remote: false }],
        Inferred: false,
      }],
      ClientImpacting: true,
    }]);
    assert.deepEqual(summary.ErrorRootCauses, [{
      Services: [{
        Name: "api.example.com",
        Names: ["api.example.com"],
        Type: "remote",
        EntityPath: [
          { Name: "shop", Exceptions: [], Remote: false },
          { Name: "api.example.com", Exceptions: [], Remote: true },
        ],
        Inferred: true,
      }],
      ClientImpacting: false,
    }]);
  });
});

Deno.test("collector: GetSamplingRules and SamplingTargets serve a rules file to centralizedSampler", async () => {
  const rules = JSON.stringify({
    version: 2,
    default: { fixed_target: 0, rate: 0 },
    rules: [
      {
        description: "health checks",
        host: "*",
        http_method: "GET",
        url_path: "/health",
        fixed_target: 0,
        rate: 0,
      },
      {
        description: "api",
        host: "*",
        http_method: "*",
        url_path: "/api/*",
        fixed_target: 2,
        rate: 1,
      },
    ],
  });
  await withCollector(async (running) => {
    const errors: Error[] = [];
    const sampler = centralizedSampler({
      endpoint: running.url,
      onError: (e) => errors.push(e),
    });
    try {
      sampler.shouldSample({});
      await sampler.pending();
      assert.deepEqual(
        sampler.rules().map((r) => [r.name, r.priority, r.reservoirSize]),
        [["health-checks", 1, 0], ["api", 2, 2], ["Default", 10000, 0]],
      );
      assert.deepEqual(
        sampler.shouldSample({ method: "GET", path: "/health" }),
        {
          sampled: false,
          ruleName: "health-checks",
        },
      );
      assert.deepEqual(
        sampler.shouldSample({ method: "POST", path: "/api/x" }),
        {
          sampled: true,
          ruleName: "api",
        },
      );
      assert.equal(sampler.shouldSample({ path: "/other" }).sampled, false);
      // End to end: a tracer sampling by the served rules and sending to the
      // same collector; only the sampled request arrives, naming its rule.
      const tracer = createTracer({
        serviceName: "sampled-app",
        sampler,
        sender: daemonSender({ address: `127.0.0.1:${running.port}` }),
      });
      const kept = tracer.startSegment("sampled-app", {
        sampling: { method: "GET", path: "/api/items" },
      });
      kept.end();
      tracer.startSegment("sampled-app", {
        sampling: { method: "GET", path: "/health" },
      }).end();
      await tracer.flush();
      await tracer.shutdown();
      assert.equal(running.collector.stats().store.traces, 1);
      const doc = JSON.parse(
        (await getTrace(running, kept.traceId)).Segments[0].Document,
      );
      assert.equal(doc.aws.xray.sampling_rule_name, "api");
      await sampler.poll();
      assert.deepEqual(errors, []);
      const stats = running.collector.stats();
      assert.ok(stats.sampling.rules >= 1);
      assert.ok(stats.sampling.targets >= 1);
      const target = await post(running, "/SamplingTargets", {
        SamplingStatisticsDocuments: [
          {
            RuleName: "api",
            ClientID: "a".repeat(24),
            Timestamp: T0,
            RequestCount: 1,
            SampledCount: 1,
            BorrowCount: 0,
          },
          {
            RuleName: "nope",
            ClientID: "a".repeat(24),
            Timestamp: T0,
            RequestCount: 1,
            SampledCount: 1,
            BorrowCount: 0,
          },
        ],
      });
      assert.equal(target.json.SamplingTargetDocuments[0].RuleName, "api");
      assert.equal(target.json.SamplingTargetDocuments[0].FixedRate, 1);
      assert.equal(target.json.UnprocessedStatistics[0].RuleName, "nope");
    } finally {
      await sampler.close();
    }
  }, { rules });
  await assert.rejects(
    () => createCollector({ rules: '{"version":3}' }),
    /Cannot create local sampler as 'version' must be 1 or 2/,
  );
});

Deno.test("collector: junk is counted and refused, never a crash", async () => {
  await withCollector(async (running) => {
    // Bad JSON, a wrong shape, an unknown route, a wrong method.
    assert.equal((await post(running, "/TraceSegments", "{oops")).status, 400);
    assert.equal(
      (await post(running, "/TraceSegments", { TraceSegmentDocuments: 3 }))
        .status,
      400,
    );
    assert.equal((await post(running, "/Nope", {})).status, 404);
    const get = await fetch(new URL("/TraceSegments", running.url));
    await get.body?.cancel();
    assert.equal(get.status, 405);
    assert.equal(
      (await post(running, "/TraceSummaries", { StartTime: "yesterday" }))
        .status,
      400,
    );
    // Clients that give up mid-body, and raw garbage on the TCP port.
    for (
      const raw of [
        'POST /TraceSegments HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"TraceSeg',
        "GARBAGE\r\n\r\n",
        "POST /TraceSegments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      ]
    ) {
      const socket = connect(running.port, "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", resolve));
      await new Promise<void>((resolve) => socket.write(raw, () => resolve()));
      await new Promise((r) => setTimeout(r, 20));
      socket.destroy();
    }
    // A body over the limit: 413.
    const huge = await post(running, "/TraceSegments", {
      TraceSegmentDocuments: ["x".repeat(5000)],
    });
    assert.equal(huge.status, 413);
    // Datagrams: no header, a wrong header, bad JSON, not UTF-8, an invalid document.
    const socket = dgram.createSocket("udp4");
    const send = (data: Uint8Array | string) =>
      new Promise<void>((resolve) =>
        socket.send(data, running.port, "127.0.0.1", () => resolve())
      );
    await send("hello");
    await send('{"format":"xml","version":1}\n{}');
    await send('{"format":"json","version":1}\n{nope');
    await send(new Uint8Array([0xff, 0xfe, 0x0a, 0x80]));
    await send('{"format":"json","version":1}\n{"name":"x"}');
    await send(`{"format":"json","version":1}\n${JSON.stringify(segment())}`);
    socket.close();
    for (let i = 0; i < 200; i++) {
      if (running.collector.stats().udp.datagrams === 6) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    running.collector.drain();
    const stats = running.collector.stats();
    assert.equal(stats.udp.datagrams, 6);
    assert.equal(stats.udp.malformed, 3);
    assert.equal(stats.documents.rejected, 2);
    assert.equal(stats.documents.lastRejected?.source, "udp");
    assert.match(stats.documents.lastRejected?.reason ?? "", /id is required/);
    assert.equal(stats.documents.stored, 1);
    assert.equal(stats.http.badJson, 1);
    assert.equal(stats.http.tooLarge, 1);
    assert.equal(stats.http.notFound, 1);
    assert.ok(stats.http.badRequests >= 3);
    assert.equal(stats.http.errors, 0);
    assert.ok(stats.http.aborted >= 1);
    // And /stats says the same over HTTP.
    const viaHttp = await (await fetch(new URL("/stats", running.url))).json();
    assert.deepEqual(viaHttp.udp, stats.udp);
    // The viewer page is served at /.
    const page = await fetch(running.url);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(await page.text(), /<title>/i);
  }, { maxBodyBytes: 4096 });
});

Deno.test("collector: a datagram flood beyond the queue is dropped and counted, memory stays bounded", async () => {
  const collector = await createCollector({ maxQueuedBytes: 10_000 });
  try {
    const datagram = new TextEncoder().encode(
      `{"format":"json","version":1}\n${JSON.stringify(segment())}`,
    );
    for (let i = 0; i < 1000; i++) collector.ingestDatagram(datagram);
    collector.drain();
    const stats = collector.stats();
    assert.equal(stats.udp.datagrams, 1000);
    assert.ok(stats.udp.dropped > 900, `dropped ${stats.udp.dropped}`);
    assert.equal(stats.documents.dropped, stats.udp.dropped);
    assert.equal(
      stats.documents.received,
      1000 - stats.udp.dropped,
    );
    assert.equal(stats.store.documents, 1);
    assert.equal(stats.documents.duplicates, stats.documents.received - 1);
  } finally {
    collector.close();
  }
});

Deno.test("collector: bad options fail at construction with a clear message", async () => {
  await assert.rejects(
    () => createCollector({ maxTraces: 0 }),
    /Cannot create collector as 'maxTraces' must be a positive integer: current value is 0/,
  );
  await assert.rejects(
    () => startCollector({ port: 70000 }),
    /Cannot start collector as 'port' must be an integer from 0 to 65535: current value is 70000/,
  );
  const first = await startCollector({ port: 0, database: ":memory:" });
  try {
    await assert.rejects(
      () => startCollector({ port: first.port, database: ":memory:" }),
      new RegExp(
        `Cannot start collector as TCP 127\\.0\\.0\\.1:${first.port} is in use`,
      ),
    );
  } finally {
    await first.close();
  }
  assert.throws(
    () => parseCollectorArgs(["--port", "x"]),
    /'--port' must be an integer from 0 to 65535: current value is 'x'/,
  );
  assert.throws(
    () => parseCollectorArgs(["--bogus"]),
    /'--bogus' is not a known option/,
  );
  assert.deepEqual(
    parseCollectorArgs(["--port=0", "--data", ":memory:", "--host", "::1"]),
    {
      port: 0,
      host: "::1",
      data: ":memory:",
      udp: true,
      help: false,
    },
  );
});

Deno.test("collector CLI: prints the viewer URL and serves", async () => {
  const lines: string[] = [];
  const running = await runCollectorCli(
    ["--port", "0", "--data", ":memory:"],
    (line) => lines.push(line),
  );
  assert.ok(running);
  try {
    assert.ok(
      lines.some((l) => l.includes(`viewer: ${running.url}`)),
      lines.join("\n"),
    );
    assert.match(running.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const stats = await (await fetch(new URL("/stats", running.url))).json();
    assert.equal(stats.store.traces, 0);
  } finally {
    await running.close();
  }
  await assert.rejects(
    () => runCollectorCli(["--port", "0", "--rules", "no-such-rules.json"]),
    /Cannot start collector as the rules file 'no-such-rules\.json' is not usable: .*no such file/i,
  );
  const help: string[] = [];
  assert.equal(
    await runCollectorCli(["--help"], (l) => help.push(l)),
    undefined,
  );
  assert.match(help.join("\n"), /--rules FILE/);
});

Deno.test("collector: bodies beyond the in-flight budget are answered 429 ThrottledException, which senders retry", async () => {
  const collector = await createCollector({
    maxInflightBytes: 1000,
    maxBodyBytes: 100_000,
  });
  try {
    const body = JSON.stringify({
      TraceSegmentDocuments: [
        JSON.stringify(
          segment({ metadata: { default: { pad: "x".repeat(2000) } } }),
        ),
      ],
    });
    const response = await collector.fetch(
      new Request("http://collector/TraceSegments", { method: "POST", body }),
    );
    assert.equal(response.status, 429);
    assert.equal(
      response.headers.get("x-amzn-errortype"),
      "ThrottledException",
    );
    assert.equal(collector.stats().http.throttled, 1);
    // The budget is given back: a small body still goes through.
    const small = await collector.fetch(
      new Request("http://collector/TraceSegments", {
        method: "POST",
        body: JSON.stringify({
          TraceSegmentDocuments: [JSON.stringify(segment())],
        }),
      }),
    );
    assert.equal(small.status, 200);
    assert.equal(collector.stats().store.traces, 1);
  } finally {
    collector.close();
  }
});

Deno.test("collector: concurrent senders over HTTP and a UDP burst are all stored or counted", async () => {
  await withCollector(async (running) => {
    const address = `127.0.0.1:${running.port}`;
    // 20 tracers flushing at once over HTTP, 50 segments each.
    const tracers = Array.from({ length: 20 }, (_, i) =>
      createTracer({
        serviceName: `load-${i}`,
        sender: daemonSender({ address }),
      }));
    for (const tracer of tracers) {
      for (let j = 0; j < 50; j++) {
        tracer.startSegment("load", { sampled: true }).end();
      }
    }
    const results = await Promise.all(tracers.map((t) => t.flush()));
    await Promise.all(tracers.map((t) => t.shutdown()));
    assert.deepEqual(results.map((r) => r.dropped), Array(20).fill(0));
    assert.equal(running.collector.stats().store.traces, 1000);
    // A UDP burst: whatever the kernel delivers is stored or counted.
    const socket = dgram.createSocket("udp4");
    const sent = 500;
    for (let i = 0; i < sent; i++) {
      const doc = JSON.stringify(segment());
      await new Promise<void>((resolve) =>
        socket.send(
          `{"format":"json","version":1}\n${doc}`,
          running.port,
          "127.0.0.1",
          () => resolve(),
        )
      );
    }
    socket.close();
    let last = -1;
    for (let i = 0; i < 100; i++) {
      const now = running.collector.stats().udp.datagrams;
      if (now === sent || now === last) break;
      last = now;
      await new Promise((r) => setTimeout(r, 50));
    }
    running.collector.drain();
    const stats = running.collector.stats();
    assert.ok(stats.udp.datagrams > 0);
    assert.equal(
      stats.udp.datagrams,
      stats.udp.malformed + stats.udp.dropped +
        (stats.documents.received - 1000),
    );
    assert.equal(
      stats.store.traces,
      1000 + stats.documents.received - 1000 - stats.documents.rejected -
        stats.documents.duplicates,
    );
    assert.equal(stats.http.errors, 0);
  });
});

Deno.test("collector: TimeRangeType picks traces by the time in their id (default) or by their events", async () => {
  await withCollector(async (running) => {
    // A trace whose id says two hours ago but whose segment runs now.
    const old = segment({
      trace_id: `1-${hex(T0 - 7200, 8)}-${hex(++counter, 24)}`,
    });
    const fresh = segment();
    await put(running, [old, fresh]);
    const ids = async (TimeRangeType?: string) =>
      (await post(running, "/TraceSummaries", {
        StartTime: T0 - 60,
        EndTime: T0 + 60,
        TimeRangeType,
      })).json.TraceSummaries.map((s: TraceSummary) => s.Id).sort();
    assert.deepEqual(await ids(), [fresh.trace_id]);
    assert.deepEqual(await ids("TraceId"), [fresh.trace_id]);
    assert.deepEqual(
      await ids("Event"),
      [old.trace_id, fresh.trace_id].sort(),
    );
    const bad = await post(running, "/TraceSummaries", {
      StartTime: T0 - 60,
      EndTime: T0 + 60,
      TimeRangeType: "Sometime",
    });
    assert.equal(bad.status, 400);
    assert.match(
      bad.json.message,
      /TimeRangeType must be TraceId, Event or Service/,
    );
  });
});

Deno.test("collector: one trace holds at most maxTraceBytes; further documents are refused as TraceTooLarge", async () => {
  await withCollector(async (running) => {
    const root = segment();
    const sub = () => ({
      name: "part",
      id: segId(),
      trace_id: root.trace_id,
      parent_id: root.id,
      type: "subsegment",
      start_time: T0 + 1.1,
      end_time: T0 + 1.2,
      metadata: { default: { pad: "x".repeat(500) } },
    });
    const parts = [sub(), sub(), sub()];
    const answer = await put(running, [root, ...parts]);
    assert.deepEqual(
      answer.UnprocessedTraceSegments.map((u: Doc) => [u.Id, u.ErrorCode]),
      [[parts[2].id, "TraceTooLarge"]],
    );
    const stats = running.collector.stats();
    assert.equal(stats.store.documents, 3);
    assert.equal(stats.documents.rejected, 1);
    assert.match(stats.documents.lastRejected!.reason, /maxTraceBytes/);
    // Another trace is not affected.
    assert.deepEqual(
      (await put(running, [segment()])).UnprocessedTraceSegments,
      [],
    );
  }, { maxTraceBytes: 2000 });
});

Deno.test("collector: a streamed final subsegment that drops its nested children still gets them back as they arrive", async () => {
  await withCollector(async (running) => {
    const trace = traceId();
    const [s, a, c, d] = [segId(), segId(), segId(), segId()];
    // The segment in progress, holding A in progress, holding C in progress.
    const seg = {
      name: "api",
      id: s,
      trace_id: trace,
      start_time: T0 + 1,
      end_time: T0 + 2,
      subsegments: [{
        name: "a",
        id: a,
        start_time: T0 + 1.1,
        in_progress: true,
        subsegments: [{
          name: "c",
          id: c,
          start_time: T0 + 1.2,
          in_progress: true,
        }],
      }],
    };
    const independent = (
      id: string,
      parent: string,
      name: string,
      start: number,
    ) => ({
      name,
      id,
      trace_id: trace,
      parent_id: parent,
      type: "subsegment",
      start_time: T0 + start,
      end_time: T0 + start + 0.05,
    });
    // A's final version without C, then D (C's child) before C itself.
    await put(running, [seg]);
    await put(running, [independent(a, s, "a", 1.1)]);
    // The tree now holds the final A without C: nothing in progress is left.
    let [summary] = await summaries(running);
    assert.equal(summary.IsPartial, false);
    await put(running, [independent(d, c, "d", 1.25)]);
    await put(running, [independent(c, a, "c", 1.2)]);
    const got = await getTrace(running, trace);
    const doc = JSON.parse(got.Segments[0].Document);
    assert.equal(got.Segments.length, 1);
    const aDoc = doc.subsegments[0];
    assert.equal(aDoc.in_progress, undefined);
    assert.equal(aDoc.subsegments[0].id, c);
    assert.equal(aDoc.subsegments[0].in_progress, undefined);
    assert.equal(aDoc.subsegments[0].subsegments[0].id, d);
    [summary] = await summaries(running);
    assert.equal(summary.IsPartial, false);
  });
});
