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

function check(
  root: Schema,
  schema: Schema,
  value: unknown,
  path: string,
  out: string[],
): void {
  if (out.length >= 5) return;
  if (typeof schema.$ref === "string") {
    check(root, resolve(root, schema.$ref), value, path, out);
    return;
  }
  const type = schema.type;
  if (type !== undefined) {
    const types = Array.isArray(type) ? type as string[] : [type as string];
    if (!types.some((t) => hasType(value, t))) {
      out.push(`${path} must be ${types.join(" or ")}`);
      return;
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    out.push(`${path} must be one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof value === "string") {
    const length = typeof schema.minLength === "number" ||
        typeof schema.maxLength === "number"
      ? [...value].length
      : 0;
    if (typeof schema.minLength === "number" && length < schema.minLength) {
      out.push(`${path} must have at least ${schema.minLength} characters`);
    }
    if (typeof schema.maxLength === "number" && length > schema.maxLength) {
      out.push(`${path} must have at most ${schema.maxLength} characters`);
    }
    if (
      typeof schema.pattern === "string" && !regex(schema.pattern).test(value)
    ) {
      out.push(`${path} does not match the schema's pattern`);
    }
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) {
      out.push(`${path} must be at least ${schema.minimum}`);
    }
    if (typeof schema.maximum === "number" && value > schema.maximum) {
      out.push(`${path} must be at most ${schema.maximum}`);
    }
  }
  if (
    Array.isArray(value) && schema.items && typeof schema.items === "object"
  ) {
    for (let i = 0; i < value.length && out.length < 5; i++) {
      check(root, schema.items as Schema, value[i], `${path}[${i}]`, out);
    }
  }
  if (typeOf(value) === "object") {
    const object = value as Record<string, unknown>;
    if (Array.isArray(schema.required)) {
      for (const key of schema.required as string[]) {
        if (!Object.hasOwn(object, key)) {
          out.push(`${path === "" ? "" : path + "."}${key} is required`);
        }
      }
    }
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const patternProperties = (schema.patternProperties ?? {}) as Record<
      string,
      Schema
    >;
    for (const key of Object.keys(object)) {
      const where = path === "" ? key : `${path}.${key}`;
      let matched = false;
      if (Object.hasOwn(properties, key)) {
        matched = true;
        check(root, properties[key], object[key], where, out);
      }
      for (const [pattern, sub] of Object.entries(patternProperties)) {
        if (regex(pattern).test(key)) {
          matched = true;
          check(root, sub, object[key], where, out);
        }
      }
      if (!matched) {
        const extra = schema.additionalProperties;
        if (extra === false) {
          out.push(`${where} is not allowed here`);
        } else if (extra && typeof extra === "object") {
          check(root, extra as Schema, object[key], where, out);
        }
      }
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
      out.push(`${path} must match exactly one of its allowed forms`);
    }
  }
  if (Array.isArray(schema.anyOf)) {
    const ok = (schema.anyOf as Schema[]).some((sub) => {
      const inner: string[] = [];
      check(root, sub, value, path, inner);
      return inner.length === 0;
    });
    if (!ok) out.push(`${path} must match one of its allowed forms`);
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
  check(ROOT, ROOT, document, "", out);
  const doc = document as Record<string, unknown>;
  if (out.length === 0) {
    if (doc.end_time === undefined && doc.in_progress !== true) {
      out.push("end_time is required unless in_progress is true");
    }
    if (doc.type === "subsegment" && typeof doc.parent_id !== "string") {
      out.push("parent_id is required on an independent subsegment");
    }
  }
  return out.map((m) => m.startsWith(".") ? m.slice(1) : m);
}
