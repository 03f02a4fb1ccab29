/**
 * Stack text from V8 (Deno, Node, Workers), JavaScriptCore (Bun) and
 * SpiderMonkey into X-Ray stack frames.
 *
 * @module
 */

/** One X-Ray stack frame. */
export interface StackFrame {
  /** The file or URL. */
  path: string;
  /** The 1-based line number, when known. */
  line?: number;
  /** The function label, when known. */
  label?: string;
}

// "path:line:col" or "path:line" at the end of a location.
function splitLocation(location: string): StackFrame | undefined {
  let loc = location.trim();
  if (loc.length === 0) return undefined;
  const last = loc.lastIndexOf(":");
  if (last === -1) return { path: loc };
  const tail = loc.slice(last + 1);
  if (!/^\d+$/.test(tail)) return { path: loc };
  const before = loc.lastIndexOf(":", last - 1);
  const mid = before === -1 ? "" : loc.slice(before + 1, last);
  if (before !== -1 && /^\d+$/.test(mid)) {
    return { path: loc.slice(0, before), line: Number(mid) };
  }
  loc = loc.slice(0, last);
  return { path: loc, line: Number(tail) };
}

function parseV8Line(text: string): StackFrame | undefined {
  // "at label (location)" or "at location"; "async"/"new" kept in the label.
  let rest = text.slice(3).trim();
  let label: string | undefined;
  if (rest.endsWith(")")) {
    const open = rest.indexOf(" (");
    if (open !== -1) {
      label = rest.slice(0, open).trim();
      rest = rest.slice(open + 2, -1);
    }
  } else if (rest.startsWith("async ")) {
    rest = rest.slice(6);
  }
  // Nested eval locations: "eval at x (file:1:2), <anonymous>:1:1" → the outer file.
  const evalAt = rest.indexOf("eval at ");
  if (evalAt !== -1) {
    const open = rest.indexOf("(", evalAt);
    const close = rest.indexOf(")", open);
    if (open !== -1 && close !== -1) rest = rest.slice(open + 1, close);
  }
  const frame = splitLocation(rest);
  if (!frame) return undefined;
  if (label) frame.label = label;
  return frame;
}

function parseAtSignLine(text: string): StackFrame | undefined {
  const at = text.lastIndexOf("@");
  const label = text.slice(0, at).trim();
  const frame = splitLocation(text.slice(at + 1));
  if (!frame) return label ? { path: "[native code]", label } : undefined;
  if (label) frame.label = label;
  return frame;
}

/**
 * Parses stack text into at most `maxFrames` frames. Lines it does not
 * recognise (the message, blank lines) are skipped.
 *
 * @param stack An `Error.stack` string.
 * @param maxFrames The most frames returned.
 * @returns The frames, innermost first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStack } from "./stack.ts";
 * const frames = parseStack("Error: x\n    at handler (file:///app/main.ts:10:5)", 10);
 * assert.deepEqual(frames, [{ path: "file:///app/main.ts", line: 10, label: "handler" }]);
 * ```
 */
export function parseStack(stack: string, maxFrames: number): StackFrame[] {
  const frames: StackFrame[] = [];
  if (typeof stack !== "string" || maxFrames <= 0) return frames;
  let start = 0;
  while (start < stack.length && frames.length < maxFrames) {
    let end = stack.indexOf("\n", start);
    if (end === -1) end = stack.length;
    const line = stack.slice(start, end).trim();
    start = end + 1;
    let frame: StackFrame | undefined;
    if (line.startsWith("at ")) frame = parseV8Line(line);
    else if (line.includes("@") && /:\d+(:\d+)?$|\[native code\]$/.test(line)) {
      frame = parseAtSignLine(line);
    } else if (line === "[native code]") frame = { path: "[native code]" };
    if (frame) frames.push(frame);
  }
  return frames;
}
