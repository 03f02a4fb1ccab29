// matrix: deno — runs the AWS CLI and the AWS X-Ray SDK for Python through Deno.Command
// Real clients against the local collector, unchanged: the AWS CLI
// (`--endpoint-url`), the AWS SDK for JavaScript v3 X-Ray client, and the
// AWS X-Ray SDK for Python's UDP emitter (AWS_XRAY_DAEMON_ADDRESS).
import assert from "node:assert/strict";
import {
  BatchGetTracesCommand,
  GetSamplingRulesCommand,
  GetServiceGraphCommand,
  GetTraceGraphCommand,
  GetTraceSummariesCommand,
  PutTraceSegmentsCommand,
  XRayClient,
} from "@aws-sdk/client-xray";
import { type RunningCollector, startCollector } from "../src/collector/mod.ts";
import { assertValidDocument } from "./_schema.ts";

const T0 = Math.floor(Date.now() / 1000);
const DUMMY_ENV = {
  AWS_ACCESS_KEY_ID: "testing",
  AWS_SECRET_ACCESS_KEY: "testing",
  AWS_DEFAULT_REGION: "us-east-1",
  AWS_PAGER: "",
  AWS_EC2_METADATA_DISABLED: "true",
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0").slice(-width);
}

// deno-lint-ignore no-explicit-any
async function aws(running: RunningCollector, ...args: string[]): Promise<any> {
  const out = await new Deno.Command("aws", {
    args: [
      "xray",
      ...args,
      "--endpoint-url",
      running.url.replace(/\/$/, ""),
      "--output",
      "json",
    ],
    env: DUMMY_ENV,
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    throw new Error(
      `The AWS CLI is needed for this test (${e.name}): install it with pip install awscli`,
    );
  });
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`aws ${args[0]} failed: ${stderr}`);
  return stdout.trim() === "" ? {} : JSON.parse(stdout);
}

function documents(n: number) {
  const trace = `1-${hex(T0, 8)}-${hex(0xc0ffee00 + n, 24)}`;
  const root = hex(0xb00000 + n, 16);
  const call = hex(0xb10000 + n, 16);
  return {
    trace,
    docs: [
      {
        name: "cli-shop",
        id: root,
        trace_id: trace,
        start_time: T0 + 1,
        end_time: T0 + 1.8,
        annotations: { order: n },
        http: {
          request: { method: "POST", url: `http://shop/orders/${n}` },
          response: { status: n === 2 ? 500 : 200 },
        },
        fault: n === 2 ? true : undefined,
        subsegments: [{
          name: "cli-inventory",
          id: call,
          start_time: T0 + 1.1,
          end_time: T0 + 1.5,
          namespace: "remote",
        }],
      },
      {
        name: "cli-inventory",
        id: hex(0xb20000 + n, 16),
        trace_id: trace,
        parent_id: call,
        start_time: T0 + 1.2,
        end_time: T0 + 1.4,
      },
    ],
  };
}

