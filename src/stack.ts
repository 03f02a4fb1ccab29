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

// "path:line:col" or "path:line" at the end of a location: the path is the
// shortest prefix the line (and column) can follow.
const LOCATION = /^([^]*?)(?::(\d+))?:(\d+)$/;
// V8: "at label (location)" (the label ends at the first " ("; "async"/"new"
// stay in it), "at async location" or "at location".
const V8 = /^at \s*(?:([^]*?) \(([^]*)\)|async ([^]*[^)])|([^]*))$/;
// Nested eval locations: "eval at x (file:1:2), <anonymous>:1:1" → the outer file.
const EVAL_AT = /eval at [^(]*\(([^)]*)\)/;
// SpiderMonkey / JavaScriptCore: "label@location" (the last "@").
const AT_SIGN = /^([^]*)@([^]*(?::\d+|\[native code\]))$/;

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
  for (let line of (typeof stack === "string" ? stack : "").split("\n")) {
    if (frames.length >= maxFrames) break;
    line = line.trim();
    let label: string | undefined;
    let location: string | undefined;
    let m = V8.exec(line);
    if (m) {
      label = m[1];
      location = m[2] ?? m[3] ?? m[4];
      location = EVAL_AT.exec(location)?.[1] ?? location;
    } else if ((m = AT_SIGN.exec(line))) [, label, location] = m;
    else if (line === "[native code]") location = line;
    location = location?.trim();
    if (location) {
      m = LOCATION.exec(location);
      const frame: StackFrame = m
        ? { path: m[1], line: +(m[2] ?? m[3]) }
        : { path: location };
      label = label?.trim();
      if (label) frame.label = label;
      frames.push(frame);
    }
  }
  return frames;
}
