import assert from "node:assert/strict";
import { parseStack } from "../src/stack.ts";

// Captured from real runtimes on this project's machines.
const NODE_V8 =
  "TypeError: boom\n    at inner (/tmp/st.js:1:26)\n    at K.method (/tmp/st.js:2:22)\n    at outer (/tmp/st.js:3:46)";
const DENO_V8 =
  "Error: x\n    at f (file:///tmp/st2.mjs:1:25)\n    at file:///tmp/st2.mjs:2:80\n    at Array.map (<anonymous>)\n    at a (file:///tmp/st2.mjs:2:70)";
const DENO_EVAL =
  "RangeError: ev\n    at eval (eval at <anonymous> (file:///tmp/st2.mjs:5:7), <anonymous>:1:7)\n    at file:///tmp/st2.mjs:5:7";
const NODE_INTERNAL =
  "SyntaxError: Expected property name or '}' in JSON at position 1\n    at JSON.parse (<anonymous>)\n    at Object.<anonymous> (/tmp/st2.js:4:12)\n    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12)\n    at node:internal/main/run_main_module:28:49";
const BUN =
  "Error: x\n    at f (/tmp/st2.js:1:29)\n    at map (native:1:11)\n    at a (/tmp/st2.js:2:70)";
const BUN_PARSE =
  "SyntaxError: JSON Parse error: Expected '}'\n    at <parse> (:0)\n    at parse (unknown)\n    at /tmp/st2.js:4:12";
// SpiderMonkey / classic JavaScriptCore "label@location" form.
const SPIDERMONKEY =
  "inner@https://app.example/main.js:1:26\nK.prototype.method@https://app.example/main.js:2:22\n@https://app.example/main.js:3:46\n[native code]";

Deno.test("parseStack() reads V8 frames from Node", () => {
  assert.deepEqual(parseStack(NODE_V8, 10), [
    { path: "/tmp/st.js", line: 1, label: "inner" },
    { path: "/tmp/st.js", line: 2, label: "K.method" },
    { path: "/tmp/st.js", line: 3, label: "outer" },
  ]);
});

Deno.test("parseStack() reads V8 frames from Deno, anonymous and native ones too", () => {
  assert.deepEqual(parseStack(DENO_V8, 10), [
    { path: "file:///tmp/st2.mjs", line: 1, label: "f" },
    { path: "file:///tmp/st2.mjs", line: 2 },
    { path: "<anonymous>", label: "Array.map" },
    { path: "file:///tmp/st2.mjs", line: 2, label: "a" },
  ]);
});

Deno.test("parseStack() points eval frames at the file that called eval", () => {
  assert.deepEqual(parseStack(DENO_EVAL, 10)[0], {
    path: "file:///tmp/st2.mjs",
    line: 5,
    label: "eval",
  });
});

Deno.test("parseStack() keeps labels with aliases and internal paths", () => {
  const frames = parseStack(NODE_INTERNAL, 10);
  assert.equal(frames.length, 4);
  assert.deepEqual(frames[2], {
    path: "node:internal/modules/run_main",
    line: 164,
    label: "Function.executeUserEntryPoint [as runMain]",
  });
  assert.deepEqual(frames[3], {
    path: "node:internal/main/run_main_module",
    line: 28,
  });
});

Deno.test("parseStack() reads JavaScriptCore frames from Bun", () => {
  assert.deepEqual(parseStack(BUN, 10), [
    { path: "/tmp/st2.js", line: 1, label: "f" },
    { path: "native", line: 1, label: "map" },
    { path: "/tmp/st2.js", line: 2, label: "a" },
  ]);
  const parse = parseStack(BUN_PARSE, 10);
  assert.equal(parse.length, 3);
  assert.deepEqual(parse[2], { path: "/tmp/st2.js", line: 4 });
});

Deno.test("parseStack() reads SpiderMonkey label@location frames", () => {
  assert.deepEqual(parseStack(SPIDERMONKEY, 10), [
    { path: "https://app.example/main.js", line: 1, label: "inner" },
    {
      path: "https://app.example/main.js",
      line: 2,
      label: "K.prototype.method",
    },
    { path: "https://app.example/main.js", line: 3 },
    { path: "[native code]" },
  ]);
});

Deno.test("parseStack() stops at maxFrames and survives junk", () => {
  assert.equal(parseStack(NODE_V8, 2).length, 2);
  assert.deepEqual(parseStack(NODE_V8, 0), []);
  assert.deepEqual(parseStack("", 10), []);
  assert.deepEqual(parseStack("just a message\nno frames here", 10), []);
  // deno-lint-ignore no-explicit-any
  assert.deepEqual(parseStack(undefined as any, 10), []);
});

Deno.test("parseStack() reads the stack of an error thrown here", () => {
  const frames = parseStack(new Error("here").stack!, 10);
  assert.ok(frames.length > 0);
  assert.match(frames[0].path, /stack_test/);
  assert.equal(typeof frames[0].line, "number");
});
