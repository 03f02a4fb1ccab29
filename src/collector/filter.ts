/**
 * A parser and evaluator for a subset of X-Ray filter expressions, applied to
 * the trace summaries the collector keeps.
 *
 * Supported: `service("name")`, `service(id(name: "n", type: "t"))`,
 * `rootcause.fault.service(...)`, `rootcause.error.service(...)`;
 * `annotation.key` compared with `=`, `!=`,
 * `<`, `<=`, `>`, `>=` (numbers) or `=`, `!=`, `CONTAINS`, `BEGINSWITH`,
 * `ENDSWITH` (strings), or `= true|false`; `http.status`, `http.url`,
 * `http.method`, `http.useragent`, `http.clientip`, `user`, `responsetime`,
 * `duration`; the flags `ok`, `error`, `fault`, `throttle`, `partial` (bare or
 * `= true|false`); `!`/`NOT`, parentheses, `AND`/`&&`, `OR`/`||`.
 *
 * @module
 */

import type { TraceSummary } from "./_trace.ts";

/** A filter expression that does not parse; `position` is the 0-based offset. */
export class FilterExpressionError extends SyntaxError {
  /** Where in the expression the problem is (0-based character offset). */
  readonly position: number;
  /**
   * Creates the error.
   * @param message What is wrong.
   * @param position Where (0-based character offset).
   */
  constructor(message: string, position: number) {
    super(message);
    this.name = "FilterExpressionError";
    this.position = position;
  }
}

/** A compiled filter: true when the summary matches. */
export type TraceFilter = (summary: TraceSummary) => boolean;

type Value = string | number | boolean;

interface Token {
  kind: "word" | "string" | "number" | "punct" | "end";
  text: string;
  value?: Value;
  at: number;
}

const PUNCT = [
  "&&",
  "||",
  "!=",
  "<=",
  ">=",
  "(",
  ")",
  "!",
  "=",
  "<",
  ">",
  ",",
  ":",
];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === '"') {
      let value = "";
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        value += text[i++];
      }
      if (i >= text.length) {
        throw new FilterExpressionError(
          `Unterminated string starting at position ${at + 1}`,
          at,
        );
      }
      i++;
      tokens.push({ kind: "string", text: text.slice(at, i), value, at });
      continue;
    }
    const number = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(
      text.slice(i),
    );
    if (number && (c !== "-" || /[\d.]/.test(text[i + 1] ?? ""))) {
      i += number[0].length;
      tokens.push({
        kind: "number",
        text: number[0],
        value: Number(number[0]),
        at,
      });
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
    if (word) {
      i += word[0].length;
      tokens.push({ kind: "word", text: word[0], at });
      continue;
    }
    const punct = PUNCT.find((p) => text.startsWith(p, i));
    if (punct) {
      i += punct.length;
      tokens.push({ kind: "punct", text: punct, at });
      continue;
    }
    throw new FilterExpressionError(
      `Unexpected character '${c}' at position ${at + 1}`,
      at,
    );
  }
  tokens.push({ kind: "end", text: "end of expression", at: text.length });
  return tokens;
}

const FLAGS: Record<string, (s: TraceSummary) => boolean> = {
  ok: (s) => !s.HasFault && !s.HasError && !s.HasThrottle,
  error: (s) => s.HasError,
  fault: (s) => s.HasFault,
  throttle: (s) => s.HasThrottle,
  partial: (s) => s.IsPartial,
};

const NUMBERS: Record<string, (s: TraceSummary) => number | undefined> = {
  responsetime: (s) => s.ResponseTime,
  duration: (s) => s.Duration,
  "http.status": (s) => s.Http?.HttpStatus,
};

const STRINGS: Record<string, (s: TraceSummary) => string[]> = {
  "http.url": (s) => s.Http?.HttpURL === undefined ? [] : [s.Http.HttpURL],
  "http.method": (s) =>
    s.Http?.HttpMethod === undefined ? [] : [s.Http.HttpMethod],
  "http.useragent": (s) =>
    s.Http?.UserAgent === undefined ? [] : [s.Http.UserAgent],
  "http.clientip": (s) =>
    s.Http?.ClientIp === undefined ? [] : [s.Http.ClientIp],
  user: (s) => s.Users.map((u) => u.UserName),
};

const NUMBER_OPS = ["=", "!=", "<", "<=", ">", ">="];
const STRING_OPS = ["=", "!=", "CONTAINS", "BEGINSWITH", "ENDSWITH"];

