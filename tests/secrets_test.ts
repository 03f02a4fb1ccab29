// matrix: deno,node,bun,deno-npm — the X-Ray endpoint is a node:http server (tests/_server.ts); workerd has no servers
// No part of a secret reaches a report: the X-Ray API sender redacts the
// credentials in a failure's detail before it cuts it, and secrets in a
// CredentialsError a custom provider throws are redacted too. Each secret is
// placed at every offset across the cuts, and the report is checked where a
// user sees it: console.warn (the default onError), onError's message and the
// error's cause.
import assert from "node:assert/strict";
import {
  createTracer,
  CredentialsError,
  type CredentialsSource,
  type Tracer,
  xrayApiSender,
} from "../mod.ts";
import { serve } from "./_server.ts";

const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1";
const SESSION_TOKEN =
  "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexampleSessionToken+abc=";
const CREDENTIALS = {
  accessKeyId: "AKIDSECRETIDEXAMPLE1",
  secretAccessKey: SECRET_KEY,
  sessionToken: SESSION_TOKEN,
};
// Longer than any message: every cut is crossed.
const OFFSETS = 560;

/** The first 8-character piece of `secret` found in `text`, if any. */
function leak(text: string, secret: string): string | undefined {
  for (let i = 0; i + 8 <= secret.length; i++) {
    const piece = secret.slice(i, i + 8);
    if (text.includes(piece)) return piece;
  }
}

function assertNoLeak(texts: string[], what: string): void {
  for (const text of texts) {
    for (const secret of [SECRET_KEY, SESSION_TOKEN]) {
      const piece = leak(text, secret);
      assert.equal(piece, undefined, `${what}: '${piece}' leaked in ${text}`);
    }
  }
}

/**
 * Runs `each(offset)` (which sets up what the failure will say) and one
 * traced request per offset, through a tracer reporting with the default
 * onError (console.warn) and one with its own; returns every report text.
 */
async function reports(
  credentials: CredentialsSource,
  endpoint: string,
  each: (offset: number) => void,
): Promise<string[]> {
  const texts: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => texts.push(args.join(" "));
  try {
    const tracers: Tracer[] = [false, true].map((own) =>
      createTracer({
        serviceName: "secrets",
        env: false,
        batch: { maxRetries: 0 },
        sender: xrayApiSender({ region: "us-east-1", credentials, endpoint }),
        ...own && {
          onError: (error: Error) => {
            texts.push(error.message);
            const cause = (error as { cause?: Error }).cause;
            assert.ok(cause instanceof Error, "the failure is the cause");
            texts.push(cause.message, String(cause));
          },
        },
      })
    );
    for (let offset = 0; offset < OFFSETS; offset++) {
      each(offset);
      for (const tracer of tracers) {
        tracer.startSegment("s", { sampled: true }).end();
        const { dropped } = await tracer.flush();
        assert.equal(dropped, 1);
      }
    }
  } finally {
    console.warn = warn;
  }
  return texts;
}

Deno.test("an endpoint's 400 echoing a secret at any offset across the cut leaks no part of it", async () => {
  let body = "";
  const server = await serve(() =>
    new Response(body, {
      status: 400,
      headers: { "content-type": "application/x-amz-json-1.1" },
    })
  );
  try {
    for (const secret of [SECRET_KEY, SESSION_TOKEN]) {
      const texts = await reports(CREDENTIALS, server.url, (offset) => {
        body = JSON.stringify({
          __type: "AccessDeniedException",
          message: "p".repeat(offset) + secret + " is not allowed",
        });
      });
      // Both tracers reported every offset (the custom one 3 texts each).
      assert.equal(texts.length, OFFSETS * 4);
      assert.match(texts.at(-1)!, /AccessDeniedException: ppp/);
      assert.match(texts.join("\n"), /\[redacted\]/);
      assertNoLeak(texts, "HTTP 400");
    }
  } finally {
    await server.close();
  }
});

Deno.test("a CredentialsError from a custom provider is reported without the secrets it holds", async () => {
  let message = "";
  const provider = () => Promise.reject(new CredentialsError(message));
  const texts = await reports(provider, "http://127.0.0.1:9", (offset) => {
    message = `STS refused key ${" ".repeat(offset)}${SECRET_KEY} with ${
      "-".repeat(offset)
    }${SESSION_TOKEN}`;
  });
  assert.equal(texts.length, OFFSETS * 4);
  assert.match(texts.at(-1)!, /STS refused key/);
  assertNoLeak(texts, "CredentialsError");
});
