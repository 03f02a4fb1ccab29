// matrix: deno — starts moto_server through Deno.Command (tests/_moto.ts)
import assert from "node:assert/strict";
import {
  BatchGetItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import {
  CreateTopicCommand,
  PublishCommand,
  SNSClient,
} from "@aws-sdk/client-sns";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { createTracer, type Segment, type Tracer } from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import { captureAWSClient, toSnakeCase, withParent } from "../src/aws_sdk.ts";
import {
  fixedClock,
  type MemorySender,
  memorySender,
  sequentialIds,
} from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { type Moto, MOTO_HINT, startMoto } from "./_moto.ts";
import { resetServer, serve } from "./_server.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const INCOMING = `Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=1`;

function clientConfig(endpoint: string): {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return {
    region: "eu-west-1",
    endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
  };
}

function setup(
  context?: ReturnType<typeof createAsyncContext>,
): { tracer: Tracer; sender: MemorySender; segment: Segment } {
  const sender = memorySender();
  const tracer = createTracer({
    serviceName: "orders",
    sender,
    clock: fixedClock(),
    ids: sequentialIds(),
    context,
  });
  const segment = tracer.startSegment("orders", { traceHeader: INCOMING });
  return { tracer, sender, segment };
}

// deno-lint-ignore no-explicit-any
async function finish(t: Tracer, s: MemorySender, seg: Segment): Promise<any> {
  seg.end();
  await t.flush();
  assertValidDocuments(s.documents);
  assert.equal(s.documents.length, 1);
  return s.documents[0];
}

/** The trace header each subsegment should have sent. */
function headerFor(id: string, sampled = "1"): string {
  return `Root=${ROOT};Parent=${id};Sampled=${sampled}`;
}

Deno.test("toSnakeCase() keeps acronyms whole", () => {
  assert.equal(toSnakeCase("ACLName"), "acl_name");
  assert.equal(toSnakeCase("TableName"), "table_name");
  assert.equal(toSnakeCase("QueueUrl"), "queue_url");
  assert.equal(
    toSnakeCase("QueueOwnerAWSAccountId"),
    "queue_owner_aws_account_id",
  );
  assert.equal(toSnakeCase("getHTTPResponse"), "get_http_response");
});

Deno.test("captureAWSClient() records real AWS SDK v3 calls against moto", async (t) => {
  const moto: Moto = await startMoto({ s3Id2: true });
  try {
    await t.step(
      "DynamoDB: operation, region, request id, table names, trace header",
      async () => {
        const { tracer, sender, segment } = setup();
        const client = captureAWSClient(
          new DynamoDBClient(clientConfig(moto.url)),
          { parent: segment },
        );
        const first = moto.requests.length;
        await client.send(
          new CreateTableCommand({
            TableName: "orders",
            KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
            AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
            BillingMode: "PAY_PER_REQUEST",
          }),
        );
        await client.send(
          new PutItemCommand({
            TableName: "orders",
            Item: { id: { S: "o-1" } },
          }),
        );
        const got = await client.send(
          new GetItemCommand({
            TableName: "orders",
            Key: { id: { S: "o-1" } },
            ConsistentRead: true,
          }),
        );
        assert.deepEqual(got.Item, { id: { S: "o-1" } });
        await client.send(
          new BatchGetItemCommand({
            RequestItems: { orders: { Keys: [{ id: { S: "o-1" } }] } },
          }),
        );
        await client.send(new ListTablesCommand({}));
        client.destroy();
        const doc = await finish(tracer, sender, segment);
        const subs = doc.subsegments;
        assert.deepEqual(
          subs.map((s: { name: string; namespace: string }) => [
            s.name,
            s.namespace,
          ]),
          Array(5).fill(["DynamoDB", "aws"]),
        );
        const aws = subs.map((s: { aws: Record<string, unknown> }) => s.aws);
        for (const a of aws) {
          assert.equal(a.region, "eu-west-1");
          assert.equal(typeof a.request_id, "string");
          assert.ok((a.request_id as string).length > 0);
          assert.equal(a.retries, 0);
        }
        assert.deepEqual(
          aws.map((a: Record<string, unknown>) => a.operation),
          ["CreateTable", "PutItem", "GetItem", "BatchGetItem", "ListTables"],
        );
        assert.equal(aws[0].table_name, "orders");
        assert.equal(aws[1].table_name, "orders");
        assert.equal(aws[2].table_name, "orders");
        assert.equal(aws[2].consistent_read, true);
        assert.deepEqual(aws[3].table_names, ["orders"]);
        assert.equal(aws[4].table_count, 1);
        assert.equal(subs[2].http.response.status, 200);
        assert.equal(typeof subs[2].http.response.content_length, "number");
        // What moto received, request by request, through the proxy.
        const seen = moto.requests.slice(first);
        assert.deepEqual(
          seen.map((r) => r.target),
          [
            "DynamoDB_20120810.CreateTable",
            "DynamoDB_20120810.PutItem",
            "DynamoDB_20120810.GetItem",
            "DynamoDB_20120810.BatchGetItem",
            "DynamoDB_20120810.ListTables",
          ],
        );
        assert.deepEqual(
          seen.map((r) => r.traceHeader),
          subs.map((s: { id: string }) => headerFor(s.id)),
        );
      },
    );

    await t.step(
      "DynamoDB: a missing table is a remote error with the request id",
      async () => {
        const { tracer, sender, segment } = setup();
        const client = captureAWSClient(
          new DynamoDBClient(clientConfig(moto.url)),
          { parent: segment },
        );
        const error = await client.send(
          new GetItemCommand({ TableName: "missing", Key: { id: { S: "x" } } }),
        ).then(() => undefined, (e) => e);
        assert.equal(error?.name, "ResourceNotFoundException");
        client.destroy();
        const doc = await finish(tracer, sender, segment);
        const sub = doc.subsegments[0];
        assert.equal(sub.aws.operation, "GetItem");
        assert.equal(sub.aws.table_name, "missing");
        assert.equal(sub.aws.request_id, error.$metadata.requestId);
        assert.equal(sub.http.response.status, 400);
        assert.equal(sub.error, true);
        assert.equal(sub.fault, true);
        assert.equal(sub.throttle, undefined);
        const [exception] = sub.cause.exceptions;
        assert.equal(exception.type, "ResourceNotFoundException");
        assert.equal(exception.remote, true);
      },
    );

    await t.step(
      "S3: bucket_name, key, id_2 and a missing bucket as a remote error",
      async () => {
        const { tracer, sender, segment } = setup();
        const client = captureAWSClient(
          new S3Client({ ...clientConfig(moto.url), forcePathStyle: true }),
          { parent: segment },
        );
        const first = moto.requests.length;
        await client.send(new CreateBucketCommand({ Bucket: "invoices" }));
        await client.send(
          new PutObjectCommand({
            Bucket: "invoices",
            Key: "2026/01.pdf",
            Body: "pdf",
          }),
        );
        const error = await client.send(
          new GetObjectCommand({ Bucket: "no-such-bucket", Key: "a" }),
        ).then(() => undefined, (e) => e);
        assert.equal(error?.name, "NoSuchBucket");
        client.destroy();
        const doc = await finish(tracer, sender, segment);
        const [create, put, get] = doc.subsegments;
        assert.equal(create.name, "S3");
        assert.equal(create.aws.operation, "CreateBucket");
        assert.equal(create.aws.bucket_name, "invoices");
        assert.equal(put.aws.operation, "PutObject");
        assert.equal(put.aws.bucket_name, "invoices");
        assert.equal(put.aws.key, "2026/01.pdf");
        // moto sends no x-amz-id-2; the proxy adds one per S3 answer.
        assert.match(put.aws.id_2, /^proxy-id2-\d+$/);
        assert.equal(get.aws.bucket_name, "no-such-bucket");
        assert.equal(get.http.response.status, 404);
        assert.equal(get.error, true);
        assert.equal(get.cause.exceptions[0].type, "NoSuchBucket");
        assert.equal(get.cause.exceptions[0].remote, true);
        assert.match(get.aws.id_2, /^proxy-id2-\d+$/);
        assert.deepEqual(
          moto.requests.slice(first).map((r) => r.traceHeader),
          doc.subsegments.map((s: { id: string }) => headerFor(s.id)),
        );
      },
    );

    await t.step("SQS: queue_url, message_id and message_count", async () => {
      const { tracer, sender, segment } = setup();
      const client = captureAWSClient(
        new SQSClient(clientConfig(moto.url)),
        { parent: segment },
      );
      const first = moto.requests.length;
      const { QueueUrl } = await client.send(
        new CreateQueueCommand({ QueueName: "jobs" }),
      );
      const sent = await client.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: "job 1",
          MessageAttributes: {
            kind: { DataType: "String", StringValue: "invoice" },
          },
        }),
      );
      const received = await client.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 5 }),
      );
      assert.equal(received.Messages?.length, 1);
      client.destroy();
      const doc = await finish(tracer, sender, segment);
      const [create, send, receive] = doc.subsegments;
      assert.equal(create.name, "SQS");
      assert.equal(create.aws.queue_name, "jobs");
      assert.equal(send.aws.operation, "SendMessage");
      assert.equal(send.aws.queue_url, QueueUrl);
      assert.equal(send.aws.message_id, sent.MessageId);
      assert.deepEqual(send.aws.message_attribute_names, ["kind"]);
      assert.equal(receive.aws.message_count, 1);
      assert.equal(receive.aws.max_number_of_messages, 5);
      const seen = moto.requests.slice(first);
      assert.equal(seen.length, 3);
      assert.deepEqual(
        seen.map((r) => r.traceHeader),
        doc.subsegments.map((s: { id: string }) => headerFor(s.id)),
      );
    });

    await t.step("SNS: topic_arn on Publish", async () => {
      const { tracer, sender, segment } = setup();
      const client = captureAWSClient(
        new SNSClient(clientConfig(moto.url)),
        { parent: segment },
      );
      const { TopicArn } = await client.send(
        new CreateTopicCommand({ Name: "orders" }),
      );
      const published = await client.send(
        new PublishCommand({ TopicArn, Message: "placed" }),
      );
      client.destroy();
      const doc = await finish(tracer, sender, segment);
      const publish = doc.subsegments[1];
      assert.equal(publish.name, "SNS");
      assert.equal(publish.aws.operation, "Publish");
      assert.equal(publish.aws.topic_arn, TopicArn);
      assert.equal(publish.aws.message_id, published.MessageId);
      assert.equal(publish.aws.region, "eu-west-1");
    });

    await t.step(
      "Lambda: function_name and invocation_type, missing function as a remote error",
      async () => {
        const { tracer, sender, segment } = setup();
        const client = captureAWSClient(
          new LambdaClient(clientConfig(moto.url)),
          { parent: segment },
        );
        const first = moto.requests.length;
        const error = await client.send(
          new InvokeCommand({
            FunctionName: "resize",
            InvocationType: "Event",
            Payload: new TextEncoder().encode("{}"),
          }),
        ).then(() => undefined, (e) => e);
        assert.equal(error?.name, "ResourceNotFoundException");
        client.destroy();
        const doc = await finish(tracer, sender, segment);
        const sub = doc.subsegments[0];
        assert.equal(sub.name, "Lambda");
        assert.equal(sub.aws.operation, "Invoke");
        assert.equal(sub.aws.function_name, "resize");
        assert.equal(sub.aws.invocation_type, "Event");
        assert.equal(sub.http.response.status, 404);
        assert.equal(sub.cause.exceptions[0].remote, true);
        assert.equal(
          moto.requests[first].traceHeader,
          headerFor(sub.id),
        );
      },
    );

    await t.step(
      "withParent() and an ambient tracer pick the parent per call; extra params are recorded",
      async () => {
        const context = createAsyncContext();
        const { tracer, sender, segment } = setup(context);
        const client = captureAWSClient(
          new DynamoDBClient(clientConfig(moto.url)),
          {
            parent: tracer,
            params: { DynamoDB: { ListTables: { request: ["Limit"] } } },
          },
        );
        await segment.capture("explicit", async (sub) => {
          await client.send(
            withParent(new ListTablesCommand({ Limit: 3 }), sub),
          );
        });
        await context.run(
          segment,
          () => client.send(new ListTablesCommand({})),
        );
        client.destroy();
        const doc = await finish(tracer, sender, segment);
        const [explicit, ambient] = doc.subsegments;
        assert.equal(explicit.name, "explicit");
        assert.equal(explicit.subsegments[0].name, "DynamoDB");
        assert.equal(explicit.subsegments[0].aws.limit, 3);
        assert.equal(explicit.subsegments[0].aws.table_count, 1);
        assert.equal(ambient.name, "DynamoDB");
        assert.equal(ambient.aws.operation, "ListTables");
      },
    );

    await t.step(
      "an unsampled parent sends Sampled=0 and records nothing",
      async () => {
        const sender = memorySender();
        const tracer = createTracer({ serviceName: "orders", sender });
        const segment = tracer.startSegment("orders", {
          traceHeader: `Root=${ROOT};Sampled=0`,
        });
        const client = captureAWSClient(
          new DynamoDBClient(clientConfig(moto.url)),
          { parent: segment },
        );
        const first = moto.requests.length;
        await client.send(new ListTablesCommand({}));
        client.destroy();
        segment.end();
        await tracer.flush();
        assert.equal(sender.documents.length, 0);
        assert.match(
          moto.requests[first].traceHeader ?? "",
          new RegExp(`^Root=${ROOT};Parent=[0-9a-f]{16};Sampled=0$`),
        );
      },
    );
  } finally {
    await moto.close();
  }
});

