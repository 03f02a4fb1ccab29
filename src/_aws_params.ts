// The AWS request/response parameters recorded in a subsegment's `aws` block,
// per service and operation, as data. Service keys are the v3 client names
// without `Client` (`DynamoDB`, `S3`, …); operation keys are the API operation
// names (`GetItem`), or `*` for every operation of the service.

/** How one parameter is recorded. */
export interface AwsParamDescriptor {
  /** Record the keys of a map (as a list) instead of the map. */
  keys?: boolean;
  /** Record the length of a list instead of the list. */
  count?: boolean;
  /** The key in the `aws` block. @default the parameter name in snake_case */
  renameTo?: string;
}

/** What one operation records. */
export interface AwsOperationParams {
  /** Input parameters copied as they are, under their snake_case name. */
  request?: readonly string[];
  /** Output parameters copied as they are, under their snake_case name. */
  response?: readonly string[];
  /** Input parameters recorded through a descriptor. */
  requestDescriptors?: Readonly<Record<string, AwsParamDescriptor>>;
  /** Output parameters recorded through a descriptor. */
  responseDescriptors?: Readonly<Record<string, AwsParamDescriptor>>;
}

/** Service → operation (or `*`) → what to record. */
export type AwsParamTable = Readonly<
  Record<string, Readonly<Record<string, AwsOperationParams>>>
>;

const TABLE_NAMES: Readonly<Record<string, AwsParamDescriptor>> = {
  RequestItems: { keys: true, renameTo: "table_names" },
};
const WRITE_RESPONSE = ["ConsumedCapacity", "ItemCollectionMetrics"];

/** The parameters recorded by default (those the reference SDKs record). */
export const AWS_PARAMS: AwsParamTable = {
  DynamoDB: {
    BatchGetItem: {
      requestDescriptors: TABLE_NAMES,
      response: ["ConsumedCapacity"],
    },
    BatchWriteItem: {
      requestDescriptors: TABLE_NAMES,
      response: WRITE_RESPONSE,
    },
    CreateTable: {
      request: [
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "ProvisionedThroughput",
        "TableName",
      ],
    },
    DeleteItem: { request: ["TableName"], response: WRITE_RESPONSE },
    DeleteTable: { request: ["TableName"] },
    DescribeTable: { request: ["TableName"] },
    GetItem: {
      request: ["ConsistentRead", "ProjectionExpression", "TableName"],
      response: ["ConsumedCapacity"],
    },
    ListTables: {
      request: ["ExclusiveStartTableName", "Limit"],
      responseDescriptors: {
        TableNames: { count: true, renameTo: "table_count" },
      },
    },
    PutItem: { request: ["TableName"], response: WRITE_RESPONSE },
    Query: {
      request: [
        "AttributesToGet",
        "ConsistentRead",
        "IndexName",
        "Limit",
        "ProjectionExpression",
        "ScanIndexForward",
        "Select",
        "TableName",
      ],
      response: ["ConsumedCapacity"],
    },
    Scan: {
      request: [
        "AttributesToGet",
        "ConsistentRead",
        "IndexName",
        "Limit",
        "ProjectionExpression",
        "Segment",
        "Select",
        "TableName",
        "TotalSegments",
      ],
      response: ["ConsumedCapacity", "Count", "ScannedCount"],
    },
    UpdateItem: { request: ["TableName"], response: WRITE_RESPONSE },
    UpdateTable: {
      request: [
        "AttributeDefinitions",
        "GlobalSecondaryIndexUpdates",
        "ProvisionedThroughput",
        "TableName",
      ],
    },
  },
  SQS: {
    AddPermission: { request: ["Label"] },
    ChangeMessageVisibility: { request: ["VisibilityTimeout"] },
    ChangeMessageVisibilityBatch: { response: ["Failed"] },
    CreateQueue: { request: ["Attributes", "QueueName"] },
    DeleteMessage: { request: ["QueueUrl"] },
    DeleteMessageBatch: { request: ["QueueUrl"], response: ["Failed"] },
    DeleteQueue: { request: ["QueueUrl"] },
    GetQueueAttributes: {
      request: ["AttributeNames", "QueueUrl"],
      response: ["Attributes"],
    },
    GetQueueUrl: {
      request: ["QueueName", "QueueOwnerAWSAccountId"],
      response: ["QueueUrl"],
    },
    ListDeadLetterSourceQueues: {
      request: ["QueueUrl"],
      response: ["QueueUrls"],
    },
    ListQueues: {
      request: ["QueueNamePrefix"],
      responseDescriptors: {
        QueueUrls: { count: true, renameTo: "queue_count" },
      },
    },
    PurgeQueue: { request: ["QueueUrl"] },
    ReceiveMessage: {
      request: [
        "AttributeNames",
        "MaxNumberOfMessages",
        "MessageAttributeNames",
        "QueueUrl",
        "VisibilityTimeout",
        "WaitTimeSeconds",
      ],
      responseDescriptors: {
        Messages: { count: true, renameTo: "message_count" },
      },
    },
    RemovePermission: { request: ["QueueUrl"] },
    SendMessage: {
      request: ["DelaySeconds", "QueueUrl"],
      requestDescriptors: {
        MessageAttributes: { keys: true, renameTo: "message_attribute_names" },
      },
      response: ["MessageId"],
    },
    SendMessageBatch: {
      request: ["QueueUrl"],
      requestDescriptors: {
        Entries: { count: true, renameTo: "message_count" },
      },
      responseDescriptors: {
        Failed: { count: true, renameTo: "failed_count" },
        Successful: { count: true, renameTo: "successful_count" },
      },
    },
    SetQueueAttributes: {
      request: ["QueueUrl"],
      requestDescriptors: {
        Attributes: { keys: true, renameTo: "attribute_names" },
      },
    },
  },
  SNS: {
    Publish: { request: ["TopicArn"], response: ["MessageId"] },
    PublishBatch: {
      request: ["TopicArn"],
      requestDescriptors: {
        PublishBatchRequestEntries: { count: true, renameTo: "message_count" },
      },
    },
  },
  Lambda: {
    Invoke: {
      request: ["FunctionName", "InvocationType", "LogType", "Qualifier"],
      response: ["FunctionError", "StatusCode"],
    },
    InvokeAsync: { request: ["FunctionName"], response: ["Status"] },
  },
  S3: {
    "*": {
      request: ["Key", "VersionId", "Prefix"],
      requestDescriptors: { Bucket: { renameTo: "bucket_name" } },
    },
  },
  SageMakerRuntime: {
    InvokeEndpoint: { request: ["EndpointName"] },
  },
};

