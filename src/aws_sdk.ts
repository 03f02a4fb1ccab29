/**
 * AWS SDK for JavaScript v3: `captureAWSClient` adds middleware to a client's
 * own middleware stack (nothing is patched) that records every operation as
 * an `aws` subsegment and sends the trace header with the request.
 *
 * @example Trace a DynamoDB client
 * ```ts ignore
 * import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
 * import { captureAWSClient, withParent } from "xray-edge/aws-sdk";
 *
 * const dynamo = captureAWSClient(new DynamoDBClient({}), { parent: tracer });
 * await dynamo.send(new GetItemCommand({ TableName: "orders", Key }));   // ambient parent
 * await dynamo.send(withParent(new GetItemCommand({ TableName: "orders", Key }), segment));
 * ```
 *
 * @module
 */

import type {
  BuildHandlerOutput,
  BuildMiddleware,
  FinalizeRequestMiddleware,
  HandlerExecutionContext,
  HttpRequest,
  HttpResponse,
  InitializeMiddleware,
  MetadataBearer,
  MiddlewareStack,
} from "@smithy/types";
import type { Entity, Subsegment } from "./segment.ts";
import { setTraceHeaders } from "./_propagation.ts";
import { TRACE_HEADER } from "./trace_header.ts";
import {
  isEntity,
  isParentSource,
  type ParentSource,
  resolveParent,
} from "./_parent.ts";
import {
  AWS_PARAMS,
  awsParams,
  type AwsParamTable,
  mergeAwsParams,
} from "./_aws_params.ts";

export { AWS_PARAMS, mergeAwsParams, toSnakeCase } from "./_aws_params.ts";
export type {
  AwsOperationParams,
  AwsParamDescriptor,
  AwsParamTable,
} from "./_aws_params.ts";
export type { CurrentEntitySource, ParentSource } from "./_parent.ts";

/** The parts of an AWS SDK v3 client that `captureAWSClient` uses. */
export interface AwsClientLike {
  /** The client's middleware stack. */
  // deno-lint-ignore no-explicit-any
  middlewareStack: MiddlewareStack<any, any>;
  /** The resolved client configuration (`region` is read). */
  config: object;
}

/** The parts of an AWS SDK v3 command that `withParent` uses. */
export interface AwsCommandLike {
  /** The command's own middleware stack. */
  // deno-lint-ignore no-explicit-any
  middlewareStack: MiddlewareStack<any, any>;
}

/** Options for {@linkcode captureAWSClient}. */
export interface CaptureAWSClientOptions {
  /**
   * The parent of every call: a segment or subsegment (for clients made per
   * request), or something with `current()` (a tracer with an ambient
   * context, or the context itself), asked on each call. `withParent` on a
   * command wins over it. Calls without any parent go through untraced.
   */
  parent?: ParentSource;
  /** Parameters to record besides the defaults ({@linkcode AWS_PARAMS}); merged into them. */
  params?: AwsParamTable;
}

const OPERATION_MIDDLEWARE = "xrayEdgeAwsOperation";
const ATTEMPT_MIDDLEWARE = "xrayEdgeAwsAttempt";
const PARENT_MIDDLEWARE = "xrayEdgeAwsParent";

/** Error codes the AWS SDKs treat as throttling. */
export const AWS_THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "LimitExceededException",
  "PriorRequestNotComplete",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
  "ThrottledException",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "TransactionInProgressException",
]);

/** Parents chosen per command through `withParent`, by execution context. */
const explicitParents = new WeakMap<object, Entity>();
/** Per-operation state shared by the operation and attempt middleware. */
const operations = new WeakMap<object, { throttled: boolean }>();

interface SdkError {
  name?: string;
  code?: string;
  $fault?: string;
  $metadata?: MetadataBearer["$metadata"];
  $response?: HttpResponse;
  $retryable?: { throttling?: boolean };
}

function isThrottling(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as SdkError;
  return AWS_THROTTLING_ERRORS.has(e.name ?? "") ||
    AWS_THROTTLING_ERRORS.has(e.code ?? "") ||
    e.$retryable?.throttling === true ||
    e.$metadata?.httpStatusCode === 429;
}

const SMITHY_CONTEXT_KEY = "__smithy_context";

function names(
  context: HandlerExecutionContext,
): { service: string; operation: string } {
  const smithy = (context as Record<string, unknown>)[SMITHY_CONTEXT_KEY] as
    | { service?: string; operation?: string }
    | undefined;
  const client = context.clientName;
  const service = client
    ? client.replace(/Client$/, "")
    : (smithy?.service ?? "AWS").replace(/_\d+$/, "");
  const command = context.commandName;
  const operation = command
    ? command.replace(/Command$/, "")
    : smithy?.operation ?? "Unknown";
  return { service, operation };
}