Deno.test("AWS CLI: put-trace-segments, get-trace-summaries with a filter, batch-get-traces, get-service-graph, get-trace-graph, get-sampling-rules", async () => {
  const running = await startCollector({ port: 0, database: ":memory:" });
  try {
    const traces = [1, 2].map(documents);
    const put = await aws(
      running,
      "put-trace-segments",
      "--trace-segment-documents",
      ...traces.flatMap((t) => t.docs.map((d) => JSON.stringify(d))),
      JSON.stringify({ name: "broken" }),
    );
    assert.equal(put.UnprocessedTraceSegments.length, 1);
    assert.match(put.UnprocessedTraceSegments[0].Message, /id is required/);
    assert.equal(running.collector.stats().store.traces, 2);

    const range = [
      "--start-time",
      String(T0 - 60),
      "--end-time",
      String(T0 + 60),
    ];
    const all = await aws(running, "get-trace-summaries", ...range);
    assert.deepEqual(
      all.TraceSummaries.map((s: { Id: string }) => s.Id).sort(),
      traces.map((t) => t.trace).sort(),
    );
    const faulty = await aws(
      running,
      "get-trace-summaries",
      ...range,
      "--filter-expression",
      'service("cli-inventory") AND http.status = 500 AND annotation.order > 1',
    );
    assert.equal(faulty.TraceSummaries.length, 1);
    assert.equal(faulty.TraceSummaries[0].Id, traces[1].trace);
    assert.equal(faulty.TraceSummaries[0].HasFault, true);
    assert.equal(faulty.TraceSummaries[0].Http.HttpStatus, 500);
    await assert.rejects(
      () =>
        aws(
          running,
          "get-trace-summaries",
          ...range,
          "--filter-expression",
          "fault AND",
        ),
      /InvalidRequestException.*position 10: expected a keyword/s,
    );

    const batch = await aws(
      running,
      "batch-get-traces",
      "--trace-ids",
      traces[0].trace,
      `1-${hex(T0, 8)}-${"f".repeat(24)}`,
    );
    assert.equal(batch.Traces.length, 1);
    assert.equal(batch.Traces[0].Segments.length, 2);
    for (const s of batch.Traces[0].Segments) assertValidDocument(s.Document);
    assert.deepEqual(batch.UnprocessedTraceIds, [
      `1-${hex(T0, 8)}-${"f".repeat(24)}`,
    ]);

    const graph = await aws(running, "get-service-graph", ...range);
    const names = graph.Services.map((s: { Name?: string; Type: string }) =>
      s.Name ?? s.Type
    ).sort();
    assert.deepEqual(names, ["cli-inventory", "cli-shop", "client"]);
    const shop = graph.Services.find((s: { Name?: string }) =>
      s.Name === "cli-shop"
    );
    assert.equal(shop.SummaryStatistics.TotalCount, 2);
    assert.equal(shop.SummaryStatistics.FaultStatistics.TotalCount, 1);
    assert.equal(shop.Edges.length, 1);

    const traceGraph = await aws(
      running,
      "get-trace-graph",
      "--trace-ids",
      traces[0].trace,
    );
    assert.equal(traceGraph.Services.length, 3);

    const rules = await aws(running, "get-sampling-rules");
    assert.equal(rules.SamplingRuleRecords[0].SamplingRule.RuleName, "Default");
  } finally {
    await running.close();
  }
});

Deno.test("AWS SDK for JavaScript v3: the X-Ray client writes and reads through the collector", async () => {
  const running = await startCollector({ port: 0, database: ":memory:" });
  const client = new XRayClient({
    region: "us-east-1",
    endpoint: running.url.replace(/\/$/, ""),
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  });
  try {
    const { trace, docs } = documents(3);
    const put = await client.send(
      new PutTraceSegmentsCommand({
        TraceSegmentDocuments: docs.map((d) => JSON.stringify(d)),
      }),
    );
    assert.deepEqual(put.UnprocessedTraceSegments, []);
    const range = {
      StartTime: new Date((T0 - 60) * 1000),
      EndTime: new Date((T0 + 60) * 1000),
    };
    const summaries = await client.send(
      new GetTraceSummariesCommand({
        ...range,
        FilterExpression: 'http.url CONTAINS "orders/3"',
      }),
    );
    assert.equal(summaries.TraceSummaries?.length, 1);
    const [summary] = summaries.TraceSummaries!;
    assert.equal(summary.Id, trace);
    assert.equal(summary.Http?.HttpMethod, "POST");
    assert.ok(summary.StartTime instanceof Date);
    assert.equal(Math.floor(summary.StartTime.getTime() / 1000), T0 + 1);
    assert.deepEqual(summary.Annotations?.order?.[0].AnnotationValue, {
      NumberValue: 3,
    });
    const batch = await client.send(
      new BatchGetTracesCommand({ TraceIds: [trace] }),
    );
    const ids = batch.Traces?.[0].Segments?.map((s) => s.Id).sort();
    assert.deepEqual(ids, docs.map((d) => d.id).sort());
    const graph = await client.send(new GetServiceGraphCommand(range));
    assert.equal(graph.Services?.length, 3);
    assert.ok(graph.Services?.every((s) => s.Edges !== undefined));
    const traceGraph = await client.send(
      new GetTraceGraphCommand({ TraceIds: [trace] }),
    );
    assert.equal(traceGraph.Services?.length, 3);
    const rules = await client.send(new GetSamplingRulesCommand({}));
    assert.equal(
      rules.SamplingRuleRecords?.[0].SamplingRule?.RuleName,
      "Default",
    );
    await assert.rejects(
      () =>
        client.send(
          new GetTraceSummariesCommand({ ...range, FilterExpression: "(" }),
        ),
      (e: Error) =>
        e.name === "InvalidRequestException" &&
        /expected a keyword/.test(e.message),
    );
  } finally {
    client.destroy();
    await running.close();
  }
});