/** A DynamoDB endpoint that answers ThrottlingException `failures` times, then succeeds. */
async function throttlingEndpoint(failures: number): Promise<{
  url: string;
  calls: () => number;
  close: () => Promise<void>;
}> {
  let calls = 0;
  const server = await serve(async (req) => {
    await req.arrayBuffer();
    calls++;
    if (calls <= failures) {
      return new Response(
        JSON.stringify({
          __type: "com.amazonaws.dynamodb.v20120810#ThrottlingException",
          message: "Rate of requests exceeds the allowed throughput.",
        }),
        {
          status: 400,
          headers: {
            "content-type": "application/x-amz-json-1.0",
            "x-amzn-errortype": "ThrottlingException",
            "x-amzn-requestid": `throttled-${calls}`,
          },
        },
      );
    }
    return new Response(JSON.stringify({ TableNames: ["orders"] }), {
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amzn-requestid": `ok-${calls}`,
      },
    });
  });
  return { url: server.url, calls: () => calls, close: () => server.close() };
}

Deno.test("captureAWSClient() marks throttled retries and counts them", async () => {
  const endpoint = await throttlingEndpoint(2);
  try {
    const { tracer, sender, segment } = setup();
    const client = captureAWSClient(
      new DynamoDBClient({ ...clientConfig(endpoint.url), maxAttempts: 3 }),
      { parent: segment },
    );
    const out = await client.send(new ListTablesCommand({}));
    assert.deepEqual(out.TableNames, ["orders"]);
    client.destroy();
    assert.equal(endpoint.calls(), 3);
    const doc = await finish(tracer, sender, segment);
    const sub = doc.subsegments[0];
    assert.equal(sub.aws.retries, 2);
    assert.equal(sub.aws.request_id, "ok-3");
    assert.equal(sub.throttle, true);
    assert.equal(sub.http.response.status, 200);
    assert.equal(sub.cause, undefined);
  } finally {
    await endpoint.close();
  }
});

