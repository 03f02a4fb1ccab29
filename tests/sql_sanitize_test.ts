import assert from "node:assert/strict";
import { redactConnectionString, sanitizeSql } from "../src/sql/sanitize.ts";

const SECRET = "hunter2";

function assertNoSecret(text: string): void {
  assert.ok(!text.includes(SECRET), `secret leaked in: ${text}`);
}

Deno.test("sanitizeSql() replaces strings and numbers, keeps structure", () => {
  assert.equal(
    sanitizeSql("SELECT id, name FROM users WHERE age >= 21 AND name = 'bob'"),
    "SELECT id, name FROM users WHERE age >= ? AND name = ?",
  );
  assert.equal(
    sanitizeSql("INSERT INTO t (a, b) VALUES (1.5e3, -0x1F), ($1, $2)"),
    "INSERT INTO t (a, b) VALUES (?, -?), ($1, $2)",
  );
  assert.equal(
    sanitizeSql('SELECT "weird ""col""", t1.c2 FROM "T" t1 WHERE x = ?'),
    'SELECT "weird ""col""", t1.c2 FROM "T" t1 WHERE x = ?',
  );
  assert.equal(
    sanitizeSql("SELECT * FROM t WHERE a = :a AND b = @b", "sqlite"),
    "SELECT * FROM t WHERE a = :a AND b = @b",
  );
});

Deno.test("sanitizeSql() handles doubled quotes and quote-breaking tricks", () => {
  const q =
    `SELECT * FROM u WHERE n = 'it''s ${SECRET}' OR n = '''${SECRET}'''`;
  const out = sanitizeSql(q);
  assertNoSecret(out);
  assert.equal(out, "SELECT * FROM u WHERE n = ? OR n = ?");
});

Deno.test("sanitizeSql() reads E'' escapes with backslashes in PostgreSQL only", () => {
  // In PostgreSQL 'a\' is a whole string; E'a\'' escapes the quote.
  const q = `SELECT E'a\\' ${SECRET} \\\\', e'${SECRET}', 'plain\\' AS x`;
  const out = sanitizeSql(q);
  assertNoSecret(out);
  assert.equal(out, "SELECT ?, ?, ? AS x");
  // Prefixed strings: bit, hex, national, Unicode.
  assert.equal(
    sanitizeSql(`SELECT B'1010', X'ff', N'${SECRET}', U&'d\\0061t${SECRET}'`),
    "SELECT ?, ?, ?, ?",
  );
});

Deno.test("sanitizeSql() replaces dollar-quoted bodies, keeps $1 placeholders", () => {
  const q = `SELECT $$ it's ${SECRET} $$, $fn$ 'x' $$ ${SECRET} $fn$, $1, $12`;
  const out = sanitizeSql(q);
  assertNoSecret(out);
  assert.equal(out, "SELECT ?, ?, $1, $12");
  // Unterminated: the rest goes.
  assert.equal(sanitizeSql(`SELECT $tag$ ${SECRET}`), "SELECT ?");
});

Deno.test("sanitizeSql() drops comments, including quotes inside them", () => {
  const q =
    `SELECT 1 -- it's ${SECRET}\nFROM t /* '${SECRET} /* nested */ ${SECRET} */ WHERE a = 'x'`;
  const out = sanitizeSql(q);
  assertNoSecret(out);
  assert.equal(out, "SELECT ?\nFROM t WHERE a = ?");
  // MySQL: `#` comments, non-nesting block comments.
  assert.equal(
    sanitizeSql(`SELECT 1 # ${SECRET}\nFROM t`, "mysql"),
    "SELECT ?\nFROM t",
  );
  assert.equal(sanitizeSql(`SELECT '${SECRET}`), "SELECT ?");
  assert.equal(sanitizeSql(`SELECT 1 /* ${SECRET}`), "SELECT ?");
});

Deno.test("sanitizeSql() reads MySQL backslash escapes and double-quoted strings", () => {
  const q =
    `SELECT * FROM \`t\` WHERE a = 'x\\' OR 1=1 ${SECRET}' AND b = "${SECRET}\\"" AND c = _utf8'${SECRET}'`;
  const out = sanitizeSql(q, "mysql");
  assertNoSecret(out);
  assert.equal(out, "SELECT * FROM `t` WHERE a = ? AND b = ? AND c = ?");
});

Deno.test("sanitizeSql() keeps SQLite bracket identifiers and leaves no digits of literals", () => {
  assert.equal(
    sanitizeSql(
      "SELECT [my col] FROM t WHERE id IN (1, 2, 3e-2, .5)",
      "sqlite",
    ),
    "SELECT [my col] FROM t WHERE id IN (?, ?, ?, ?)",
  );
});

Deno.test("redactConnectionString() strips passwords from URLs of every scheme", () => {
  const cases: [string, string][] = [
    [
      `postgres://app:${SECRET}@db:5432/shop`,
      "postgres://app@db:5432/shop",
    ],
    [
      `postgresql://app@db/shop?password=${SECRET}&sslmode=require`,
      "postgresql://app@db/shop?sslmode=require",
    ],
    [
      `mysql://root:${SECRET}@127.0.0.1:3306/x?sslpassword=${SECRET}&PWD=${SECRET}`,
      "mysql://root@127.0.0.1:3306/x",
    ],
    [
      `libsql://db.example.turso.io?authToken=${SECRET}`,
      "libsql://db.example.turso.io",
    ],
    [
      `postgres://app:${SECRET}@h1:5432,h2:5433/shop?password=${SECRET}&application_name=a`,
      "postgres://app@h1:5432,h2:5433/shop?application_name=a",
    ],
    [
      `postgres://u:${SECRET}@/shop?host=/run/sock`,
      "postgres://u@/shop?host=/run/sock",
    ],
  ];
  for (const [input, expected] of cases) {
    const out = redactConnectionString(input);
    assertNoSecret(out);
    assert.equal(out, expected, input);
  }
});

Deno.test("redactConnectionString() strips passwords from key/value forms", () => {
  const libpq = redactConnectionString(
    `host=db port=5432 password='a \\' ${SECRET}' dbname=shop user=app`,
  );
  assertNoSecret(libpq);
  assert.equal(libpq, "host=db port=5432 dbname=shop user=app");
  assert.equal(
    redactConnectionString(`host=db password=${SECRET}`),
    "host=db",
  );
  const ado = redactConnectionString(
    `Server=db;Database=shop;User Id=app;Password=${SECRET};Pwd=${SECRET}`,
  );
  assertNoSecret(ado);
  assert.equal(ado, "Server=db;Database=shop;User Id=app");
  assert.equal(redactConnectionString("/tmp/app.db"), "/tmp/app.db");
});
