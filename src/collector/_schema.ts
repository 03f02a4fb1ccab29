// Validation of incoming documents against AWS's official segment-document
// schema: a small interpreter for the draft-04 keywords that schema uses
// ($ref, type, properties, patternProperties, additionalProperties, required,
// items, minLength, maxLength, pattern, oneOf, anyOf, enum, minimum, maximum),
// so the collector needs no validator dependency. The tests check it agrees
// with ajv-draft-04 on the same schema.

import { SEGMENT_DOCUMENT_SCHEMA } from "./_schema_data.ts";

type Schema = Record<string, unknown>;

const patterns = new Map<string, RegExp>();

function regex(source: string): RegExp {
  let re = patterns.get(source);
  if (!re) {
    re = new RegExp(source, "u");
    patterns.set(source, re);
  }
  return re;
}

// Names repeat (services, operations) and the name pattern is a long Unicode
// class: remember recent answers per pattern, in bounded maps.
const seen = new Map<string, Map<string, boolean>>();

function matchesPattern(source: string, value: string): boolean {
  if (value.length > 256) return regex(source).test(value);
  let answers = seen.get(source);
  if (!answers) {
    answers = new Map();
    seen.set(source, answers);
  }
  let ok = answers.get(value);
  if (ok === undefined) {
    ok = regex(source).test(value);
    if (answers.size >= 4096) answers.clear();
    answers.set(value, ok);
  }
  return ok;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    default:
      return typeOf(value) === type;
  }
}

function resolve(root: Schema, ref: string): Schema {
  if (!ref.startsWith("#/")) throw new Error(`Unsupported $ref ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split("/")) {
    node = (node as Schema)[part];
  }
  return node as Schema;
}

/** Where in the document the check is: keys and indexes, joined on error only. */
type Path = (string | number)[];

function where(path: Path): string {
  let out = "";
  for (const part of path) {
    out += typeof part === "number"
      ? `[${part}]`
      : out === ""
      ? part
      : `.${part}`;
  }
  return out;
}

/** The length in code points, computed only when the UTF-16 length cannot decide. */
function lengthOutside(value: string, min: number, max: number): number {
  const units = value.length;
  const least = Math.ceil(units / 2);
  if (units >= min && least >= min && units <= max) return -1;
  if (units < min || least > max) return units < min ? units : least;
  const points = [...value].length;
  return points < min || points > max ? points : -1;
}

function check(
  root: Schema,
  schema: Schema,
  value: unknown,
  path: Path,
  out: string[],
): void {
  if (out.length >= 5) return;
  if (typeof schema.$ref === "string") {
    check(root, resolve(root, schema.$ref), value, path, out);
    return;
  }
  const type = schema.type;
  if (type !== undefined) {
    const ok = Array.isArray(type)
      ? (type as string[]).some((t) => hasType(value, t))
      : hasType(value, type as string);
    if (!ok) {
      out.push(
        `${where(path)} must be ${
          Array.isArray(type) ? type.join(" or ") : type
        }`,
      );
      return;
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    out.push(`${where(path)} must be one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof value === "string") {
    const min = typeof schema.minLength === "number" ? schema.minLength : 0;
    const max = typeof schema.maxLength === "number"
      ? schema.maxLength
      : Number.POSITIVE_INFINITY;
    if (min > 0 || max !== Number.POSITIVE_INFINITY) {
      const length = lengthOutside(value, min, max);
      if (length >= 0 && length < min) {
        out.push(`${where(path)} must have at least ${min} characters`);
      } else if (length >= 0) {
        out.push(`${where(path)} must have at most ${max} characters`);
      }
    }
    if (
      typeof schema.pattern === "string" &&
      !matchesPattern(schema.pattern, value)
    ) {
      out.push(`${where(path)} does not match the schema's pattern`);
    }
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) {
      out.push(`${where(path)} must be at least ${schema.minimum}`);
    }
    if (typeof schema.maximum === "number" && value > schema.maximum) {
      out.push(`${where(path)} must be at most ${schema.maximum}`);
    }
  }
  if (
    Array.isArray(value) && schema.items && typeof schema.items === "object"
  ) {
    for (let i = 0; i < value.length && out.length < 5; i++) {
      path.push(i);
      check(root, schema.items as Schema, value[i], path, out);
      path.pop();
    }
  }
  if (typeOf(value) === "object") {
    const object = value as Record<string, unknown>;
    if (Array.isArray(schema.required)) {
      for (const key of schema.required as string[]) {
        if (!Object.hasOwn(object, key)) {
          path.push(key);
          out.push(`${where(path)} is required`);
          path.pop();
        }
      }
    }
    const properties = schema.properties as Record<string, Schema> | undefined;
    const patternProperties = schema.patternProperties as
      | Record<string, Schema>
      | undefined;
    for (const key in object) {
      if (!Object.hasOwn(object, key)) continue;
      path.push(key);
      let matched = false;
      if (properties !== undefined && Object.hasOwn(properties, key)) {
        matched = true;
        check(root, properties[key], object[key], path, out);
      }
      if (patternProperties !== undefined) {
        for (const pattern in patternProperties) {
          if (matchesPattern(pattern, key)) {
            matched = true;
            check(root, patternProperties[pattern], object[key], path, out);
          }
        }
      }
      if (!matched) {
        const extra = schema.additionalProperties;
        if (extra === false) {
          out.push(`${where(path)} is not allowed here`);
        } else if (extra && typeof extra === "object") {
          check(root, extra as Schema, object[key], path, out);
        }
      }
      path.pop();
    }
  }
  if (Array.isArray(schema.oneOf)) {
    let passed = 0;
    for (const sub of schema.oneOf as Schema[]) {
      const inner: string[] = [];
      check(root, sub, value, path, inner);
      if (inner.length === 0) passed++;
    }
    if (passed !== 1) {
      out.push(`${where(path)} must match exactly one of its allowed forms`);
    }
  }
  if (Array.isArray(schema.anyOf)) {
    const ok = (schema.anyOf as Schema[]).some((sub) => {
      const inner: string[] = [];
      check(root, sub, value, path, inner);
      return inner.length === 0;
    });
    if (!ok) out.push(`${where(path)} must match one of its allowed forms`);
  }
}

