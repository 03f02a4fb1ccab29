/**
 * AWS credentials for signing X-Ray requests, all over `fetch` so they work on
 * every runtime: static keys, an environment object (`process.env`,
 * `Deno.env.toObject()`, a Workers `env` binding), ECS / EKS container
 * credentials and EC2 IMDSv2 — cached and refreshed before they expire.
 *
 * No secret ever appears in an error message: failures name the source and
 * the HTTP status, never a key, token or response body.
 *
 * @module
 */

import type { Clock } from "./types.ts";
import { toError, XRayError } from "./errors.ts";

/** A set of AWS credentials. */
export interface AwsCredentials {
  /** The access key id. */
  accessKeyId: string;
  /** The secret access key. */
  secretAccessKey: string;
  /** The session token of temporary credentials. */
  sessionToken?: string;
  /** When temporary credentials expire, in epoch milliseconds. */
  expiration?: number;
}

/** Options for one credentials lookup. */
export interface GetCredentialsOptions {
  /** Ignore a cached value (the service said the token expired). */
  forceRefresh?: boolean;
}

/** Resolves credentials; rejects with a {@linkcode CredentialsError}. */
export type CredentialsProvider = (
  options?: GetCredentialsOptions,
) => Promise<AwsCredentials>;

/** Credentials as a value or as a provider. */
export type CredentialsSource = AwsCredentials | CredentialsProvider;

/** An environment: `process.env`, `Deno.env.toObject()`, a Workers `env`. */
export type Env = Readonly<Record<string, unknown>>;

