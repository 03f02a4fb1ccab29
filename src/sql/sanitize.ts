// Query sanitizing and connection-string redaction: pure string functions,
// shared by every SQL driver wrapper.

/** Which SQL dialect a query is read in (how strings, quotes and comments work). */
export type SqlDialect = "postgres" | "mysql" | "sqlite";

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;

/** Where a quoted run starting at `start` (at `quote`) ends, exclusive. */
function quotedEnd(
  text: string,
  start: number,
  quote: string,
  backslash: boolean,
): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (backslash && c === "\\") {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return text.length; // Unterminated: the rest is the literal.
}

/**
 * Replaces every literal in a SQL text by `?`: strings (`'…'` with doubled
 * quotes, `E'…'` / MySQL backslash escapes, `B'…'`, `X'…'`, `N'…'`, `U&'…'`),
 * PostgreSQL dollar-quoted bodies (`$$…$$`, `$tag$…$tag$`), MySQL
 * double-quoted strings, and numbers (decimal, exponent, hex). Comments
 * (`-- …`, `# …` in MySQL, `/* … *\/`) are removed, since they can hold
 * anything. Identifiers, keywords, quoted identifiers and placeholders
 * (`$1`, `?`, `:name`, `@name`) are kept. An unterminated literal or comment
 * swallows the rest of the text, so nothing after it leaks.
 *
 * @param query The SQL text.
 * @param dialect How quotes and comments are read. @default "postgres"
 * @returns The query with literals replaced.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sanitizeSql } from "./sanitize.ts";
 * assert.equal(
 *   sanitizeSql("SELECT * FROM users WHERE name = 'O''Brien' AND age > 42 -- hi"),
 *   "SELECT * FROM users WHERE name = ? AND age > ?",
 * );
 * ```
 */
export function sanitizeSql(
  query: string,
  dialect: SqlDialect = "postgres",
): string {
  const text = String(query);
  const mysql = dialect === "mysql";
  let out = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    // Comments.
    if ((c === "-" && next === "-") || (mysql && c === "#")) {
      const end = text.indexOf("\n", i);
      i = end === -1 ? n : end;
      out += " ";
      continue;
    }
    if (c === "/" && next === "*") {
      // PostgreSQL nests block comments; the others end at the first `*/`.
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (text[j] === "*" && text[j + 1] === "/") {
          depth--;
          j += 2;
        } else if (
          dialect === "postgres" && text[j] === "/" && text[j + 1] === "*"
        ) {
          depth++;
          j += 2;
        } else j++;
      }
      i = j;
      out += " ";
      continue;
    }
    // Strings.
    if (c === "'") {
      i = quotedEnd(text, i, "'", mysql);
      out += "?";
      continue;
    }
    if (c === '"') {
      const end = quotedEnd(text, i, '"', mysql);
      // A MySQL string; an identifier elsewhere.
      out += mysql ? "?" : text.slice(i, end);
      i = end;
      continue;
    }
    if (c === "`" || (c === "[" && dialect === "sqlite")) {
      const close = c === "[" ? "]" : "`";
      const end = c === "["
        ? text.indexOf("]", i)
        : quotedEnd(text, i, "`", false);
      const stop = end === -1 ? n : (close === "]" ? end + 1 : end);
      out += text.slice(i, stop);
      i = stop;
      continue;
    }
    // Dollar quoting (PostgreSQL) and `$1` placeholders.
    if (c === "$" && dialect === "postgres") {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/
        .exec(text.slice(i, i + 70));
      if (m) {
        const tag = m[0];
        const end = text.indexOf(tag, i + tag.length);
        i = end === -1 ? n : end + tag.length;
        out += "?";
        continue;
      }
      const p = /^\$[0-9]+/.exec(text.slice(i, i + 12));
      if (p) {
        out += p[0];
        i += p[0].length;
        continue;
      }
    }
    // Identifiers, keywords and string prefixes (E'', B'', X'', N'', U&'').
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_PART.test(text[j])) j++;
      const word = text.slice(i, j);
      if (text[j] === "'" && /^(?:[ebxn]|_[a-z0-9]+)$/i.test(word)) {
        const backslash = mysql || word.toLowerCase() === "e";
        i = quotedEnd(text, j, "'", backslash);
        out += "?";
        continue;
      }
      if (/^u$/i.test(word) && text[j] === "&" && text[j + 1] === "'") {
        i = quotedEnd(text, j + 1, "'", false);
        // An optional UESCAPE 'x' clause follows; its literal goes too.
        out += "?";
        continue;
      }
      out += word;
      i = j;
      continue;
    }
    // Placeholders with names keep their name (`:id`, `@id`, `$id` in SQLite).
    if (
      (c === ":" || c === "@" || c === "$") && next && IDENT_START.test(next)
    ) {
      let j = i + 1;
      while (j < n && IDENT_PART.test(text[j])) j++;
      out += text.slice(i, j);
      i = j;
      continue;
    }
    // Numbers.
    if (DIGIT.test(c) || (c === "." && next && DIGIT.test(next))) {
      const m =
        /^(?:0[xX][0-9A-Fa-f_]+|0[bB][01_]+|0[oO][0-7_]+|(?:[0-9][0-9_]*)?\.?[0-9_]*(?:[eE][+-]?[0-9]+)?)/
          .exec(text.slice(i, i + 400));
      const length = m && m[0].length > 0 ? m[0].length : 1;
      let j = i + length;
      // A number glued to letters (`1abc`) is one token; it still goes.
      while (j < n && IDENT_PART.test(text[j])) j++;
      out += "?";
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out.replace(/[ \t]+\n/g, "\n").replace(/[ \t]{2,}/g, " ").trim();
}