Deno.test("captureAWSClient() records a throttling error that outlasts the retries", async () => {
  const endpoint = await throttlingEndpoint(10);
  try {
    const { tracer, sender, segment } = setup();
    const client = captureAWSClient(
      new DynamoDBClient({ ...clientConfig(endpoint.url), maxAttempts: 2 }),
      { parent: segment },
    );
    const error = await client.send(new ListTablesCommand({})).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(error?.name, "ThrottlingException");
    client.destroy();
    assert.equal(endpoint.calls(), 2);
    const doc = await finish(tracer, sender, segment);
    const sub = doc.subsegments[0];
    assert.equal(sub.aws.retries, 1);
    assert.equal(sub.aws.request_id, "throttled-2");
    assert.equal(sub.throttle, true);
    assert.equal(sub.error, true);
    assert.equal(sub.http.response.status, 400);
    assert.equal(sub.cause.exceptions[0].type, "ThrottlingException");
    assert.equal(sub.cause.exceptions[0].remote, true);
  } finally {
    await endpoint.close();
  }
});

Deno.test("captureAWSClient() rejects things that are not v3 clients", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => captureAWSClient({} as any),
    {
      name: "TypeError",
      message:
        "Cannot capture AWS client as it has no middleware stack (an AWS SDK v3 client is expected)",
    },
  );
  const client = new DynamoDBClient(clientConfig("http://127.0.0.1:9"));
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => captureAWSClient(client, { parent: 42 as any }),
    TypeError,
  );
  client.destroy();
});

Deno.test("captureAWSClient() records a network failure as a local fault", async () => {
  const server = await resetServer();
  try {
    const { tracer, sender, segment } = setup();
    const client = captureAWSClient(
      new DynamoDBClient({ ...clientConfig(server.url), maxAttempts: 1 }),
      { parent: segment },
    );
    const error = await client.send(new ListTablesCommand({})).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof Error);
    client.destroy();
    const doc = await finish(tracer, sender, segment);
    const sub = doc.subsegments[0];
    assert.equal(sub.name, "DynamoDB");
    assert.equal(sub.aws.operation, "ListTables");
    assert.equal(sub.fault, true);
    assert.equal(sub.http, undefined);
    assert.equal(sub.cause.exceptions[0].remote, false);
    assert.equal(sub.cause.exceptions[0].message, error.message);
  } finally {
    await server.close();
  }
});

Deno.test("the moto helper fails with the install hint when moto_server is missing", async () => {
  await assert.rejects(
    () => startMoto({ command: "moto_server_not_installed_here" }),
    (error: Error) => {
      assert.ok(error.message.startsWith(MOTO_HINT));
      assert.match(error.message, /pip install 'moto\[server\]'/);
      return true;
    },
  );
});
