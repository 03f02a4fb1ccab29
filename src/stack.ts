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
// "label (location)": the label ends at the first " (".
const LABELLED = /^([^]*?) \(([^]*)\)$/;
// Nested eval locations: "eval at x (file:1:2), <anonymous>:1:1" → the outer file.
const EVAL_AT = /eval at [^(]*\(([^)]*)\)/;
const ASYNC = /^async /;
// SpiderMonkey / JavaScriptCore "label@location".
const AT_SIGN = /@[^]*(:\d+|\[native code\])$/;

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
    if (line.startsWith("at ")) {
      // "at label (location)" or "at location"; "async"/"new" kept in the label.
      location = line.slice(3).trim();
      const labelled = LABELLED.exec(location);
      if (labelled) [, label, location] = labelled;
      else if (!location.endsWith(")")) {
        location = location.replace(ASYNC, "");
      }
      location = EVAL_AT.exec(location)?.[1] ?? location;
    } else if (AT_SIGN.test(line)) {
      const at = line.lastIndexOf("@");
      label = line.slice(0, at);
      location = line.slice(at + 1);
    } else if (line === "[native code]") location = line;
    const m = location?.trim();
    if (m) {
      const parts = LOCATION.exec(m);
      const frame: StackFrame = parts
        ? { path: parts[1], line: +(parts[2] ?? parts[3]) }
        : { path: m };
      label = label?.trim();
      if (label) frame.label = label;
      frames.push(frame);
    }
  }
  return frames;
}
