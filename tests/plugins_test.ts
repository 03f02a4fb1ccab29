// matrix: deno — metadata servers via Deno.serve and temp files via Deno.makeTempFile
import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  denoDeployPlugin,
  ec2Plugin,
  ecsPlugin,
  elasticBeanstalkPlugin,
  lambdaPlugin,
  workersPlugin,
} from "../src/plugins.ts";
import { xray } from "../src/hono.ts";
import { testTracer } from "./_helpers.ts";

type Route = (req: Request) => Response | Promise<Response>;

async function withServer(
  route: Route,
  fn: (base: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    route,
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

const IDENTITY = {
  instanceId: "i-0123456789abcdef0",
  availabilityZone: "eu-west-1b",
  instanceType: "t3.small",
  imageId: "ami-0abcdef1234567890",
  region: "eu-west-1",
};

function imds(opts: { tokens: boolean }): { route: Route; seen: string[] } {
  const seen: string[] = [];
  const route: Route = (req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${req.method} ${path}`);
    if (path === "/latest/api/token" && req.method === "PUT") {
      if (!opts.tokens) return new Response("", { status: 403 });
      assert.equal(
        req.headers.get("x-aws-ec2-metadata-token-ttl-seconds"),
        "60",
      );
      return new Response("tok-123");
    }
    if (path === "/latest/dynamic/instance-identity/document") {
      const token = req.headers.get("x-aws-ec2-metadata-token");
      if (opts.tokens && token !== "tok-123") {
        return new Response("", { status: 401 });
      }
      return Response.json(IDENTITY);
    }
    return new Response("", { status: 404 });
  };
  return { route, seen };
}

Deno.test("ec2Plugin() reads the instance identity with an IMDSv2 token and puts it on every segment", async () => {
  const server = imds({ tokens: true });
  await withServer(server.route, async (endpoint) => {
    const t = testTracer({ plugins: [ec2Plugin({ endpoint })] });
    await t.tracer.ready();
    t.tracer.startSegment("web", { sampled: true }).end();
    t.tracer.startSegment("web", { sampled: true }).end();
    const docs = await t.flushed();
    for (const doc of docs) {
      assert.equal(doc.origin, "AWS::EC2::Instance");
      assert.deepEqual(doc.aws.ec2, {
        instance_id: "i-0123456789abcdef0",
        availability_zone: "eu-west-1b",
        instance_size: "t3.small",
        ami_id: "ami-0abcdef1234567890",
      });
    }
    // Collected once.
    assert.deepEqual(server.seen, [
      "PUT /latest/api/token",
      "GET /latest/dynamic/instance-identity/document",
    ]);
    assert.deepEqual(t.errors, []);
  });
});

Deno.test("ec2Plugin() falls back to IMDSv1 when the token call fails", async () => {
  const server = imds({ tokens: false });
  await withServer(server.route, async (endpoint) => {
    const data = await ec2Plugin({ endpoint }).collect?.();
    assert.equal(
      (data?.aws?.ec2 as Record<string, string>).instance_id,
      "i-0123456789abcdef0",
    );
  });
});

Deno.test("ec2Plugin() gives up after its timeout; the tracer reports it and keeps tracing", async () => {
  let release!: () => void;
  const hang = new Promise<void>((r) => release = r);
  await withServer(async () => {
    await hang;
    return new Response("late");
  }, async (endpoint) => {
    try {
      const t = testTracer({
        plugins: [ec2Plugin({ endpoint, timeoutMs: 50 })],
      });
      await t.tracer.ready();
      t.tracer.startSegment("web", { sampled: true }).end();
      const [doc] = await t.flushed();
      assert.equal(doc.origin, undefined);
      assert.equal(doc.aws.ec2, undefined);
      assert.equal(t.errors.length, 1);
      assert.equal(t.errors[0].source, "plugin");
      assert.match(t.errors[0].error.message, /Plugin 'ec2' failed: No answer/);
    } finally {
      release();
    }
  });
});

Deno.test("ecsPlugin() reads the container and task metadata v4 endpoint", async () => {
  await withServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v4/abc") {
      return Response.json({
        DockerId: "cafe0123",
        Name: "web",
        ContainerARN: "arn:aws:ecs:eu-west-1:111122223333:container/c1",
      });
    }
    if (path === "/v4/abc/task") {
      return Response.json({
        Cluster: "prod",
        TaskARN: "arn:aws:ecs:eu-west-1:111122223333:task/prod/t1",
        LaunchType: "FARGATE",
        AvailabilityZone: "eu-west-1a",
      });
    }
    return new Response("", { status: 404 });
  }, async (base) => {
    const t = testTracer({
      plugins: [ecsPlugin({
        env: {
          ECS_CONTAINER_METADATA_URI_V4: `${base}/v4/abc`,
          HOSTNAME: "ip-10-0-0-1",
        },
      })],
    });
    await t.tracer.ready();
    t.tracer.startSegment("web", { sampled: true }).end();
    const [doc] = await t.flushed();
    assert.equal(doc.origin, "AWS::ECS::Container");
    assert.deepEqual(doc.aws.ecs, {
      container: "ip-10-0-0-1",
      container_id: "cafe0123",
      container_arn: "arn:aws:ecs:eu-west-1:111122223333:container/c1",
      cluster: "prod",
      task_arn: "arn:aws:ecs:eu-west-1:111122223333:task/prod/t1",
      launch_type: "FARGATE",
      availability_zone: "eu-west-1a",
    });
  });
});

Deno.test("ecsPlugin() collects nothing outside ECS and reports a failing endpoint", async () => {
  assert.equal(await ecsPlugin({ env: {} }).collect?.(), undefined);
  await withServer(
    () => new Response("down", { status: 503 }),
    async (base) => {
      const t = testTracer({
        plugins: [ecsPlugin({ endpoint: base, env: {} })],
      });
      await t.tracer.ready();
      assert.match(
        t.errors[0].error.message,
        /Plugin 'ecs' failed: .* answered 503/,
      );
    },
  );
});

Deno.test("elasticBeanstalkPlugin() reads environment.conf through the runtime's file API", async () => {
  const path = await Deno.makeTempFile({ suffix: ".conf" });
  try {
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        deployment_id: 23,
        version_label: "app-v23",
        environment_name: "prod-env",
      }),
    );
    const t = testTracer({ plugins: [elasticBeanstalkPlugin({ path })] });
    await t.tracer.ready();
    t.tracer.startSegment("web", { sampled: true }).end();
    const [doc] = await t.flushed();
    assert.equal(doc.origin, "AWS::ElasticBeanstalk::Environment");
    assert.deepEqual(doc.aws.elastic_beanstalk, {
      environment_name: "prod-env",
      version_label: "app-v23",
      deployment_id: 23,
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("elasticBeanstalkPlugin() reports a missing file and leaves segments alone", async () => {
  const t = testTracer({
    plugins: [
      elasticBeanstalkPlugin({ path: "/nonexistent/environment.conf" }),
    ],
  });
  await t.tracer.ready();
  t.tracer.startSegment("web", { sampled: true }).end();
  const [doc] = await t.flushed();
  assert.equal(doc.origin, undefined);
  assert.equal(t.errors[0].source, "plugin");
});

Deno.test("lambdaPlugin() and denoDeployPlugin() read their environment, and collect nothing elsewhere", async () => {
  const t = testTracer({
    plugins: [
      lambdaPlugin({
        env: {
          AWS_LAMBDA_FUNCTION_NAME: "orders",
          AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
          AWS_REGION: "us-east-1",
        },
      }),
      denoDeployPlugin({
        env: { DENO_DEPLOYMENT_ID: "x7k2", DENO_REGION: "gcp-us-east4" },
      }),
    ],
  });
  await t.tracer.ready();
  t.tracer.startSegment("web", { sampled: true }).end();
  const [doc] = await t.flushed();
  assert.deepEqual(doc.aws.lambda, {
    function_name: "orders",
    function_version: "$LATEST",
    region: "us-east-1",
  });
  assert.deepEqual(doc.aws.deno_deploy, {
    deployment_id: "x7k2",
    region: "gcp-us-east4",
  });
  assert.equal(await lambdaPlugin({ env: {} }).collect?.(), undefined);
  assert.equal(await denoDeployPlugin({ env: {} }).collect?.(), undefined);
});

Deno.test("workersPlugin() adds colo, country and ray id per request through the Hono middleware", async () => {
  const t = testTracer({ plugins: [workersPlugin()] });
  const app = new Hono();
  app.use(xray({ tracer: t.tracer }));
  app.get("/", (c) => c.text("ok"));
  const header = {
    "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
  };
  const withCf = new Request("https://w.example/", {
    headers: { ...header, "CF-Ray": "8f1a2b3c4d5e6f70-FRA" },
  });
  Object.defineProperty(withCf, "cf", {
    value: { colo: "FRA", country: "DE" },
  });
  await (await app.request(withCf)).text();
  await (await app.request("https://w.example/", { headers: header })).text();
  const [first, second] = await t.flushed();
  assert.deepEqual(first.aws.cloudflare, {
    colo: "FRA",
    country: "DE",
    ray_id: "8f1a2b3c4d5e6f70-FRA",
  });
  assert.equal(second.aws.cloudflare, undefined);
});

Deno.test("plugins reject a bad timeout at once", () => {
  assert.throws(() => ec2Plugin({ timeoutMs: 0 }), {
    name: "RangeError",
    message:
      "Cannot create ec2Plugin as 'timeoutMs' must be a positive number: current value is 0",
  });
  assert.throws(() => ecsPlugin({ timeoutMs: -1 }), { name: "RangeError" });
});