async function regionOf(config: object): Promise<string | undefined> {
  try {
    const region = (config as { region?: unknown }).region;
    const value = typeof region === "function" ? await region() : region;
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

function header(
  headers: Record<string, string> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  for (const key in headers) {
    if (key.toLowerCase() === name) return headers[key];
  }
  return undefined;
}

function lengthOf(response: HttpResponse | undefined): number | undefined {
  const raw = header(response?.headers, "content-length");
  return raw !== undefined && /^\d+$/.test(raw.trim())
    ? Number(raw)
    : undefined;
}

function injectHeaders(request: unknown, entity: Entity): void {
  const headers = (request as HttpRequest | undefined)?.headers;
  if (typeof headers !== "object" || headers === null) return;
  setTraceHeaders(entity, (name, value) => {
    // One header per name, whatever case the request had it in.
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name.toLowerCase()) delete headers[key];
    }
    headers[name] = value;
  }, TRACE_HEADER);
}

function report(source: ParentSource | undefined, error: unknown): void {
  const reporter = (source as { reportError?: unknown } | undefined)
    ?.reportError;
  if (typeof reporter === "function") {
    try {
      reporter.call(source, error, "recording");
    } catch {
      // Reporting must not reach the call.
    }
  }
}

function record(
  sub: Subsegment,
  base: Record<string, unknown>,
  meta: MetadataBearer["$metadata"] | undefined,
  response: HttpResponse | undefined,
  params: Record<string, unknown>,
): void {
  const aws: Record<string, unknown> = { ...base };
  const requestId = meta?.requestId ??
    header(response?.headers, "x-amzn-requestid") ??
    header(response?.headers, "x-amz-request-id");
  if (requestId) aws.request_id = requestId;
  const id2 = meta?.extendedRequestId ??
    header(response?.headers, "x-amz-id-2");
  if (id2) aws.id_2 = id2;
  aws.retries = Math.max(0, (meta?.attempts ?? 1) - 1);
  sub.setAws({ ...aws, ...params });
  const status = response?.statusCode ?? meta?.httpStatusCode;
  if (status !== undefined) {
    sub.setHttpResponse({ status, contentLength: lengthOf(response) });
  }
}

/**
 * Traces an AWS SDK for JavaScript v3 client: each operation becomes an
 * `aws` subsegment named by the service (`DynamoDB`, `S3`, `SQS`, …) with
 * `aws.operation`, `region`, `request_id`, `id_2` (S3), `retries` and the
 * whitelisted parameters in snake_case ({@linkcode AWS_PARAMS}), plus the
 * `http.response` status. Throttling errors set `throttle` (also when a
 * retry then succeeded), service errors are recorded with `remote: true`,
 * and the subsegment's `X-Amzn-Trace-Id` goes with every request. Adds
 * middleware to the client's own stack; calling it again replaces it.
 *
 * @param client An AWS SDK v3 client.
 * @param options The parent (entity or per-call source) and extra parameters.
 * @returns The same client.
 * @throws {TypeError} When `client` has no middleware stack or `parent` is invalid.
 *
 * @example Record an operation
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { memorySender } from "./testing.ts";
 * import { captureAWSClient } from "./aws_sdk.ts";
 * import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "orders", sender });
 * const segment = tracer.startSegment("orders", { sampled: true });
 * let seen: string | undefined;
 * const client = captureAWSClient(new DynamoDBClient({
 *   region: "eu-west-1",
 *   endpoint: "http://dynamodb.invalid",
 *   credentials: { accessKeyId: "test", secretAccessKey: "test" },
 *   requestHandler: {
 *     handle: (request: { headers: Record<string, string> }) => {
 *       seen = request.headers["X-Amzn-Trace-Id"];
 *       return Promise.resolve({ response: { statusCode: 200, headers: {}, body: new TextEncoder().encode('{"TableNames":["a"]}') } });
 *     },
 *   },
 * }), { parent: segment });
 * await client.send(new ListTablesCommand({}));
 * segment.end();
 * await tracer.flush();
 * const sub = sender.documents[0].subsegments[0];
 * assert.equal(sub.name, "DynamoDB");
 * assert.equal(sub.aws.operation, "ListTables");
 * assert.equal(sub.aws.table_count, 1);
 * assert.equal(seen, `Root=${segment.traceId};Parent=${sub.id};Sampled=1`);
 * ```
 */