/** Raised when no credentials could be obtained. Carries no secrets. */
export class CredentialsError extends XRayError {
  /**
   * @param message What failed, without secrets.
   * @param options The standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CredentialsError";
  }
}

function envString(env: Env | undefined, key: string): string | undefined {
  const value = env?.[key];
  return typeof value === "string" && value.trim() !== ""
    ? value.trim()
    : undefined;
}

/**
 * A provider that always returns the same keys.
 *
 * @param credentials The keys.
 * @returns A provider.
 * @throws {TypeError} When a key is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { staticCredentials } from "./credentials.ts";
 * const provider = staticCredentials({ accessKeyId: "AKID", secretAccessKey: "secret" });
 * assert.equal((await provider()).accessKeyId, "AKID");
 * ```
 */
export function staticCredentials(
  credentials: AwsCredentials,
): CredentialsProvider {
  const value = { ...credentials };
  if (
    ![value.accessKeyId, value.secretAccessKey].every((key) =>
      typeof key === "string" && key
    )
  ) {
    throw new TypeError(
      "Cannot use static credentials as 'accessKeyId' and 'secretAccessKey' must be non-empty strings",
    );
  }
  return () => Promise.resolve(value);
}

/**
 * A provider that reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
 * `AWS_SESSION_TOKEN` from an environment object each time it is asked (so a
 * Workers `env` binding can be passed per request).
 *
 * @param env The environment object.
 * @returns A provider that rejects with a {@linkcode CredentialsError} when
 * the keys are not set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromEnv } from "./credentials.ts";
 * const provider = fromEnv({ AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret" });
 * assert.equal((await provider()).secretAccessKey, "secret");
 * ```
 */
export function fromEnv(env: Env): CredentialsProvider {
  return () => {
    const accessKeyId = envString(env, "AWS_ACCESS_KEY_ID");
    const secretAccessKey = envString(env, "AWS_SECRET_ACCESS_KEY");
    if (!accessKeyId || !secretAccessKey) {
      return Promise.reject(
        new CredentialsError(
          "Cannot read AWS credentials from the environment as AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set",
        ),
      );
    }
    const credentials: AwsCredentials = { accessKeyId, secretAccessKey };
    const sessionToken = envString(env, "AWS_SESSION_TOKEN");
    if (sessionToken) credentials.sessionToken = sessionToken;
    return Promise.resolve(credentials);
  };
}

/**
 * The region from `AWS_REGION`, else `AWS_DEFAULT_REGION`.
 *
 * @param env The environment object.
 * @returns The region, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { regionFromEnv } from "./credentials.ts";
 * assert.equal(regionFromEnv({ AWS_DEFAULT_REGION: "eu-west-1" }), "eu-west-1");
 * ```
 */
export function regionFromEnv(env: Env): string | undefined {
  return envString(env, "AWS_REGION") ?? envString(env, "AWS_DEFAULT_REGION");
}

/** Options for {@linkcode cachedCredentials}. */
export interface CachedCredentialsOptions {
  /**
   * Refresh this long before the expiration.
   * @default 300000 (5 minutes)
   */
  refreshBeforeMs?: number;
  /** The time source. @default Date */
  clock?: Clock;
}

/**
 * Caches a provider's credentials until shortly before they expire;
 * concurrent callers share one lookup. When a refresh fails while the old
 * credentials are still valid, the old ones are kept.
 *
 * @param provider The provider to cache.
 * @param options When to refresh.
 * @returns A caching provider.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cachedCredentials } from "./credentials.ts";
 * let calls = 0;
 * const provider = cachedCredentials(() => {
 *   calls++;
 *   return Promise.resolve({ accessKeyId: "A", secretAccessKey: "S" });
 * });
 * await provider();
 * await provider();
 * assert.equal(calls, 1);
 * ```
 */
export function cachedCredentials(
  provider: CredentialsProvider,
  options: CachedCredentialsOptions = {},
): CredentialsProvider {
  const refreshBeforeMs = options.refreshBeforeMs ?? 5 * 60_000;
  const clock = options.clock ?? Date;
  let cached: AwsCredentials | undefined;
  let inFlight: Promise<AwsCredentials> | undefined;

  function isFresh(value: AwsCredentials): boolean {
    return value.expiration === undefined ||
      clock.now() < value.expiration - refreshBeforeMs;
  }
  function isUsable(value: AwsCredentials): boolean {
    return value.expiration === undefined || clock.now() < value.expiration;
  }

  return (getOptions?: GetCredentialsOptions): Promise<AwsCredentials> => {
    if (cached && !getOptions?.forceRefresh && isFresh(cached)) {
      return Promise.resolve(cached);
    }
    if (getOptions?.forceRefresh) cached = undefined;
    inFlight ??= provider(getOptions).then(
      (value) => {
        cached = value;
        inFlight = undefined;
        return value;
      },
      (error) => {
        inFlight = undefined;
        if (cached && isUsable(cached)) return cached;
        throw error;
      },
    );
    return inFlight;
  };
}

/**
 * Turns credentials or a provider into a provider (values are checked).
 *
 * @param source Keys or a provider.
 * @returns A provider.
 * @throws {TypeError} When neither keys nor a function were given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toCredentialsProvider } from "./credentials.ts";
 * const provider = toCredentialsProvider({ accessKeyId: "A", secretAccessKey: "S" });
 * assert.equal((await provider()).accessKeyId, "A");
 * ```
 */
export function toCredentialsProvider(
  source: CredentialsSource,
): CredentialsProvider {
  if (typeof source === "function") return source;
  return staticCredentials(source);
}

/** Options shared by the fetch-based providers. */
export interface FetchCredentialsOptions {
  /** The environment to read settings from. @default {} */
  env?: Env;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Give up on one HTTP call after this long.
   * @default 1000
   */
  timeoutMs?: number;
  /** The time source for caching. @default Date */
  clock?: Clock;
}

/**
 * GETs (or PUTs) a metadata endpoint within `timeoutMs` and returns the body
 * text. No answer, or an answer that is not 2xx, is a CredentialsError naming
 * `source` (and `what`, when given) but never the body, which may hold secrets.
 */
async function fetchText(
  fetchFn: typeof fetch,
  url: string,
  init: RequestInit,
  options: { timeoutMs: number; source: string; what?: string },
): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  let response: Response;
  try {
    response = await fetchFn(url, { ...init, signal: controller.signal });
  } catch (e) {
    throw new CredentialsError(
      `${options.source} did not answer (${toError(e).name})`,
    );
  } finally {
    clearTimeout(timer);
  }
  let text = "";
  try {
    text = await response.text();
  } catch {
    // An unreadable body counts as empty; the status decides.
  }
  if (!response.ok) {
    throw new CredentialsError(
      `${options.source} answered HTTP ${response.status}${options.what ?? ""}`,
    );
  }
  return text;
}

function parseCredentialsJson(
  text: string,
  source: string,
): AwsCredentials {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CredentialsError(
      `${source} answered with a body that is not JSON`,
    );
  }
  const accessKeyId = body?.AccessKeyId;
  const secretAccessKey = body?.SecretAccessKey;
  if (typeof accessKeyId !== "string" || typeof secretAccessKey !== "string") {
    throw new CredentialsError(
      `${source} answered without AccessKeyId or SecretAccessKey`,
    );
  }
  const credentials: AwsCredentials = { accessKeyId, secretAccessKey };
  if (typeof body.Token === "string") credentials.sessionToken = body.Token;
  if (typeof body.Expiration === "string") {
    const expiration = Date.parse(body.Expiration);
    if (!Number.isNaN(expiration)) credentials.expiration = expiration;
  }
  return credentials;
}

