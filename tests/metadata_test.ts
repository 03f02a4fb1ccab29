import assert from "node:assert/strict";
import { CIRCULAR, toJsonSafe } from "../src/metadata.ts";

Deno.test("toJsonSafe() cuts cycles but keeps shared references", () => {
  const shared = { v: 1 };
  const a: Record<string, unknown> = { x: shared, y: shared };
  a.self = a;
  assert.deepEqual(toJsonSafe(a), { x: { v: 1 }, y: { v: 1 }, self: CIRCULAR });
});

Deno.test("toJsonSafe() converts BigInt, Dates, Maps, Sets, typed arrays and errors", () => {
  const out = toJsonSafe({
    big: 12n,
    date: new Date(0),
    bad: new Date(NaN),
    map: new Map<unknown, unknown>([["a", 1], [2, "b"]]),
    set: new Set([1, 2]),
    bytes: new Uint8Array([1, 2]),
    bigs: new BigInt64Array([3n]),
    buffer: new ArrayBuffer(4),
    error: new TypeError("nope"),
    nan: NaN,
    inf: -Infinity,
  });
  assert.deepEqual(out, {
    big: "12",
    date: "1970-01-01T00:00:00.000Z",
    bad: null,
    map: { a: 1, "2": "b" },
    set: [1, 2],
    bytes: [1, 2],
    bigs: ["3"],
    buffer: { byteLength: 4 },
    error: { name: "TypeError", message: "nope" },
    nan: "NaN",
    inf: "-Infinity",
  });
});

Deno.test("toJsonSafe() drops functions and symbols, nulls them in arrays", () => {
  assert.deepEqual(
    toJsonSafe({ f: () => 1, s: Symbol("x"), u: undefined, a: [() => 1] }),
    {
      a: [null],
    },
  );
  assert.equal(toJsonSafe(() => 1), undefined);
});

Deno.test("toJsonSafe() keeps __proto__ keys as data without touching prototypes", () => {
  const input = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
  const out = toJsonSafe(input) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":true},"ok":1}');
});

Deno.test("toJsonSafe() survives throwing getters and toJSON", () => {
  const obj = {
    get boom(): never {
      throw new Error("getter");
    },
    nested: {
      toJSON: () => {
        throw new Error("toJSON");
      },
    },
  };
  assert.deepEqual(toJsonSafe(obj), {
    boom: "[Unreadable]",
    nested: "[Unserializable]",
  });
});

Deno.test("toJsonSafe() limits depth", () => {
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < 100; i++) {
    deep = (deep.next = {}) as Record<string, unknown>;
  }
  const text = JSON.stringify(toJsonSafe(root));
  assert.match(text, /Too deep/);
});