const ROOT = relaxed(SEGMENT_DOCUMENT_SCHEMA);

/**
 * The public schema copy's documented defect: its exception definition may
 * require `cause` and `skipped`, which X-Ray does not. Only those are relaxed.
 */
function relaxed(schema: Schema): Schema {
  const copy = structuredClone(schema);
  const exception = (copy.definitions as Record<string, Schema> | undefined)
    ?.exception;
  if (exception && Array.isArray(exception.required)) {
    exception.required = (exception.required as string[]).filter((k) =>
      k !== "cause" && k !== "skipped"
    );
  }
  return copy;
}

/**
 * Checks one parsed document against the official schema and the rules the
 * X-Ray API adds (an end time or `in_progress`; a `parent_id` on an
 * independent subsegment). Returns the reasons it is invalid (empty when
 * valid, at most five).
 */
export function schemaErrors(document: unknown): string[] {
  const out: string[] = [];
  if (typeOf(document) !== "object") return ["document must be a JSON object"];
  check(ROOT, ROOT, document, [], out);
  const doc0 = document as Record<string, unknown>;
  if (doc0.type === "subsegment" && out.length === 0) {
    // An independent subsegment is also held to the subsegment definition
    // (namespace, sql, precursor_ids …).
    const definitions = ROOT.definitions as Record<string, Schema>;
    check(ROOT, definitions.subsegment, document, [], out);
  }
  const doc = document as Record<string, unknown>;
  if (out.length === 0) {
    if (doc.end_time === undefined && doc.in_progress !== true) {
      out.push("end_time is required unless in_progress is true");
    }
    if (doc.type === "subsegment" && typeof doc.parent_id !== "string") {
      out.push("parent_id is required on an independent subsegment");
    }
  }
  return out;
}