const CONTAINER_HOST = "http://169.254.170.2";
const ALLOWED_HTTP_HOSTS = new Set([
  "169.254.170.2",
  "169.254.170.23",
  "[fd00:ec2::23]",
  "localhost",
  "[::1]",
]);

/** Options for {@linkcode fromContainer}. */
export interface ContainerCredentialsOptions extends FetchCredentialsOptions {
  /**
   * Reads the token file named by `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
   * (EKS Pod Identity), e.g. `(path) => Deno.readTextFile(path)` or
   * `(path) => fs.promises.readFile(path, "utf8")`.
   */
  readTextFile?: (path: string) => Promise<string>;
}

/**
 * Whether the environment names ECS / EKS container credentials.
 *
 * @param env The environment object.
 * @returns `true` when `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
 * `AWS_CONTAINER_CREDENTIALS_FULL_URI` is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasContainerCredentials } from "./credentials.ts";
 * assert.equal(hasContainerCredentials({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/x" }), true);
 * ```
 */
export function hasContainerCredentials(env: Env): boolean {
  return envString(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") !==
      undefined ||
    envString(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI") !== undefined;
}

/**
 * ECS task / EKS Pod Identity credentials from the container credentials
 * endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN` or `_TOKEN_FILE`), cached and refreshed
 * five minutes before expiry.
 *
 * @param options The environment, fetch and timeouts.
 * @returns A provider.
 *
 * @example A provider is created without I/O
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromContainer } from "./credentials.ts";
 * const provider = fromContainer({ env: {} });
 * await assert.rejects(provider(), /AWS_CONTAINER_CREDENTIALS/);
 * ```
 */
export function fromContainer(
  options: ContainerCredentialsOptions = {},
): CredentialsProvider {
  const env = options.env ?? {};
  const timeoutMs = options.timeoutMs ?? 1000;
  const source = "The container credentials endpoint";
  const provider: CredentialsProvider = async () => {
    const fetchFn = options.fetch ?? globalThis.fetch;
    const relative = envString(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const full = envString(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let url: URL;
    try {
      if (relative) url = new URL(relative, CONTAINER_HOST);
      else if (full) url = new URL(full);
      else {
        throw new CredentialsError(
          "Cannot get container credentials as neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set",
        );
      }
    } catch (e) {
      if (e instanceof CredentialsError) throw e;
      throw new CredentialsError(
        "Cannot get container credentials as AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL",
      );
    }
    if (
      !relative && url.protocol === "http:" &&
      !ALLOWED_HTTP_HOSTS.has(url.hostname) &&
      !/^127\.\d+\.\d+\.\d+$/.test(url.hostname)
    ) {
      throw new CredentialsError(
        `Cannot get container credentials from host '${url.hostname}': plain HTTP is only allowed to loopback and the ECS / EKS link-local hosts`,
      );
    }
    const headers: Record<string, string> = {};
    let token = envString(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const tokenFile = envString(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (tokenFile) {
      if (!options.readTextFile) {
        throw new CredentialsError(
          "Cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as no 'readTextFile' option was given",
        );
      }
      try {
        token = (await options.readTextFile(tokenFile)).trim();
      } catch {
        throw new CredentialsError(
          "Cannot read the file named by AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        );
      }
    }
    if (token) headers.authorization = token;
    const text = await fetchText(fetchFn, url.href, { headers }, {
      timeoutMs,
      source,
    });
    return parseCredentialsJson(text, source);
  };
  return cachedCredentials(provider, { clock: options.clock });
}

/** Options for {@linkcode fromInstanceMetadata}. */
export interface InstanceMetadataCredentialsOptions
  extends FetchCredentialsOptions {
  /**
   * The metadata service; also read from `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
   * @default "http://169.254.169.254"
   */
  endpoint?: string;
}

/**
 * EC2 instance role credentials over IMDSv2 (a session token from
 * `PUT /latest/api/token`, then the role's credentials), cached and refreshed
 * five minutes before expiry.
 *
 * @param options The endpoint, fetch and timeouts.
 * @returns A provider.
 *
 * @example Turned off by AWS_EC2_METADATA_DISABLED
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromInstanceMetadata } from "./credentials.ts";
 * const provider = fromInstanceMetadata({ env: { AWS_EC2_METADATA_DISABLED: "true" } });
 * await assert.rejects(provider(), /AWS_EC2_METADATA_DISABLED/);
 * ```
 */
export function fromInstanceMetadata(
  options: InstanceMetadataCredentialsOptions = {},
): CredentialsProvider {
  const env = options.env ?? {};
  const timeoutMs = options.timeoutMs ?? 1000;
  const source = "The EC2 instance metadata service";
  const provider: CredentialsProvider = async () => {
    if (envString(env, "AWS_EC2_METADATA_DISABLED")?.toLowerCase() === "true") {
      throw new CredentialsError(
        "Cannot use the EC2 instance metadata service as AWS_EC2_METADATA_DISABLED is true",
      );
    }
    const fetchFn = options.fetch ?? globalThis.fetch;
    const base = (options.endpoint ??
      envString(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT") ??
      "http://169.254.169.254").replace(/\/+$/, "");
    function call(path: string, init: RequestInit): Promise<string> {
      return fetchText(fetchFn, base + path, init, {
        timeoutMs,
        source,
        what: ` for ${path.replace(/\/[^/]+$/, "/…")}`,
      });
    }
    const token = await call("/latest/api/token", {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" },
    });
    const headers = { "x-aws-ec2-metadata-token": token.trim() };
    const roles = await call("/latest/meta-data/iam/security-credentials/", {
      headers,
    });
    const role = roles.split("\n").map((r) => r.trim()).find((r) => r);
    if (!role) {
      throw new CredentialsError(`${source} lists no instance role`);
    }
    const text = await call(
      `/latest/meta-data/iam/security-credentials/${encodeURIComponent(role)}`,
      { headers },
    );
    return parseCredentialsJson(text, source);
  };
  return cachedCredentials(provider, { clock: options.clock });
}

/**
 * Tries providers in order and sticks with the first that succeeds.
 *
 * @param providers The providers, most preferred first.
 * @returns A provider that rejects with one {@linkcode CredentialsError}
 * naming every failure when none succeeds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { credentialChain, fromEnv } from "./credentials.ts";
 * const provider = credentialChain([
 *   fromEnv({}),
 *   fromEnv({ AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S" }),
 * ]);
 * assert.equal((await provider()).accessKeyId, "A");
 * ```
 */
export function credentialChain(
  providers: readonly CredentialsProvider[],
): CredentialsProvider {
  if (providers.length === 0) {
    throw new RangeError(
      "Cannot create credential chain as 'providers' must not be empty: current length is 0",
    );
  }
  let chosen: CredentialsProvider | undefined;
  return async (options?: GetCredentialsOptions): Promise<AwsCredentials> => {
    if (chosen) {
      try {
        return await chosen(options);
      } catch {
        chosen = undefined;
      }
    }
    const reasons: string[] = [];
    for (const provider of providers) {
      try {
        const credentials = await provider(options);
        chosen = provider;
        return credentials;
      } catch (e) {
        reasons.push(
          e instanceof CredentialsError ? e.message : toError(e).name,
        );
      }
    }
    throw new CredentialsError(
      `Cannot find AWS credentials: ${reasons.join("; ")}`,
    );
  };
}

/** Options for {@linkcode defaultCredentials}. */
export interface DefaultCredentialsOptions extends ContainerCredentialsOptions {
  /** The metadata service endpoint for the EC2 step. */
  imdsEndpoint?: string;
}

/**
 * The usual chain: environment keys, then container credentials (when the
 * environment names them), then EC2 IMDSv2.
 *
 * @param options The environment and fetch.
 * @returns A provider.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultCredentials } from "./credentials.ts";
 * const provider = defaultCredentials({
 *   env: { AWS_ACCESS_KEY_ID: "A", AWS_SECRET_ACCESS_KEY: "S" },
 * });
 * assert.equal((await provider()).accessKeyId, "A");
 * ```
 */
export function defaultCredentials(
  options: DefaultCredentialsOptions = {},
): CredentialsProvider {
  const env = options.env ?? {};
  const providers: CredentialsProvider[] = [fromEnv(env)];
  if (hasContainerCredentials(env)) providers.push(fromContainer(options));
  providers.push(
    fromInstanceMetadata({ ...options, endpoint: options.imdsEndpoint }),
  );
  return credentialChain(providers);
}
