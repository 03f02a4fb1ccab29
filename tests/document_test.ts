import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MAX_DOCUMENT_BYTES, sanitizeName } from "../mod.ts";
import { validateDocument } from "../src/testing.ts";
import { assertValidDocument } from "./_schema.ts";
import { testTracer } from "./_helpers.ts";

Deno.test("sanitizeName() keeps exactly what the schema's name pattern allows (BMP scan)", () => {
  const schema = JSON.parse(
    readFileSync(
      new URL(
        "./fixtures/xray-segmentdocument-schema-v1.0.0.json",
        import.meta.url,
      ),
      "utf8",
    ),
  );
  const pattern = new RegExp(schema.properties.name.pattern);
  const keptButRejected: number[] = [];
  for (let c = 0; c < 0x10000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (sanitizeName(ch) === ch && !pattern.test(ch)) keptButRejected.push(c);
  }
  assert.deepEqual(keptButRejected, []);
});

Deno.test("sanitizeName() removes ?;*()!$~^<>{}\\t and backslashes, keeps letters, cuts to 200", () => {
  assert.equal(
    sanitizeName("GET /users/{id}?x=1;*()!$~^<>\t\\"),
    "GET /users/idx=1",
  );
  assert.equal(
    sanitizeName("café ŝop 東京 @home #1 50%"),
    "café ŝop 東京 @home #1 50%",
  );
  assert.equal(sanitizeName("emoji 😀 gone"), "emoji  gone");
  assert.equal(sanitizeName("x".repeat(300)).length, 200);
});

Deno.test("segment and subsegment names are sanitized; an empty subsegment name is reported", async () => {
  const { tracer, errors, flushed } = testTracer();
  const s = tracer.startSegment("shop{prod}", { sampled: true });
  s.startSubsegment("call()").end();
  s.startSubsegment("{}").end();
  s.end();
  const [doc] = await flushed();
  assert.equal(doc.name, "shopprod");
  assert.equal(doc.subsegments[0].name, "call");
  assert.equal(doc.subsegments[1].name, "unnamed");
  assert.equal(errors.length, 1);
});

Deno.test("more than streamingThreshold subsegments stream finished subtrees out", async () => {
  const { tracer, flushed } = testTracer({ streamingThreshold: 3 });
  const s = tracer.startSegment("s", { sampled: true });
  const open = s.startSubsegment("open");
  for (let i = 0; i < 5; i++) s.capture(`done${i}`, () => {});
  open.capture("child", () => {});
  open.end();
  s.end();
  const docs = await flushed();
  const alone = docs.filter((d) => d.type === "subsegment");
  assert.ok(alone.length >= 3, `streamed ${alone.length}`);
  for (const d of alone) {
    assert.ok([s.id, open.id].includes(d.parent_id), d.parent_id);
    assert.equal(d.trace_id, s.traceId);
  }
  // Every subsegment arrives exactly once, across streamed and final documents.
  const names: string[] = [];
  const walk = (d: { name: string; subsegments?: [] }) => {
    names.push(d.name);
    (d.subsegments ?? []).forEach(walk);
  };
  docs.forEach(walk);
  assert.deepEqual(names.filter((n) => n !== "s").sort(), [
    "child",
    "done0",
    "done1",
    "done2",
    "done3",
    "done4",
    "open",
  ]);
});

Deno.test("streamingThreshold 0 sends each subsegment as it ends", async () => {
  const { tracer, sender } = testTracer({ streamingThreshold: 0 });
  const s = tracer.startSegment("s", { sampled: true });
  s.capture("a", () => {});
  await tracer.flush();
  assert.equal(sender.documents.length, 1);
  assert.equal(sender.documents[0].type, "subsegment");
  s.end();
  await tracer.flush();
  assert.equal(sender.documents[1].subsegments, undefined);
});

Deno.test("a tree over 64 KB is split into independent subsegment documents", async () => {
  const { tracer, flushed, sender } = testTracer();
  const s = tracer.startSegment("big", { sampled: true });
  for (let i = 0; i < 20; i++) {
    s.capture(`part${i}`, (sub) => sub.addMetadata("blob", "x".repeat(10_000)));
  }
  s.end();
  const docs = await flushed();
  assert.ok(docs.length > 1);
  for (const raw of sender.raw) {
    assert.ok(new TextEncoder().encode(raw).length <= MAX_DOCUMENT_BYTES);
  }
  const names = docs.flatMap((d) =>
    d.type === "subsegment"
      ? [d.name]
      : (d.subsegments ?? []).map((x: { name: string }) => x.name)
  );
  assert.equal(new Set(names).size, 20);
  assert.equal(tracer.stats().truncated, 0);
});

