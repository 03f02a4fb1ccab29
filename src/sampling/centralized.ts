/**
 * Centralized sampling: rules and quotas from X-Ray (`GetSamplingRules`,
 * `GetSamplingTargets`) over `fetch`, through a daemon / collector proxy or
 * signed to the X-Ray API. Polling is driven lazily from `shouldSample` calls
 * and handed to a `waitUntil`-style callback, so it works where idle timers
 * and I/O outside a request are forbidden (Cloudflare Workers); an interval
 * mode polls on an unref'd timer for long-running servers.
 *
 * @module
 */

import type {
  Clock,
  ErrorHandler,
  Sampler,
  SamplingDecision,
  SamplingRequest,
} from "../types.ts";
import { isRecord } from "../_util.ts";
import { hexBytes } from "../ids.ts";
import { awsErrorCode, toError, XRayError } from "../errors.ts";
import { parseDaemonAddress } from "../config.ts";
import { unrefTimer } from "../runtime/unref_timer.ts";
import { localSampler } from "./local.ts";
import {
  candidateCache,
  compilePattern,
  field,
  isAscii,
  isMatchAll,
  matches,
  type Pattern,
} from "./_match.ts";

/** The path of the GetSamplingRules operation. */
export const GET_SAMPLING_RULES_PATH = "/GetSamplingRules";
/** The path of the GetSamplingTargets operation. */
export const GET_SAMPLING_TARGETS_PATH = "/SamplingTargets";
/** At most this many statistics documents go in one GetSamplingTargets call. */
export const MAX_STATISTICS_PER_CALL = 25;

const DEFAULT_ENDPOINT = "http://127.0.0.1:2000";
const DEFAULT_RULES_INTERVAL_MS = 300_000;
const RULES_JITTER_MS = 5_000;
const DEFAULT_TARGETS_INTERVAL_MS = 10_000;
const TARGETS_JITTER_MS = 100;
const DEFAULT_MAX_RULE_AGE_MS = 3_600_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const MAX_PAGES = 100;
const MIN_TIMER_MS = 50;

/** Options for {@linkcode centralizedSampler}. */
export interface CentralizedSamplerOptions {
  /**
   * Where the two APIs are: a base URL (`http://collector:2000`,
   * `https://xray.us-east-1.amazonaws.com`) or a daemon address
   * (`host:port`, `tcp:host:port udp:host:port`, whose TCP part is used).
   * @default `https://xray.<region>.amazonaws.com` when `region` is set, else
   *   the TCP part of `AWS_XRAY_DAEMON_ADDRESS` from `env`, else `http://127.0.0.1:2000`
   */
  endpoint?: string | URL;
  /** The AWS region; without `endpoint` it selects the X-Ray API endpoint (signed mode). */
  region?: string;
  /** The environment to read `AWS_XRAY_DAEMON_ADDRESS` from (never read implicitly). */
  env?: Readonly<Record<string, unknown>>;
  /**
   * The fetch to use. For the X-Ray API pass a signing fetch, such as
   * `(input, init) => awsClient.fetch(input, init)` from aws4fetch.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /** Time source (epoch ms) for reservoirs, TTLs and polling. @default Date.now */
  clock?: Clock;
  /** Random source in [0, 1) for rates and jitter. @default Math.random */
  random?: () => number;
  /** Where network failures and rejected statistics are reported (source `"sampling"`). */
  onError?: ErrorHandler;
  /**
   * Decides while no rules are loaded, when they are older than `maxRuleAgeMs`,
   * and when no rule matches.
   * @default localSampler() with the same clock and random (1 request/second + 5 %)
   */
  fallback?: Sampler;
  /**
   * `"lazy"` polls from `shouldSample` calls only (Workers, Lambda, anything
   * without idle timers); `"interval"` also polls on an unref'd timer.
   * @default "lazy"
   */
  pollMode?: "lazy" | "interval";
  /**
   * Called with each polling promise as it starts, such as a platform's
   * global `waitUntil`. Per-request hooks (Workers' `ctx.waitUntil`) use
   * {@linkcode CentralizedSampler.pending} instead.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** The 24-hex-digit `ClientID` sent with statistics. @default 12 random bytes */
  clientId?: string;
  /** How often rules are fetched, plus up to 5 s of jitter. @default 300000 */
  rulesIntervalMs?: number;
  /** How often statistics are reported, unless the service returns an `Interval`. @default 10000 */
  targetsIntervalMs?: number;
  /** Rules older than this are not used (the fallback decides). @default 3600000 */
  maxRuleAgeMs?: number;
  /** Each HTTP request is aborted after this long. @default 5000 */
  timeoutMs?: number;
}

