/**
 * Local sampling: the X-Ray local rules document (versions 1 and 2) with a
 * per-rule reservoir of `fixed_target` requests per second, then `rate`.
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
import { toError } from "../errors.ts";
import {
  candidateCache,
  compilePattern,
  field,
  isAscii,
  isMatchAll,
  matches,
  type Pattern,
} from "./_match.ts";

/** The default rule of a local rules document. */
export interface LocalSamplingDefault {
  /** Requests per second sampled before `rate` applies (a non-negative integer). */
  readonly fixed_target: number;
  /** The share of further requests sampled, from 0 to 1. */
  readonly rate: number;
}

/** One custom rule of a local rules document. */
export interface LocalSamplingRule extends LocalSamplingDefault {
  /** A free text; also the rule name the decision carries. */
  readonly description?: string;
  /** Version 2: the request host pattern (`*` and `?` wildcards). */
  readonly host?: string;
  /** Version 1: the pattern matched against the request host. */
  readonly service_name?: string;
  /** The HTTP method pattern. */
  readonly http_method: string;
  /** The URL path pattern. */
  readonly url_path: string;
}

/** The X-Ray local sampling rules document. */
export interface LocalSamplingRules {
  /** 1 (rules name `service_name`) or 2 (rules name `host`). */
  readonly version: 1 | 2;
  /** What applies when no rule matches. */
  readonly default: LocalSamplingDefault;
  /** Tried in order; the first match decides. */
  readonly rules?: readonly LocalSamplingRule[];
}

/** Options for {@linkcode localSampler}. */
export interface LocalSamplerOptions {
  /** Time source for the per-second reservoir. @default Date.now */
  clock?: Clock;
  /** Random source in [0, 1). @default Math.random */
  random?: () => number;
  /** Where a failing clock or random source is reported (the request is then unsampled). */
  onError?: ErrorHandler;
}

/**
 * The rules used when none are given: the first request each second, then
 * 5 % of the rest.
 */
export const DEFAULT_SAMPLING_RULES: LocalSamplingRules = Object.freeze({
  version: 2,
  default: Object.freeze({ fixed_target: 1, rate: 0.05 }),
  rules: Object.freeze([]) as readonly LocalSamplingRule[],
});

/** The rule name of the default rule. */
const DEFAULT_RULE_NAME = "Default";

const UNSAMPLED: SamplingDecision = Object.freeze({ sampled: false });

interface CompiledRule {
  readonly host: Pattern;
  readonly method: Pattern;
  readonly path: Pattern;
  readonly fixedTarget: number;
  readonly rate: number;
  readonly yes: SamplingDecision;
  readonly no: SamplingDecision;
  second: number;
  used: number;
}

/**
 * Creates a sampler from a local rules document. Rules are tried in document
 * order and the first match decides, else the default applies. A rule field
 * matches when the request lacks that field or the wildcard pattern matches
 * (case-insensitive). Each rule samples up to `fixed_target` requests per
 * second, then `random() < rate`.
 *
 * Decisions carry a rule name: the rule's `description`, else its place in
 * the document (`rules[2]`), and `Default` for the default rule.
 *
 * @param document The rules document (an object or its JSON text).
 *   @default DEFAULT_SAMPLING_RULES (1 request/second, then 5 %)
 * @param options Clock, random source and error hook.
 * @returns The sampler; `shouldSample` is synchronous and never throws.
 * @throws {RangeError} When the document is invalid; the message names the
 *   bad field's path, such as `rules[1].rate`.
 * @throws {TypeError} When `clock` or `random` is not usable.
 *
 * @example Route rules with a fixed clock and random source
 * ```ts
 * import assert from "node:assert/strict";
 * import { localSampler } from "./local.ts";
 * const sampler = localSampler({
 *   version: 2,
 *   default: { fixed_target: 0, rate: 0 },
 *   rules: [{ description: "health", host: "*", http_method: "GET", url_path: "/health", fixed_target: 0, rate: 0 },
 *           { description: "api", host: "*.example.com", http_method: "*", url_path: "/api/*", fixed_target: 1, rate: 0.5 }],
 * }, { clock: { now: () => 0 }, random: () => 0.9 });
 * assert.deepEqual(sampler.shouldSample({ host: "a.example.com", method: "POST", path: "/api/x" }), { sampled: true, ruleName: "api" });
 * assert.deepEqual(sampler.shouldSample({ host: "a.example.com", method: "POST", path: "/api/x" }), { sampled: false, ruleName: "api" });
 * assert.equal(sampler.shouldSample({ method: "GET", path: "/health" }).ruleName, "health");
 * assert.throws(() => localSampler({ version: 2, default: { fixed_target: 1, rate: 2 } }), /'default.rate'/);
 * ```
 */