Deno.test("one entity too large on its own has metadata cut with a visible marker, counted", async () => {
  const { tracer, errors, flushed } = testTracer();
  const s = tracer.startSegment("huge", { sampled: true });
  s.addMetadata("blob", "é".repeat(1_000_000));
  s.annotate("kept", 1);
  s.end();
  const [doc] = await flushed();
  assert.deepEqual(doc.annotations, { kept: 1 });
  assert.deepEqual(doc.metadata["xray-edge"].truncated, ["metadata"]);
  assert.ok(doc.metadata["xray-edge"].originalBytes > 2_000_000);
  assert.equal(tracer.stats().truncated, 1);
  assert.ok(errors.some((e) => /64 KB/.test(e.error.message)));
});

Deno.test("validateDocument() agrees with the official schema on good and bad documents", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("ok", { sampled: true });
  s.capture("x", (sub) => sub.annotate("a", 1));
  s.end();
  const [doc] = await flushed();
  assert.deepEqual(validateDocument(doc), []);
  assert.deepEqual(validateDocument(JSON.stringify(doc)), []);
  const bad = {
    ...doc,
    id: "short",
    annotations: { "bad-key": 1 },
    end_time: undefined,
  };
  const problems = validateDocument(bad);
  assert.equal(problems.length, 3);
  assert.throws(() => assertValidDocument(bad));
});

Deno.test("utf8Length() counts UTF-8 bytes of ASCII, multi-byte, astral and lone surrogates", async () => {
  const { utf8Length } = await import("../src/_util.ts");
  assert.equal(utf8Length(""), 0);
  assert.equal(utf8Length("abc"), 3);
  assert.equal(utf8Length("é東😀"), 2 + 3 + 4);
  assert.equal(utf8Length("\ud800x"), 3 + 1);
  const long = "é".repeat(200_000);
  assert.equal(utf8Length(long), 400_000);
  assert.equal(utf8Length("a".repeat(70_000)), 70_000);
});

Deno.test("documents are the JSON.stringify form of what was recorded: escapes, non-ASCII, lone surrogates, every block", async () => {
  const { tracer, sender, flushed } = testTracer();
  // Every character class JSON escapes or passes: quotes, backslashes,
  // control characters, U+2028, non-ASCII, astral, lone surrogates.
  const pool = [
    '"',
    "\\",
    "\n",
    "\u0000",
    "\u001f",
    "\u2028",
    "é",
    "😀",
    "\ud800",
    "\udfff",
    "a",
    " ",
    "~",
    "\u007f",
  ];
  const random = (n: number) =>
    Array.from({ length: n }, (_, i) => pool[(i * 7 + n) % pool.length]).join(
      "",
    );
  for (let n = 0; n < 40; n++) {
    const text = random(n);
    const s = tracer.startSegment("tricky", { sampled: true });
    s.setHttpRequest({
      method: "GET",
      url: `https://h/${text}`,
      userAgent: text,
      clientIp: text,
    });
    s.setHttpResponse({ status: 200 + n, contentLength: n });
    s.annotate("text", text).annotate("number", n / 3).annotate(
      "flag",
      n % 2 === 0,
    );
    s.setUser(text).addMetadata("value", { text, list: [text, n] }, text);
    s.setAws({ note: text });
    s.capture("db", (sub) => {
      sub.setSql({ sanitizedQuery: `SELECT '${text}'`, user: text });
      sub.addError(new Error(text));
    });
    s.end();
  }
  const docs = await flushed();
  assert.equal(docs.length, 40);
  for (const [n, raw] of sender.raw.entries()) {
    // Byte for byte what JSON.stringify writes for the parsed document.
    assert.equal(raw, JSON.stringify(JSON.parse(raw)));
    const doc = docs[n];
    const text = random(n);
    assert.equal(doc.http.request.user_agent, text);
    assert.equal(doc.http.request.client_ip, text);
    assert.equal(doc.http.response.content_length, n);
    assert.deepEqual(doc.annotations, {
      text,
      number: n / 3,
      flag: n % 2 === 0,
    });
    assert.equal(doc.user, text);
    assert.deepEqual(doc.metadata[text].value, { text, list: [text, n] });
    assert.equal(doc.aws.note, text);
    assert.equal(doc.subsegments[0].sql.user, text);
    assert.equal(doc.subsegments[0].cause.exceptions[0].message, text);
  }
});