/** A rule as the sampler holds it, for inspection. */
export interface CentralizedRuleState {
  /** `RuleName`. */
  name: string;
  /** `Priority` (the `Default` rule is applied last whatever its priority). */
  priority: number;
  /** The rate applied after the reservoir (from the rule or the latest target). */
  fixedRate: number;
  /** `ReservoirSize`; 0 means the rule never borrows. */
  reservoirSize: number;
  /** The patterns as fetched. */
  serviceName: string;
  /** `ServiceType`. */
  serviceType: string;
  /** `Host`. */
  host: string;
  /** `HTTPMethod`. */
  httpMethod: string;
  /** `URLPath`. */
  urlPath: string;
  /** `Attributes` (empty when the rule has none). */
  attributes: Record<string, string>;
  /** The latest `ReservoirQuota`, if one arrived. */
  reservoirQuota?: number;
  /** When that quota expires (`ReservoirQuotaTTL`), epoch ms. */
  reservoirQuotaExpiresAtMs?: number;
  /** Requests matched since the last report. */
  requestCount: number;
  /** Requests sampled since the last report. */
  sampledCount: number;
  /** Requests sampled by borrowing since the last report. */
  borrowCount: number;
}

/** A sampler driven by X-Ray's centralized rules. */
export interface CentralizedSampler extends Sampler {
  /** The `ClientID` sent with statistics. */
  readonly clientId: string;
  /**
   * Decides synchronously from the rules in memory. When polling is due it
   * starts the network work and returns without waiting for it.
   */
  shouldSample(request: SamplingRequest): SamplingDecision;
  /**
   * A promise that settles (never rejects) when the polling now in flight is
   * done; already settled when none is. Hand it to `ctx.waitUntil` after a
   * request's sampling decision.
   */
  pending(): Promise<void>;
  /** Fetches rules and reports statistics now, whatever the schedule. Never rejects. */
  poll(): Promise<void>;
  /** Stops polling (and the interval timer) and waits for work in flight. Never rejects. */
  close(): Promise<void>;
  /** The rules in use, in matching order (empty before the first fetch). */
  rules(): CentralizedRuleState[];
}

interface Rule {
  name: string;
  priority: number;
  isDefault: boolean;
  fixedRate: number;
  reservoirSize: number;
  source: {
    serviceName: string;
    serviceType: string;
    host: string;
    httpMethod: string;
    urlPath: string;
    attributes: Record<string, string>;
  };
  serviceName: Pattern;
  serviceType: Pattern;
  host: Pattern;
  method: Pattern;
  path: Pattern;
  attributes: [string, Pattern][] | undefined;
  quota: number | undefined;
  quotaExpiresAtMs: number;
  second: number;
  taken: number;
  borrowed: number;
  requestCount: number;
  sampledCount: number;
  borrowCount: number;
  everMatched: boolean;
  readonly yes: SamplingDecision;
  readonly no: SamplingDecision;
}

const UNSAMPLED: SamplingDecision = Object.freeze({ sampled: false });

function configError(
  field: string,
  requirement: string,
  value: unknown,
): RangeError {
  let shown: string;
  try {
    shown = typeof value === "string"
      ? `'${value}'`
      : String(JSON.stringify(value));
  } catch {
    shown = String(value);
  }
  return new RangeError(
    `Cannot create centralized sampler as '${field}' ${requirement}: current value is ${shown}`,
  );
}