function compare(op: string, left: Value, right: Value): boolean {
  if (typeof left !== typeof right) return false;
  switch (op) {
    case "=":
      return left === right;
    case "!=":
      return left !== right;
    case "<":
      return left < right;
    case "<=":
      return left <= right;
    case ">":
      return left > right;
    case ">=":
      return left >= right;
    case "CONTAINS":
      return (left as string).includes(right as string);
    case "BEGINSWITH":
      return (left as string).startsWith(right as string);
    case "ENDSWITH":
      return (left as string).endsWith(right as string);
  }
  return false;
}

function describeToken(token: Token): string {
  return token.kind === "end" ? "the end of the expression" : `'${token.text}'`;
}

/**
 * Parses a filter expression.
 * @param text The expression, such as `service("api") AND http.status = 500`.
 * @returns The filter; an empty expression matches every trace.
 * @throws {FilterExpressionError} With a message naming the position and what
 *   was expected.
 *
 * @example Filter summaries
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFilterExpression } from "./filter.ts";
 * const slow = parseFilterExpression('responsetime > 1 AND !fault');
 * assert.equal(typeof slow, "function");
 * assert.throws(() => parseFilterExpression("http.status = "), /expected a value/);
 * ```
 */
export function parseFilterExpression(text: string): TraceFilter {
  if (typeof text !== "string") {
    throw new FilterExpressionError(
      "The filter expression must be a string",
      0,
    );
  }
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token => tokens[pos];
  const next = (): Token => tokens[pos++];
  const isWord = (t: Token, word: string): boolean =>
    t.kind === "word" && t.text.toUpperCase() === word;
  const fail = (token: Token, expected: string): never => {
    throw new FilterExpressionError(
      `Invalid filter expression at position ${
        token.at + 1
      }: expected ${expected}, found ${describeToken(token)}`,
      token.at,
    );
  };

  function orExpr(): TraceFilter {
    let left = andExpr();
    while (isWord(peek(), "OR") || peek().text === "||") {
      next();
      const a = left;
      const b = andExpr();
      left = (s) => a(s) || b(s);
    }
    return left;
  }

  function andExpr(): TraceFilter {
    let left = unary();
    while (isWord(peek(), "AND") || peek().text === "&&") {
      next();
      const a = left;
      const b = unary();
      left = (s) => a(s) && b(s);
    }
    return left;
  }

  function unary(): TraceFilter {
    const t = peek();
    if ((t.kind === "punct" && t.text === "!") || isWord(t, "NOT")) {
      next();
      const inner = unary();
      return (s) => !inner(s);
    }
    return primary();
  }

  function operator(allowed: string[], keyword: string): string | undefined {
    const t = peek();
    const op = t.kind === "word" ? t.text.toUpperCase() : t.text;
    if (
      (t.kind === "punct" && NUMBER_OPS.includes(op)) ||
      (t.kind === "word" && STRING_OPS.includes(op))
    ) {
      if (!allowed.includes(op)) {
        fail(t, `one of ${allowed.join(" ")} after ${keyword}`);
      }
      next();
      return op;
    }
    return undefined;
  }

  function value(kind: "string" | "number" | "boolean" | "any"): Value {
    const t = next();
    if (t.kind === "string" && (kind === "string" || kind === "any")) {
      return t.value!;
    }
    if (t.kind === "number" && (kind === "number" || kind === "any")) {
      return t.value!;
    }
    if (
      (isWord(t, "TRUE") || isWord(t, "FALSE")) &&
      (kind === "boolean" || kind === "any")
    ) {
      return isWord(t, "TRUE");
    }
    const what = kind === "any"
      ? 'a value (a "string", a number, true or false)'
      : kind === "string"
      ? 'a value (a "string")'
      : kind === "number"
      ? "a value (a number)"
      : "a value (true or false)";
    return fail(t, what);
  }

  function expect(text: string, what: string): void {
    const t = next();
    if (t.text !== text || (t.kind !== "punct" && t.kind !== "word")) {
      fail(t, what);
    }
  }

  /**
   * `( )`, `("name")` or `(id(name: "name", type: "type"))` after a service
   * keyword: a test on a service id.
   */
  function serviceSelector(
    keyword: string,
  ): (id: { Name?: string; Names?: string[]; Type?: string }) => boolean {
    expect("(", `'(' after ${keyword}`);
    let name: string | undefined;
    let type: string | undefined;
    if (peek().kind === "string") {
      name = next().value as string;
    } else if (peek().kind === "word" && peek().text === "id") {
      next();
      expect("(", "'(' after id");
      for (;;) {
        const key = next();
        if (
          key.kind !== "word" || (key.text !== "name" && key.text !== "type")
        ) {
          fail(key, "name: or type: in id(...)");
        }
        expect(":", `':' after ${key.text}`);
        const v = value("string") as string;
        if (key.text === "name") name = v;
        else type = v;
        if (peek().text === ",") {
          next();
          continue;
        }
        break;
      }
      expect(")", "')' to close id(...)");
    }
    expect(")", `a "name", id(...) or ')' in ${keyword}(...)`);
    return (id) =>
      (name === undefined || id.Name === name ||
        (id.Names ?? []).includes(name)) &&
      (type === undefined || id.Type === type);
  }

  function primary(): TraceFilter {
    const t = next();
    if (t.kind === "punct" && t.text === "(") {
      const inner = orExpr();
      const close = next();
      if (close.text !== ")" || close.kind !== "punct") {
        fail(close, "')'");
      }
      return inner;
    }
    if (t.kind !== "word") {
      return fail(t, "a keyword, service(...) or '('");
    }
    const word = t.text.toLowerCase();
    if (word === "service") {
      const matches = serviceSelector("service");
      return (s) => s.ServiceIds.some(matches);
    }
    if (
      word === "rootcause.fault.service" || word === "rootcause.error.service"
    ) {
      const matches = serviceSelector(t.text);
      const causes = word === "rootcause.fault.service"
        ? (s: TraceSummary) => s.FaultRootCauses
        : (s: TraceSummary) => s.ErrorRootCauses;
      return (s) => causes(s).some((c) => c.Services.some(matches));
    }
    if (word in FLAGS) {
      const flag = FLAGS[word];
      const op = operator(["=", "!="], word);
      if (op === undefined) return flag;
      const v = value("boolean") as boolean;
      return op === "=" ? (s) => flag(s) === v : (s) => flag(s) !== v;
    }
    if (word in NUMBERS) {
      const get = NUMBERS[word];
      const op = operator(NUMBER_OPS, word) ??
        fail(peek(), `a comparison (${NUMBER_OPS.join(" ")}) after ${word}`);
      const v = value("number");
      return (s) => {
        const left = get(s);
        return left !== undefined && compare(op, left, v);
      };
    }
    if (word in STRINGS) {
      const get = STRINGS[word];
      const op = operator(STRING_OPS, word) ??
        fail(peek(), `a comparison (${STRING_OPS.join(" ")}) after ${word}`);
      const v = value("string");
      return op === "!="
        ? (s) => get(s).every((left) => left !== v)
        : (s) => get(s).some((left) => compare(op, left, v));
    }
    if (word.startsWith("annotation.") && t.text.length > 11) {
      const key = t.text.slice(11);
      const op = operator([...NUMBER_OPS, ...STRING_OPS.slice(2)], t.text);
      const values = (s: TraceSummary): Value[] =>
        (s.Annotations[key] ?? []).map((v) => {
          const a = v.AnnotationValue as Record<string, Value>;
          return a.StringValue ?? a.NumberValue ?? a.BooleanValue;
        });
      if (op === undefined) {
        return (s) => values(s).some((v) => v !== false);
      }
      const v = value("any");
      if (typeof v !== "string" && STRING_OPS.slice(2).includes(op)) {
        throw new FilterExpressionError(
          `Invalid filter expression at position ${
            t.at + 1
          }: ${op} needs a "string" value`,
          t.at,
        );
      }
      return op === "!="
        ? (s) => values(s).every((left) => left !== v)
        : (s) => values(s).some((left) => compare(op, left, v));
    }
    return fail(
      t,
      'a keyword (service("name"), rootcause.fault.service(...), rootcause.error.service(...), annotation.KEY, http.status, http.url, http.method, http.useragent, http.clientip, user, responsetime, duration, ok, error, fault, throttle, partial)',
    );
  }

  if (peek().kind === "end") return () => true;
  const filter = orExpr();
  if (peek().kind !== "end") {
    fail(peek(), "AND, OR or the end of the expression");
  }
  return filter;
}