export function captureAWSClient<C extends AwsClientLike>(
  client: C,
  options: CaptureAWSClientOptions = {},
): C {
  const stack = client?.middlewareStack;
  if (typeof stack?.add !== "function") {
    throw new TypeError(
      "Cannot capture AWS client as it has no middleware stack (an AWS SDK v3 client is expected)",
    );
  }
  const source = options.parent;
  if (source !== undefined && !isParentSource(source)) {
    throw new TypeError(
      "Cannot capture AWS client as 'parent' must be a segment, a subsegment or have current()",
    );
  }
  const table = options.params
    ? mergeAwsParams(AWS_PARAMS, options.params)
    : AWS_PARAMS;
  const config = client.config;

  const operation: BuildMiddleware<object, MetadataBearer> = (
    next,
    context,
  ) =>
    async function xrayEdgeAwsOperation(
      args,
    ): Promise<BuildHandlerOutput<MetadataBearer>> {
      const parent = explicitParents.get(context) ??
        (source ? resolveParent(source) : undefined);
      if (!parent) return next(args);
      const { service, operation: op } = names(context);
      const sub = parent.startSubsegment(service, { namespace: "aws" });
      const state = { throttled: false };
      operations.set(context, state);
      injectHeaders(args.request, sub);
      const region = regionOf(config);
      let result: BuildHandlerOutput<MetadataBearer>;
      try {
        result = await next(args);
      } catch (error) {
        try {
          const e = (typeof error === "object" && error !== null
            ? error
            : {}) as SdkError;
          const base = { operation: op, region: await region };
          record(
            sub,
            base,
            e.$metadata,
            e.$response,
            awsParams(table, service, op, args.input, undefined),
          );
          if (state.throttled || isThrottling(error)) sub.addThrottleFlag();
          const remote = e.$fault !== undefined ||
            e.$metadata?.httpStatusCode !== undefined ||
            e.$response !== undefined;
          sub.addError(error, { remote });
        } catch (problem) {
          report(source, problem);
        }
        sub.end();
        throw error;
      }
      try {
        record(
          sub,
          { operation: op, region: await region },
          result.output?.$metadata,
          result.response as HttpResponse | undefined,
          awsParams(table, service, op, args.input, result.output),
        );
        if (state.throttled) {
          sub.addThrottleFlag();
        }
      } catch (problem) {
        report(source, problem);
      }
      sub.end();
      return result;
    };

  // Inside the retry loop: sees every attempt, so a throttled attempt
  // followed by a successful retry still marks the operation as throttled.
  const attempt: FinalizeRequestMiddleware<object, MetadataBearer> = (
    next,
    context,
  ) =>
    async function xrayEdgeAwsAttempt(args) {
      try {
        return await next(args);
      } catch (error) {
        const state = operations.get(context);
        if (state && isThrottling(error)) state.throttled = true;
        throw error;
      }
    };

  stack.add(operation, {
    step: "build",
    priority: "low",
    name: OPERATION_MIDDLEWARE,
    tags: ["XRAY"],
    override: true,
  });
  stack.add(attempt, {
    step: "finalizeRequest",
    priority: "low",
    name: ATTEMPT_MIDDLEWARE,
    tags: ["XRAY"],
    override: true,
  });
  return client;
}

/**
 * Makes one command record under `parent`, whatever the client's own parent
 * option says (the explicit way to pass a parent per call). The client must
 * have been given to {@linkcode captureAWSClient}.
 *
 * @param command An AWS SDK v3 command, before `client.send`.
 * @param parent The segment or subsegment to record under.
 * @returns The same command.
 * @throws {TypeError} When `command` has no middleware stack or `parent` is not an entity.
 *
 * @example
 * ```ts ignore
 * await s3.send(withParent(new GetObjectCommand({ Bucket, Key }), segment));
 * ```
 */
export function withParent<C extends AwsCommandLike>(
  command: C,
  parent: Entity,
): C {
  if (typeof command?.middlewareStack?.add !== "function") {
    throw new TypeError(
      "Cannot set the parent as the command has no middleware stack (an AWS SDK v3 command is expected)",
    );
  }
  if (!isEntity(parent)) {
    throw new TypeError(
      "Cannot set the parent as 'parent' must be a segment or a subsegment",
    );
  }
  const mark: InitializeMiddleware<object, MetadataBearer> = (
    next,
    context,
  ) =>
    function xrayEdgeAwsParent(args) {
      explicitParents.set(context, parent);
      return next(args);
    };
  command.middlewareStack.add(mark, {
    step: "initialize",
    priority: "high",
    name: PARENT_MIDDLEWARE,
    override: true,
  });
  return command;
}