function resolveEndpoint(options: CentralizedSamplerOptions): string {
  let endpoint: string | URL | undefined = options.endpoint;
  if (endpoint === undefined && options.region !== undefined) {
    if (
      typeof options.region !== "string" ||
      !/^[a-z0-9-]+$/.test(options.region)
    ) {
      throw configError("region", "must be an AWS region name", options.region);
    }
    endpoint = `https://xray.${options.region}.amazonaws.com`;
  }
  if (endpoint === undefined) {
    const address = options.env?.AWS_XRAY_DAEMON_ADDRESS;
    if (typeof address === "string" && address.trim() !== "") {
      endpoint = address;
    }
  }
  if (endpoint === undefined) return DEFAULT_ENDPOINT;
  if (endpoint instanceof URL) return endpoint.href.replace(/\/+$/, "");
  if (typeof endpoint !== "string") {
    throw configError("endpoint", "must be a URL or host:port", endpoint);
  }
  const text = endpoint.trim();
  if (/^https?:\/\//i.test(text)) {
    try {
      return new URL(text).href.replace(/\/+$/, "");
    } catch {
      throw configError("endpoint", "must be a URL or host:port", endpoint);
    }
  }
  let tcp;
  try {
    tcp = parseDaemonAddress(text).tcp;
  } catch {
    throw configError(
      "endpoint",
      "must be a URL, host:port or 'tcp:host:port udp:host:port'",
      endpoint,
    );
  }
  const host = tcp.host.includes(":") ? `[${tcp.host}]` : tcp.host;
  return `http://${host}:${tcp.port}`;
}

function positive(
  options: CentralizedSamplerOptions,
  field:
    | "rulesIntervalMs"
    | "targetsIntervalMs"
    | "maxRuleAgeMs"
    | "timeoutMs",
  fallback: number,
): number {
  const value = options[field];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw configError(field, "must be a positive number", value);
  }
  return value;
}

/**
 * Creates a sampler that follows the sampling rules configured in X-Ray.
 *
 * Rules (`GetSamplingRules`, following `NextToken`) are fetched every 300 s
 * plus jitter, and statistics are reported (`GetSamplingTargets`) every 10 s
 * or at the `Interval` the service returns. Each matched rule borrows one
 * request per second until its first `ReservoirQuota` arrives, then samples up
 * to the quota per second until `ReservoirQuotaTTL`, then applies `FixedRate`.
 *
 * `shouldSample` never waits on the network and never throws. In the default
 * `"lazy"` poll mode the network work starts from a `shouldSample` call when
 * it is due; pass `pending()` to the platform's `waitUntil` so it can finish
 * after the response. Until rules arrive, when they are older than an hour, or
 * when a request matches no rule, the `fallback` sampler decides. Failures go
 * to `onError` with source `"sampling"`.
 *
 * @param options Endpoint (or region and a signing fetch), clock, random,
 *   error hook, fallback and polling settings.
 * @returns The sampler.
 * @throws {RangeError} When an option is malformed (endpoint, clientId, intervals, pollMode).
 * @throws {TypeError} When `fetch`, `clock`, `random`, `fallback` or `waitUntil` is not usable.
 *
 * @example Rules from a proxy, polled lazily
 * ```ts
 * import assert from "node:assert/strict";
 * import { centralizedSampler } from "./centralized.ts";
 * const sampler = centralizedSampler({
 *   endpoint: "http://127.0.0.1:2000",
 *   // A stand-in for the daemon's answers; normally omit `fetch`.
 *   fetch: async (input) =>
 *     String(input).endsWith("/GetSamplingRules")
 *       ? Response.json({ SamplingRuleRecords: [{ SamplingRule: {
 *           RuleName: "Default", ResourceARN: "*", Priority: 10000, FixedRate: 0,
 *           ReservoirSize: 0, ServiceName: "*", ServiceType: "*", Host: "*",
 *           HTTPMethod: "*", URLPath: "*", Version: 1 } }] })
 *       : Response.json({ SamplingTargetDocuments: [] }),
 * });
 * // No rules yet: the local fallback decides, and the fetch starts in the background.
 * assert.equal(sampler.shouldSample({ path: "/" }).sampled, true);
 * await sampler.pending();
 * assert.deepEqual(sampler.shouldSample({ path: "/" }), { sampled: false, ruleName: "Default" });
 * await sampler.close();
 * ```
 */