const PYTHON = `
import os
from aws_xray_sdk.core import xray_recorder
# streaming_threshold=1: finished subsegments go out as their own documents.
xray_recorder.configure(service="py-app", sampling=False, context_missing="LOG_ERROR",
                        daemon_address=os.environ["AWS_XRAY_DAEMON_ADDRESS"],
                        streaming_threshold=1)
segment = xray_recorder.begin_segment("py-app")
segment.put_annotation("lang", "python")
segment.put_http_meta("url", "http://py-app/hello")
segment.put_http_meta("method", "GET")
segment.put_http_meta("status", 200)
sub = xray_recorder.begin_subsegment("py-work")
sub.put_metadata("k", {"v": 1})
xray_recorder.begin_subsegment("py-inner")
xray_recorder.end_subsegment()
xray_recorder.end_subsegment()
xray_recorder.begin_subsegment("py-more")
xray_recorder.end_subsegment()
xray_recorder.end_segment()
print(segment.trace_id)
`;

Deno.test("AWS X-Ray SDK for Python: its UDP emitter delivers to the collector", async () => {
  const running = await startCollector({ port: 0, database: ":memory:" });
  try {
    const out = await new Deno.Command("python3", {
      args: ["-c", PYTHON],
      env: { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${running.port}` },
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => {
      throw new Error(
        `python3 with aws-xray-sdk is needed for this test (${e.name}): pip install aws-xray-sdk`,
      );
    });
    assert.equal(out.success, true, new TextDecoder().decode(out.stderr));
    const traceId = new TextDecoder().decode(out.stdout).trim();
    // The segment plus streamed subsegments: several datagrams.
    let last = -1;
    for (let i = 0; i < 300; i++) {
      const now = running.collector.stats().udp.datagrams;
      if (now >= 2 && now === last) break;
      last = now;
      await new Promise((r) => setTimeout(r, 20));
    }
    running.collector.drain();
    const stats = running.collector.stats();
    assert.equal(stats.documents.rejected, 0);
    assert.equal(stats.udp.malformed, 0);
    assert.equal(stats.store.traces, 1);
    assert.ok(stats.store.documents > 1, "the Python SDK streamed subsegments");
    const response = await fetch(new URL("/Traces", running.url), {
      method: "POST",
      body: JSON.stringify({ TraceIds: [traceId] }),
    });
    const body = await response.json();
    const doc = JSON.parse(body.Traces[0].Segments[0].Document);
    assert.equal(doc.name, "py-app");
    assert.equal(doc.annotations.lang, "python");
    assert.equal(body.Traces[0].Segments.length, 1);
    assert.deepEqual(
      doc.subsegments.map((s: { name: string }) => s.name),
      ["py-work", "py-more"],
    );
    assert.equal(doc.subsegments[0].subsegments[0].name, "py-inner");
    assertValidDocument(doc);
    const summaries = await fetch(new URL("/TraceSummaries", running.url), {
      method: "POST",
      body: JSON.stringify({
        StartTime: T0 - 60,
        EndTime: T0 + 3600,
        FilterExpression: 'annotation.lang = "python" AND http.status = 200',
      }),
    });
    const list = (await summaries.json()).TraceSummaries;
    assert.deepEqual(list.map((s: { Id: string }) => s.Id), [traceId]);
  } finally {
    await running.close();
  }
});

const PYTHON_SAMPLING = `
import os, time
from aws_xray_sdk.core import xray_recorder
xray_recorder.configure(service="py-app", sampling=True, context_missing="LOG_ERROR",
                        daemon_address=os.environ["AWS_XRAY_DAEMON_ADDRESS"])
sampler = xray_recorder.sampler
sampler.start()
for i in range(100):
    if any(r.name == "hello" for r in sampler._cache.rules):
        break
    time.sleep(0.1)
print(sampler.should_trace({"service": "x", "method": "GET", "path": "/hello"}))
print(sampler.should_trace({"service": "x", "method": "GET", "path": "/other"}))
`;

Deno.test("AWS X-Ray SDK for Python: its centralized sampler takes the collector's rules file", async () => {
  const running = await startCollector({
    port: 0,
    database: ":memory:",
    rules: {
      version: 2,
      default: { fixed_target: 0, rate: 0 },
      rules: [{
        description: "hello",
        host: "*",
        http_method: "GET",
        url_path: "/hello",
        fixed_target: 0,
        rate: 1,
      }],
    },
  });
  try {
    const out = await new Deno.Command("python3", {
      args: ["-c", PYTHON_SAMPLING],
      env: { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${running.port}` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.success, true, new TextDecoder().decode(out.stderr));
    // should_trace answers the matching rule's name when sampled, False when not.
    assert.deepEqual(
      new TextDecoder().decode(out.stdout).trim().split("\n"),
      ["hello", "False"],
    );
    assert.ok(running.collector.stats().sampling.rules >= 1);
  } finally {
    await running.close();
  }
});