export function localSampler(
  document?: LocalSamplingRules | string,
  options: LocalSamplerOptions = {},
): Sampler {
  const clock = options.clock ?? { now: () => Date.now() };
  const random = options.random ?? Math.random;
  if (typeof clock?.now !== "function") {
    throw new TypeError(
      "Cannot create local sampler as 'clock' must have a now() method",
    );
  }
  if (typeof random !== "function") {
    throw new TypeError(
      "Cannot create local sampler as 'random' must be a function",
    );
  }
  const onError = options.onError;
  const { rules, fallback } = compileDocument(
    document === undefined ? DEFAULT_SAMPLING_RULES : document,
  );

  function decide(rule: CompiledRule): SamplingDecision {
    if (rule.fixedTarget > 0) {
      const second = Math.floor(clock.now() / 1000);
      if (second !== rule.second) {
        rule.second = second;
        rule.used = 0;
      }
      if (rule.used < rule.fixedTarget) {
        rule.used++;
        return rule.yes;
      }
    }
    return random() < rule.rate ? rule.yes : rule.no;
  }

  const cache = candidateCache();

  /** The rules whose host and method patterns match (a missing field matches). */
  function candidatesFor(
    host: string | undefined,
    method: string | undefined,
  ): Int32Array {
    const hostAscii = host !== undefined && isAscii(host);
    const methodAscii = method !== undefined && isAscii(method);
    const found: number[] = [];
    for (let i = 0; i < rules.length; i++) {
      if (
        (host === undefined || matches(rules[i].host, host, hostAscii)) &&
        (method === undefined || matches(rules[i].method, method, methodAscii))
      ) {
        found.push(i);
      }
    }
    return Int32Array.from(found);
  }

  return {
    shouldSample(request: SamplingRequest): SamplingDecision {
      try {
        const host = field(request?.host);
        const method = field(request?.method);
        const path = field(request?.path);
        let candidates = cache.get(host, method, undefined, undefined);
        if (candidates === undefined) {
          candidates = candidatesFor(host, method);
          cache.set(host, method, undefined, undefined, candidates);
        }
        // The path is checked per request, only on the candidates.
        let pathAscii: boolean | undefined;
        for (let i = 0; i < candidates.length; i++) {
          const rule = rules[candidates[i]];
          if (path !== undefined && !isMatchAll(rule.path)) {
            pathAscii ??= isAscii(path);
            if (!matches(rule.path, path, pathAscii)) continue;
          }
          return decide(rule);
        }
        return decide(fallback);
      } catch (e) {
        try {
          onError?.(toError(e), "sampling");
        } catch {
          // The error hook itself failed; the request still goes on.
        }
        return UNSAMPLED;
      }
    },
  };
}

// ---------------------------------------------------------------------------
// Validation

const DEFAULT_KEYS = new Set(["fixed_target", "rate"]);
const TOP_KEYS = new Set(["version", "default", "rules"]);

function invalid(
  path: string,
  requirement: string,
  value: unknown,
): RangeError {
  return new RangeError(
    `Cannot create local sampler as '${path}' ${requirement}: current value is ${
      describe(value)
    }`,
  );
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

function checkKeys(
  object: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  path: string,
  hint?: (key: string) => string | undefined,
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) {
      const where = path === "" ? key : `${path}.${key}`;
      throw invalid(
        where,
        hint?.(key) ??
          `is not a known key (expected one of ${[...allowed].join(", ")})`,
        object[key],
      );
    }
  }
}