/** Query parameters (and key/value keys) whose values are secrets. */
const SECRET_KEY =
  /pass|pwd|secret|token|auth|credential|api[-_]?key|private[-_]?key|sslkey/i;

function redactUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.password) url.password = "";
  const drop: string[] = [];
  for (const key of url.searchParams.keys()) {
    if (SECRET_KEY.test(key)) drop.push(key);
  }
  for (const key of drop) url.searchParams.delete(key);
  url.hash = "";
  let out = url.href;
  // Keep the scheme as written (`postgres:` URLs with an empty host part).
  if (!url.search) out = out.replace(/\?$/, "");
  return out;
}

/**
 * Removes passwords and other secrets from a database connection string of
 * any common form: URLs (`postgres://user:secret@host/db?password=x`,
 * `mysql://…`, `libsql://…?authToken=…`), libpq key/value strings
 * (`host=h password='s e' dbname=d`) and semicolon lists
 * (`Server=h;Password=s;Database=d`). Query parameters and keys that name
 * a password, token, secret, credential or key are dropped whole, and the
 * URL's fragment with them.
 *
 * @param connection The connection string.
 * @returns The same string without secrets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactConnectionString } from "./sanitize.ts";
 * assert.equal(
 *   redactConnectionString("postgres://app:s3cret@db.internal:5432/shop?password=x&sslmode=require"),
 *   "postgres://app@db.internal:5432/shop?sslmode=require",
 * );
 * ```
 */
export function redactConnectionString(connection: string): string {
  const text = String(connection).trim();
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) {
    const url = redactUrl(text);
    if (url !== undefined) return url;
    // Not parseable as a URL (several hosts, odd characters): cut the
    // userinfo's password and any secret parameter by hand.
    return text
      .replace(/^([^:]+:\/\/[^:@/]*):[^@]*@/, "$1@")
      .replace(/#.*$/, "")
      .replace(
        /([?&])([^=&]*)=[^&]*/g,
        (all, sep: string, key: string) => SECRET_KEY.test(key) ? sep : all,
      )
      .replace(/&{2,}/g, "&").replace(/\?&/, "?").replace(/[?&]$/, "");
  }
  if (text.includes(";")) {
    return text.split(";").filter((part) => {
      const key = part.split("=")[0] ?? "";
      return !(part.includes("=") && SECRET_KEY.test(key));
    }).join(";");
  }
  if (text.includes("=")) {
    // libpq key/value: values are bare words or single-quoted with `\'` escapes.
    const pairs = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'?|\S*)/g;
    const kept: string[] = [];
    for (const m of text.matchAll(pairs)) {
      if (!SECRET_KEY.test(m[1])) kept.push(`${m[1]}=${m[2]}`);
    }
    return kept.join(" ");
  }
  return text;
}
