// Validates documents against AWS's official segment-document JSON Schema
// (draft-04), kept in tests/fixtures/ (source named in its README).
import AjvDraft04 from "ajv-draft-04";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

type Validate = ((doc: unknown) => boolean) & { errors?: unknown };

let validate: Validate | undefined;

function schemaValidator(): Validate {
  if (validate) return validate;
  const url = new URL(
    "./fixtures/xray-segmentdocument-schema-v1.0.0.json",
    import.meta.url,
  );
  const schema = JSON.parse(readFileSync(url, "utf8"));
  // Documented defects of the public schema copy: the exception definition may
  // require `cause`/`skipped`, which are optional in X-Ray. Relax only those.
  const exception = schema.definitions?.exception;
  if (Array.isArray(exception?.required)) {
    exception.required = exception.required.filter((k: string) =>
      k !== "cause" && k !== "skipped"
    );
  }
  // CommonJS interop differs between runtimes and bundlers: take the class either way.
  // deno-lint-ignore no-explicit-any
  const Ajv = ((AjvDraft04 as any).default ?? AjvDraft04) as new (
    options: object,
  ) => {
    compile(schema: unknown): Validate;
  };
  const ajv = new Ajv({ strict: false, allErrors: true });
  validate = ajv.compile(schema) as Validate;
  return validate;
}

/** Asserts that one X-Ray document (object or JSON string) is schema-valid and ≤ 64 KB. */
export function assertValidDocument(doc: unknown): void {
  const text = typeof doc === "string" ? doc : JSON.stringify(doc);
  const bytes = new TextEncoder().encode(text).length;
  assert.ok(bytes <= 64 * 1024, `document is ${bytes} bytes, over 64 KB`);
  const parsed = typeof doc === "string" ? JSON.parse(doc) : doc;
  const v = schemaValidator();
  if (!v(parsed)) {
    assert.fail(
      `document fails the X-Ray schema: ${JSON.stringify(v.errors)}\n${
        text.slice(0, 2000)
      }`,
    );
  }
}

/** Asserts every document is schema-valid and returns how many there were. */
export function assertValidDocuments(docs: readonly unknown[]): number {
  for (const d of docs) assertValidDocument(d);
  return docs.length;
}