function checkFixedTarget(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw invalid(path, "must be a non-negative integer", value);
  }
  return value;
}

function checkRate(value: unknown, path: string): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value < 0 ||
    value > 1
  ) {
    throw invalid(path, "must be a number between 0 and 1", value);
  }
  return value;
}

function checkPattern(value: unknown, path: string): Pattern {
  if (typeof value !== "string") {
    throw invalid(path, "must be a string pattern", value);
  }
  return compilePattern(value);
}

function compileDocument(
  input: LocalSamplingRules | string,
): { rules: CompiledRule[]; fallback: CompiledRule } {
  let document: unknown = input;
  if (typeof input === "string") {
    try {
      document = JSON.parse(input);
    } catch (e) {
      throw new RangeError(
        `Cannot create local sampler as the rules document is not valid JSON: ${
          toError(e).message
        }`,
      );
    }
  }
  if (!isRecord(document)) {
    throw new RangeError(
      `Cannot create local sampler as the rules document must be an object: current value is ${
        describe(document)
      }`,
    );
  }
  checkKeys(document, TOP_KEYS, "");
  const version = document.version;
  if (version !== 1 && version !== 2) {
    throw invalid("version", "must be 1 or 2", version);
  }
  const def = document.default;
  if (!isRecord(def)) {
    throw invalid(
      "default",
      "must be an object with fixed_target and rate",
      def,
    );
  }
  checkKeys(
    def,
    DEFAULT_KEYS,
    "default",
    (key) =>
      key === "host" || key === "service_name" || key === "http_method" ||
        key === "url_path"
        ? "is not allowed on the default rule (it matches every request)"
        : undefined,
  );
  const fallback = compiledRule(
    { host: undefined, method: undefined, path: undefined },
    checkFixedTarget(def.fixed_target, "default.fixed_target"),
    checkRate(def.rate, "default.rate"),
    DEFAULT_RULE_NAME,
  );
  const list = document.rules ?? [];
  if (!Array.isArray(list)) {
    throw invalid("rules", "must be an array", list);
  }
  const hostKey = version === 1 ? "service_name" : "host";
  const otherKey = version === 1 ? "host" : "service_name";
  const ruleKeys = new Set([
    "description",
    hostKey,
    "http_method",
    "url_path",
    "fixed_target",
    "rate",
  ]);
  const rules = list.map((rule: unknown, i: number): CompiledRule => {
    const path = `rules[${i}]`;
    if (!isRecord(rule)) throw invalid(path, "must be an object", rule);
    checkKeys(
      rule,
      ruleKeys,
      path,
      (key) =>
        key === otherKey
          ? `is not allowed in a version ${version} document (use '${hostKey}')`
          : undefined,
    );
    const description = rule.description;
    if (description !== undefined && typeof description !== "string") {
      throw invalid(`${path}.description`, "must be a string", description);
    }
    const host = checkPattern(rule[hostKey], `${path}.${hostKey}`);
    const method = checkPattern(rule.http_method, `${path}.http_method`);
    const urlPath = checkPattern(rule.url_path, `${path}.url_path`);
    return compiledRule(
      { host, method, path: urlPath },
      checkFixedTarget(rule.fixed_target, `${path}.fixed_target`),
      checkRate(rule.rate, `${path}.rate`),
      description !== undefined && description.trim() !== ""
        ? description
        : path,
    );
  });
  return { rules, fallback };
}

function compiledRule(
  patterns: { host?: Pattern; method?: Pattern; path?: Pattern },
  fixedTarget: number,
  rate: number,
  name: string,
): CompiledRule {
  const all = compilePattern("*");
  return {
    host: patterns.host ?? all,
    method: patterns.method ?? all,
    path: patterns.path ?? all,
    fixedTarget,
    rate,
    yes: Object.freeze({ sampled: true, ruleName: name }),
    no: Object.freeze({ sampled: false, ruleName: name }),
    second: Number.NaN,
    used: 0,
  };
}