function mergeOperation(
  a: AwsOperationParams | undefined,
  b: AwsOperationParams,
): AwsOperationParams {
  if (!a) return b;
  const list = (x?: readonly string[], y?: readonly string[]) =>
    x || y ? [...new Set([...(x ?? []), ...(y ?? [])])] : undefined;
  const map = (
    x?: Readonly<Record<string, AwsParamDescriptor>>,
    y?: Readonly<Record<string, AwsParamDescriptor>>,
  ) => (x || y ? { ...x, ...y } : undefined);
  return {
    request: list(a.request, b.request),
    response: list(a.response, b.response),
    requestDescriptors: map(a.requestDescriptors, b.requestDescriptors),
    responseDescriptors: map(a.responseDescriptors, b.responseDescriptors),
  };
}

/**
 * Merges `extra` into `base`: parameter lists are joined, descriptors of the
 * same name replaced. Neither table is changed.
 */
export function mergeAwsParams(
  base: AwsParamTable,
  extra: AwsParamTable,
): AwsParamTable {
  const out: Record<string, Record<string, AwsOperationParams>> = {};
  for (const [service, ops] of Object.entries(base)) out[service] = { ...ops };
  for (const [service, ops] of Object.entries(extra)) {
    const target = out[service] ??= {};
    for (const [op, params] of Object.entries(ops)) {
      target[op] = mergeOperation(target[op], params);
    }
  }
  return out;
}

const FIRST_CAP = /(.)([A-Z][a-z]+)/g;
const ALL_CAP = /([a-z0-9])([A-Z])/g;

/**
 * snake_case that keeps acronyms whole: `ACLName` → `acl_name`,
 * `QueueOwnerAWSAccountId` → `queue_owner_aws_account_id`.
 */
export function toSnakeCase(name: string): string {
  return name.replace(FIRST_CAP, "$1_$2").replace(ALL_CAP, "$1_$2")
    .toLowerCase();
}

function pick(
  source: unknown,
  plain: readonly string[] | undefined,
  descriptors: Readonly<Record<string, AwsParamDescriptor>> | undefined,
  out: Record<string, unknown>,
): void {
  if (typeof source !== "object" || source === null) return;
  const obj = source as Record<string, unknown>;
  for (const key of plain ?? []) {
    const value = obj[key];
    if (value !== undefined) out[toSnakeCase(key)] = value;
  }
  for (const [key, d] of Object.entries(descriptors ?? {})) {
    const value = obj[key];
    if (value === undefined || value === null) continue;
    const name = d.renameTo ?? toSnakeCase(key);
    if (d.keys && typeof value === "object") {
      out[name] = value instanceof Map ? [...value.keys()] : Object.keys(value);
    } else if (d.count && Array.isArray(value)) {
      out[name] = value.length;
    } else if (!d.keys && !d.count) {
      out[name] = value;
    }
  }
}

/** The whitelisted parameters of one call, ready for `setAws`. */
export function awsParams(
  table: AwsParamTable,
  service: string,
  operation: string,
  input: unknown,
  output: unknown,
): Record<string, unknown> {
  const ops = table[service];
  const out: Record<string, unknown> = {};
  if (!ops) return out;
  for (const params of [ops["*"], ops[operation]]) {
    if (!params) continue;
    pick(input, params.request, params.requestDescriptors, out);
    pick(output, params.response, params.responseDescriptors, out);
  }
  return out;
}