export function centralizedSampler(
  options: CentralizedSamplerOptions = {},
): CentralizedSampler {
  const base = resolveEndpoint(options);
  const fetchFn = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? { now: () => Date.now() };
  const random = options.random ?? Math.random;
  if (typeof fetchFn !== "function") {
    throw new TypeError(
      "Cannot create centralized sampler as 'fetch' must be a function",
    );
  }
  if (typeof clock?.now !== "function") {
    throw new TypeError(
      "Cannot create centralized sampler as 'clock' must have a now() method",
    );
  }
  if (typeof random !== "function") {
    throw new TypeError(
      "Cannot create centralized sampler as 'random' must be a function",
    );
  }
  if (
    options.waitUntil !== undefined && typeof options.waitUntil !== "function"
  ) {
    throw new TypeError(
      "Cannot create centralized sampler as 'waitUntil' must be a function",
    );
  }
  if (
    options.fallback !== undefined &&
    typeof options.fallback?.shouldSample !== "function"
  ) {
    throw new TypeError(
      "Cannot create centralized sampler as 'fallback' must be a sampler with shouldSample()",
    );
  }
  const pollMode = options.pollMode ?? "lazy";
  if (pollMode !== "lazy" && pollMode !== "interval") {
    throw configError("pollMode", "must be 'lazy' or 'interval'", pollMode);
  }
  const clientId = options.clientId ?? hexBytes(12);
  if (typeof clientId !== "string" || !/^[0-9a-fA-F]{24}$/.test(clientId)) {
    throw configError("clientId", "must be 24 hexadecimal digits", clientId);
  }
  const rulesIntervalMs = positive(
    options,
    "rulesIntervalMs",
    DEFAULT_RULES_INTERVAL_MS,
  );
  const targetsIntervalMs = positive(
    options,
    "targetsIntervalMs",
    DEFAULT_TARGETS_INTERVAL_MS,
  );
  const maxRuleAgeMs = positive(
    options,
    "maxRuleAgeMs",
    DEFAULT_MAX_RULE_AGE_MS,
  );
  const timeoutMs = positive(options, "timeoutMs", DEFAULT_TIMEOUT_MS);
  const fallback = options.fallback ??
    localSampler(undefined, { clock, random });
  const onError = options.onError;
  const waitUntil = options.waitUntil;

  let rules: Rule[] = [];
  let byName = new Map<string, Rule>();
  let rulesFetchedAtMs = Number.NEGATIVE_INFINITY;
  let nextRulesAtMs = Number.NEGATIVE_INFINITY;
  let nextTargetsAtMs = Number.POSITIVE_INFINITY;
  let rulesFailures = 0;
  let inflight: Promise<void> | undefined;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function report(error: unknown): void {
    try {
      onError?.(toError(error), "sampling");
    } catch {
      // A failing hook must not break sampling.
    }
  }

  // -- decisions -----------------------------------------------------------

  function decide(rule: Rule, now: number): SamplingDecision {
    rule.everMatched = true;
    rule.requestCount++;
    const second = Math.floor(now / 1000);
    if (second !== rule.second) {
      rule.second = second;
      rule.taken = 0;
      rule.borrowed = 0;
    }
    if (rule.quota !== undefined) {
      if (now < rule.quotaExpiresAtMs && rule.taken < rule.quota) {
        rule.taken++;
        rule.sampledCount++;
        return rule.yes;
      }
    } else if (rule.reservoirSize > 0 && rule.borrowed < 1) {
      rule.borrowed++;
      rule.borrowCount++;
      rule.sampledCount++;
      return rule.yes;
    }
    if (random() < rule.fixedRate) {
      rule.sampledCount++;
      return rule.yes;
    }
    return rule.no;
  }

  function attributesMatch(
    rule: Rule,
    attributes: Record<string, string> | undefined,
  ): boolean {
    const wanted = rule.attributes;
    if (wanted === undefined) return true;
    // Rules with attributes apply only to requests that carry attributes.
    if (!isRecord(attributes)) return false;
    for (let i = 0; i < wanted.length; i++) {
      const value = attributes[wanted[i][0]];
      if (typeof value !== "string") return false;
      if (!matches(wanted[i][1], value, isAscii(value))) return false;
    }
    return true;
  }

  // -- HTTP ------------------------------------------------------------------

  async function post(
    operation: string,
    path: string,
    body: unknown,
  ): Promise<Record<string, unknown>> {
    const controller = new AbortController();
    const timeout = setTimeout(
      () =>
        controller.abort(
          new XRayError(`${operation} timed out after ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    try {
      let response: Response;
      try {
        response = await fetchFn(base + path, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: controller.signal,
        });
      } catch (e) {
        const cause = controller.signal.aborted ? controller.signal.reason : e;
        throw new XRayError(
          `${operation} to ${base} failed: ${toError(cause).message}`,
          { cause },
        );
      }
      // Read the whole body in every case (Workers cancel unread responses).
      const text = await response.text();
      if (!response.ok) {
        throw new XRayError(
          `${operation} failed with HTTP ${response.status}${
            describeServiceError(response, text)
          }`,
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new XRayError(
          `${operation} answered with a body that is not JSON`,
        );
      }
      if (!isRecord(json)) {
        throw new XRayError(
          `${operation} answered with a body that is not a JSON object`,
        );
      }
      return json;
    } finally {
      clearTimeout(timeout);
    }
  }

  // -- rules -----------------------------------------------------------------

  async function fetchRules(): Promise<void> {
    const records: unknown[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (let page = 0;; page++) {
      if (page === MAX_PAGES) {
        throw new XRayError(
          `GetSamplingRules returned more than ${MAX_PAGES} pages`,
        );
      }
      const json = await post(
        "GetSamplingRules",
        GET_SAMPLING_RULES_PATH,
        token === undefined ? {} : { NextToken: token },
      );
      const list = json.SamplingRuleRecords;
      if (list !== undefined && list !== null && !Array.isArray(list)) {
        throw new XRayError(
          "GetSamplingRules answered without a SamplingRuleRecords list",
        );
      }
      if (Array.isArray(list)) records.push(...list);
      const next = json.NextToken;
      if (typeof next !== "string" || next === "") break;
      if (seen.has(next)) {
        throw new XRayError("GetSamplingRules repeated a NextToken");
      }
      seen.add(next);
      token = next;
    }
    applyRules(records);
  }

  function applyRules(records: unknown[]): void {
    const next: Rule[] = [];
    const names = new Map<string, Rule>();
    for (const record of records) {
      const parsed = parseRule(
        isRecord(record) ? record.SamplingRule : undefined,
      );
      if (parsed === undefined || names.has(parsed.name)) continue;
      const old = byName.get(parsed.name);
      let rule: Rule;
      if (old) {
        // Same rule name: keep counters, quota and reservoir state.
        old.priority = parsed.priority;
        old.fixedRate = parsed.fixedRate;
        old.reservoirSize = parsed.reservoirSize;
        old.source = parsed.source;
        old.serviceName = parsed.serviceName;
        old.serviceType = parsed.serviceType;
        old.host = parsed.host;
        old.method = parsed.method;
        old.path = parsed.path;
        old.attributes = parsed.attributes;
        rule = old;
      } else {
        rule = parsed;
      }
      names.set(rule.name, rule);
      next.push(rule);
    }
    next.sort((a, b) =>
      a.isDefault !== b.isDefault
        ? (a.isDefault ? 1 : -1)
        : a.priority !== b.priority
        ? a.priority - b.priority
        : a.name < b.name
        ? -1
        : a.name > b.name
        ? 1
        : 0
    );
    rules = next;
    byName = names;
    cache.clear();
  }

  // -- targets ---------------------------------------------------------------

  async function reportStatistics(): Promise<void> {
    const now = clock.now();
    const candidates = rules.filter((rule) => rule.everMatched);
    if (candidates.length === 0) return;
    const timestamp = Math.floor(now / 1000);
    const snapshot = candidates.map((rule) => {
      const doc = {
        RuleName: rule.name,
        ClientID: clientId,
        Timestamp: timestamp,
        RequestCount: rule.requestCount,
        SampledCount: rule.sampledCount,
        BorrowCount: rule.borrowCount,
      };
      rule.requestCount = 0;
      rule.sampledCount = 0;
      rule.borrowCount = 0;
      return doc;
    });
    let intervalMs = Number.POSITIVE_INFINITY;
    let refreshRules = false;
    for (let i = 0; i < snapshot.length; i += MAX_STATISTICS_PER_CALL) {
      const chunk = snapshot.slice(i, i + MAX_STATISTICS_PER_CALL);
      let json: Record<string, unknown>;
      try {
        json = await post("GetSamplingTargets", GET_SAMPLING_TARGETS_PATH, {
          SamplingStatisticsDocuments: chunk,
        });
      } catch (e) {
        // Put back the counts that were not delivered; the next report carries them.
        for (const doc of snapshot.slice(i)) {
          const rule = byName.get(doc.RuleName);
          if (!rule) continue;
          rule.requestCount += doc.RequestCount;
          rule.sampledCount += doc.SampledCount;
          rule.borrowCount += doc.BorrowCount;
        }
        throw e;
      }
      const targets = json.SamplingTargetDocuments;
      if (Array.isArray(targets)) {
        for (const target of targets) {
          const ms = applyTarget(target);
          if (ms < intervalMs) intervalMs = ms;
        }
      }
      const modified = json.LastRuleModification;
      if (
        typeof modified === "number" && modified * 1000 > rulesFetchedAtMs
      ) {
        refreshRules = true;
      }
      const unprocessed = json.UnprocessedStatistics;
      if (Array.isArray(unprocessed) && unprocessed.length > 0) {
        const parts = unprocessed.filter(isRecord).map((u) =>
          `'${String(u.RuleName)}' (${String(u.ErrorCode)}${
            typeof u.Message === "string" && u.Message ? `: ${u.Message}` : ""
          })`
        );
        report(
          new XRayError(
            `GetSamplingTargets did not process statistics for ${
              parts.join(", ")
            }`,
          ),
        );
      }
    }
    const after = clock.now();
    if (Number.isFinite(intervalMs)) {
      nextTargetsAtMs = after + intervalMs;
    }
    if (refreshRules) nextRulesAtMs = after;
  }

  /** Applies one target document; returns its Interval in ms (Infinity without one). */
  function applyTarget(target: unknown): number {
    if (!isRecord(target) || typeof target.RuleName !== "string") {
      return Number.POSITIVE_INFINITY;
    }
    const rule = byName.get(target.RuleName);
    if (!rule) return Number.POSITIVE_INFINITY;
    const rate = target.FixedRate;
    if (typeof rate === "number" && rate >= 0 && rate <= 1) {
      rule.fixedRate = rate;
    }
    const quota = target.ReservoirQuota;
    const ttl = target.ReservoirQuotaTTL;
    if (
      typeof quota === "number" && Number.isInteger(quota) && quota >= 0 &&
      typeof ttl === "number" && Number.isFinite(ttl)
    ) {
      rule.quota = quota;
      rule.quotaExpiresAtMs = ttl * 1000;
    }
    const interval = target.Interval;
    return typeof interval === "number" && interval > 0
      ? Math.max(1, interval) * 1000
      : Number.POSITIVE_INFINITY;
  }

  // -- polling ---------------------------------------------------------------

  async function work(doRules: boolean, doTargets: boolean): Promise<void> {
    try {
      if (doRules) {
        const started = clock.now();
        nextRulesAtMs = started + rulesIntervalMs + random() * RULES_JITTER_MS;
        try {
          await fetchRules();
          rulesFailures = 0;
          rulesFetchedAtMs = clock.now();
          if (!Number.isFinite(nextTargetsAtMs)) {
            nextTargetsAtMs = rulesFetchedAtMs + targetsIntervalMs +
              random() * TARGETS_JITTER_MS;
          }
        } catch (e) {
          rulesFailures++;
          // Retry sooner than the regular schedule: 10 s, 20 s, 40 s, … up to it.
          nextRulesAtMs = clock.now() +
            Math.min(
              rulesIntervalMs,
              targetsIntervalMs * 2 ** Math.min(rulesFailures - 1, 20),
            );
          report(e);
        }
      }
      if (doTargets && rules.length > 0) {
        nextTargetsAtMs = clock.now() + targetsIntervalMs +
          random() * TARGETS_JITTER_MS;
        try {
          await reportStatistics();
        } catch (e) {
          report(e);
        }
      }
    } catch (e) {
      report(e);
    }
  }

  function start(doRules: boolean, doTargets: boolean): Promise<void> {
    const job = work(doRules, doTargets).finally(() => {
      if (inflight === job) inflight = undefined;
      if (pollMode === "interval") arm();
    });
    inflight = job;
    if (waitUntil) {
      try {
        waitUntil(job);
      } catch (e) {
        report(e);
      }
    }
    return job;
  }

  function pollIfDue(now: number): void {
    if (closed || inflight !== undefined) return;
    const rulesDue = now >= nextRulesAtMs;
    const targetsDue = rules.length > 0 && now >= nextTargetsAtMs;
    if (rulesDue || targetsDue) start(rulesDue, targetsDue);
  }

  function arm(): void {
    if (closed || timer !== undefined) return;
    let delay = MIN_TIMER_MS;
    try {
      const now = clock.now();
      const due = Math.min(
        nextRulesAtMs,
        rules.length > 0 ? nextTargetsAtMs : Number.POSITIVE_INFINITY,
      );
      delay = Math.min(Math.max(due - now, MIN_TIMER_MS), rulesIntervalMs);
    } catch (e) {
      report(e);
    }
    timer = setTimeout(() => {
      timer = undefined;
      try {
        pollIfDue(clock.now());
      } catch (e) {
        report(e);
      }
      if (inflight === undefined) arm();
    }, delay);
    unrefTimer(timer);
  }

  const cache = candidateCache();

  /** The rules whose service, host and method patterns match (a missing field matches). */
  function candidatesFor(
    serviceName: string | undefined,
    serviceType: string | undefined,
    host: string | undefined,
    method: string | undefined,
  ): Int32Array {
    const nameAscii = serviceName !== undefined && isAscii(serviceName);
    const typeAscii = serviceType !== undefined && isAscii(serviceType);
    const hostAscii = host !== undefined && isAscii(host);
    const methodAscii = method !== undefined && isAscii(method);
    const found: number[] = [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (
        (serviceName === undefined ||
          matches(rule.serviceName, serviceName, nameAscii)) &&
        (serviceType === undefined ||
          matches(rule.serviceType, serviceType, typeAscii)) &&
        (host === undefined || matches(rule.host, host, hostAscii)) &&
        (method === undefined || matches(rule.method, method, methodAscii))
      ) {
        found.push(i);
      }
    }
    return Int32Array.from(found);
  }

  function decideFor(request: SamplingRequest, now: number): SamplingDecision {
    if (rules.length === 0 || now - rulesFetchedAtMs > maxRuleAgeMs) {
      return fallback.shouldSample(request);
    }
    const serviceName = field(request?.serviceName);
    const serviceType = field(request?.serviceType);
    const host = field(request?.host);
    const method = field(request?.method);
    const path = field(request?.path);
    let candidates = cache.get(serviceName, serviceType, host, method);
    if (candidates === undefined) {
      candidates = candidatesFor(serviceName, serviceType, host, method);
      cache.set(serviceName, serviceType, host, method, candidates);
    }
    // Path and attributes are checked per request, only on the candidates.
    let pathAscii: boolean | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const rule = rules[candidates[i]];
      if (path !== undefined && !isMatchAll(rule.path)) {
        pathAscii ??= isAscii(path);
        if (!matches(rule.path, path, pathAscii)) continue;
      }
      if (
        rule.attributes !== undefined &&
        !attributesMatch(rule, request?.attributes)
      ) {
        continue;
      }
      return decide(rule, now);
    }
    return fallback.shouldSample(request);
  }

  if (pollMode === "interval") arm();

  return {
    clientId,
    shouldSample(request: SamplingRequest): SamplingDecision {
      try {
        const now = clock.now();
        const decision = decideFor(request, now);
        // Start due polling after deciding, so this request is in the report.
        if (
          inflight === undefined && !closed &&
          (now >= nextRulesAtMs || now >= nextTargetsAtMs)
        ) {
          pollIfDue(now);
        }
        return decision;
      } catch (e) {
        report(e);
        return UNSAMPLED;
      }
    },
    pending(): Promise<void> {
      return inflight ?? Promise.resolve();
    },
    async poll(): Promise<void> {
      while (inflight !== undefined) await inflight;
      if (closed) return;
      await start(true, true);
    },
    async close(): Promise<void> {
      closed = true;
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      while (inflight !== undefined) await inflight;
    },
    rules(): CentralizedRuleState[] {
      return rules.map((rule) => ({
        name: rule.name,
        priority: rule.priority,
        fixedRate: rule.fixedRate,
        reservoirSize: rule.reservoirSize,
        ...rule.source,
        attributes: { ...rule.source.attributes },
        ...(rule.quota === undefined ? {} : {
          reservoirQuota: rule.quota,
          reservoirQuotaExpiresAtMs: rule.quotaExpiresAtMs,
        }),
        requestCount: rule.requestCount,
        sampledCount: rule.sampledCount,
        borrowCount: rule.borrowCount,
      }));
    },
  };
}

/** The service's error type and message, for an error report. */
function describeServiceError(response: Response, text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: no details.
  }
  const type = awsErrorCode(response.headers, body);
  const message = isRecord(body) ? body.message ?? body.Message : undefined;
  let out = type ? ` (${type})` : "";
  if (typeof message === "string" && message) {
    out += `: ${
      message.length > 200 ? `${message.slice(0, 197)}...` : message
    }`;
  }
  return out;
}

/** Parses one `SamplingRule`; `undefined` for rules this sampler does not apply. */
function parseRule(value: unknown): Rule | undefined {
  if (!isRecord(value)) return undefined;
  const {
    RuleName: name,
    Priority: priority,
    FixedRate: fixedRate,
    ReservoirSize: reservoirSize,
    ServiceName: serviceName,
    ServiceType: serviceType,
    Host: host,
    HTTPMethod: httpMethod,
    URLPath: urlPath,
    Version: version,
    ResourceARN: resourceArn,
    Attributes: attributes,
  } = value;
  if (version !== 1 || resourceArn !== "*") return undefined;
  if (typeof name !== "string" || name === "") return undefined;
  if (typeof priority !== "number" || !Number.isFinite(priority)) {
    return undefined;
  }
  if (typeof fixedRate !== "number" || !(fixedRate >= 0 && fixedRate <= 1)) {
    return undefined;
  }
  if (
    typeof reservoirSize !== "number" || !Number.isInteger(reservoirSize) ||
    reservoirSize < 0
  ) {
    return undefined;
  }
  if (
    typeof serviceName !== "string" || typeof serviceType !== "string" ||
    typeof host !== "string" || typeof httpMethod !== "string" ||
    typeof urlPath !== "string"
  ) {
    return undefined;
  }
  let attributeList: [string, Pattern][] | undefined;
  const attributeCopy: Record<string, string> = {};
  if (attributes !== undefined && attributes !== null) {
    if (!isRecord(attributes)) return undefined;
    for (const [key, pattern] of Object.entries(attributes)) {
      if (typeof pattern !== "string") return undefined;
      attributeCopy[key] = pattern;
      (attributeList ??= []).push([key, compilePattern(pattern)]);
    }
  }
  return {
    name,
    priority,
    isDefault: name === "Default",
    fixedRate,
    reservoirSize,
    source: {
      serviceName,
      serviceType,
      host,
      httpMethod,
      urlPath,
      attributes: attributeCopy,
    },
    serviceName: compilePattern(serviceName),
    serviceType: compilePattern(serviceType),
    host: compilePattern(host),
    method: compilePattern(httpMethod),
    path: compilePattern(urlPath),
    attributes: attributeList,
    quota: undefined,
    quotaExpiresAtMs: Number.NEGATIVE_INFINITY,
    second: Number.NaN,
    taken: 0,
    borrowed: 0,
    requestCount: 0,
    sampledCount: 0,
    borrowCount: 0,
    everMatched: false,
    yes: Object.freeze({ sampled: true, ruleName: name }),
    no: Object.freeze({ sampled: false, ruleName: name }),
  };
}
