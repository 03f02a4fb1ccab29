// matrix: deno,node,bun,deno-npm — container/IMDS servers on node:http (tests/_server.ts); workerd has no servers
// Credential providers against real HTTP servers on 127.0.0.1 that play the
// ECS/EKS container endpoint and EC2 IMDSv2.
import assert from "node:assert/strict";
import {
  cachedCredentials,
  credentialChain,
  CredentialsError,
  defaultCredentials,
  fromContainer,
  fromEnv,
  fromInstanceMetadata,
  regionFromEnv,
  staticCredentials,
} from "../mod.ts";
import { freePort, serve } from "./_server.ts";

const KEY = "ASIACONTAINERKEY0001";
const SECRET = "container/secret/value+0001";
const TOKEN = "containerSessionTokenValue0001";

function credentialsBody(expiresAt: number, n = 1): string {
  return JSON.stringify({
    AccessKeyId: `${KEY}-${n}`,
    SecretAccessKey: SECRET,
    Token: TOKEN,
    Expiration: new Date(expiresAt).toISOString(),
  });
}

Deno.test("fromEnv() reads keys and the session token when asked", async () => {
  const env: Record<string, string> = {};
  const provider = fromEnv(env);
  await assert.rejects(provider(), CredentialsError);
  env.AWS_ACCESS_KEY_ID = "AKID";
  env.AWS_SECRET_ACCESS_KEY = "secret";
  env.AWS_SESSION_TOKEN = "token";
  assert.deepEqual(await provider(), {
    accessKeyId: "AKID",
    secretAccessKey: "secret",
    sessionToken: "token",
  });
});

Deno.test("regionFromEnv() prefers AWS_REGION over AWS_DEFAULT_REGION", () => {
  assert.equal(
    regionFromEnv({ AWS_REGION: "us-west-2", AWS_DEFAULT_REGION: "eu-west-1" }),
    "us-west-2",
  );
  assert.equal(regionFromEnv({}), undefined);
});

Deno.test("staticCredentials() rejects missing keys without echoing them", () => {
  assert.throws(
    () => staticCredentials({ accessKeyId: "AKID", secretAccessKey: "" }),
    (e: Error) => e instanceof TypeError && !e.message.includes("AKID"),
  );
});

Deno.test("fromContainer() fetches ECS credentials with the authorization token and caches them", async () => {
  let calls = 0;
  const seen: (string | null)[] = [];
  let now = Date.UTC(2026, 0, 1);
  const server = await serve((request) => {
    calls++;
    seen.push(request.headers.get("authorization"));
    assert.equal(new URL(request.url).pathname, "/v2/credentials/abc");
    return new Response(credentialsBody(now + 3_600_000, calls));
  });
  const provider = fromContainer({
    env: {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${server.url}/v2/credentials/abc`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: "auth-token-1",
    },
    clock: { now: () => now },
  });
  const [a, b] = await Promise.all([provider(), provider()]);
  assert.equal(calls, 1); // concurrent callers share one lookup
  assert.deepEqual(a, b);
  assert.equal(a.accessKeyId, `${KEY}-1`);
  assert.equal(a.sessionToken, TOKEN);
  assert.equal(a.expiration, now + 3_600_000);
  assert.deepEqual(seen, ["auth-token-1"]);
  now += 50 * 60_000; // 10 minutes before expiry: still cached
  assert.equal((await provider()).accessKeyId, `${KEY}-1`);
  now += 6 * 60_000; // inside the 5-minute refresh window
  assert.equal((await provider()).accessKeyId, `${KEY}-2`);
  assert.equal(calls, 2);
  assert.equal(
    (await provider({ forceRefresh: true })).accessKeyId,
    `${KEY}-3`,
  );
  await server.close();
});

Deno.test("fromContainer() reads the EKS Pod Identity token file", async () => {
  const server = await serve((request) =>
    new Response(
      request.headers.get("authorization") === "file-token"
        ? credentialsBody(Date.now() + 3_600_000)
        : "{}",
      {
        status: request.headers.get("authorization") === "file-token"
          ? 200
          : 401,
      },
    )
  );
  const files: string[] = [];
  const provider = fromContainer({
    env: {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${server.url}/v1/credentials`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/token",
    },
    readTextFile: (path) => {
      files.push(path);
      return Promise.resolve("file-token\n");
    },
  });
  assert.equal((await provider()).secretAccessKey, SECRET);
  assert.deepEqual(files, ["/var/run/token"]);
  await server.close();
});

Deno.test("fromContainer() refuses plain HTTP to a non-local host and keeps tokens out of errors", async () => {
  await assert.rejects(
    fromContainer({
      env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://example.com/creds" },
    })(),
    /plain HTTP is only allowed/,
  );
  const server = await serve(() =>
    new Response(`denied ${SECRET}`, { status: 403 })
  );
  const error = await fromContainer({
    env: {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${server.url}/creds`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: "secret-auth-token",
    },
  })().catch((e) => e);
  await server.close();
  assert.ok(error instanceof CredentialsError);
  assert.match(error.message, /HTTP 403/);
  assert.equal(error.message.includes("secret-auth-token"), false);
  assert.equal(error.message.includes(SECRET), false);
});

Deno.test("fromInstanceMetadata() follows IMDSv2: token, role, credentials", async () => {
  const log: string[] = [];
  const server = await serve((request) => {
    const path = new URL(request.url).pathname;
    log.push(`${request.method} ${path}`);
    if (path === "/latest/api/token") {
      assert.equal(request.method, "PUT");
      assert.equal(
        request.headers.get("x-aws-ec2-metadata-token-ttl-seconds"),
        "21600",
      );
      return new Response("imds-session-token");
    }
    if (
      request.headers.get("x-aws-ec2-metadata-token") !== "imds-session-token"
    ) {
      return new Response("", { status: 401 });
    }
    if (path === "/latest/meta-data/iam/security-credentials/") {
      return new Response("web-role\n");
    }
    if (path === "/latest/meta-data/iam/security-credentials/web-role") {
      return new Response(credentialsBody(Date.now() + 3_600_000));
    }
    return new Response("", { status: 404 });
  });
  const provider = fromInstanceMetadata({ endpoint: server.url });
  const credentials = await provider();
  await provider(); // cached
  await server.close();
  assert.equal(credentials.accessKeyId, `${KEY}-1`);
  assert.equal(credentials.sessionToken, TOKEN);
  assert.deepEqual(log, [
    "PUT /latest/api/token",
    "GET /latest/meta-data/iam/security-credentials/",
    "GET /latest/meta-data/iam/security-credentials/web-role",
  ]);
});

Deno.test("fromInstanceMetadata() fails with a CredentialsError when nothing answers", async () => {
  const port = await freePort();
  await assert.rejects(
    fromInstanceMetadata({
      endpoint: `http://127.0.0.1:${port}`,
      timeoutMs: 500,
    })(),
    (e: Error) =>
      e instanceof CredentialsError && /did not answer/.test(e.message),
  );
});

Deno.test("cachedCredentials() keeps still-valid credentials when a refresh fails", async () => {
  let now = 0;
  let fail = false;
  const provider = cachedCredentials(
    () =>
      fail ? Promise.reject(new CredentialsError("down")) : Promise.resolve({
        accessKeyId: "A",
        secretAccessKey: "S",
        expiration: 10 * 60_000,
      }),
    { clock: { now: () => now } },
  );
  await provider();
  fail = true;
  now = 6 * 60_000; // in the refresh window, not yet expired
  assert.equal((await provider()).accessKeyId, "A");
  now = 11 * 60_000; // expired: the failure surfaces
  await assert.rejects(provider(), /down/);
});

Deno.test("credentialChain() takes the first provider that works and names every failure otherwise", async () => {
  const chain = credentialChain([
    fromEnv({}),
    staticCredentials({ accessKeyId: "B", secretAccessKey: "S" }),
  ]);
  assert.equal((await chain()).accessKeyId, "B");
  const none = credentialChain([
    fromEnv({}),
    fromInstanceMetadata({ env: { AWS_EC2_METADATA_DISABLED: "true" } }),
  ]);
  await assert.rejects(
    none(),
    /AWS_ACCESS_KEY_ID.*; .*AWS_EC2_METADATA_DISABLED/,
  );
  assert.throws(() => credentialChain([]), RangeError);
});

Deno.test("defaultCredentials() goes env, then container, then IMDS", async () => {
  const server = await serve(() =>
    new Response(credentialsBody(Date.now() + 3_600_000))
  );
  const provider = defaultCredentials({
    env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: `${server.url}/creds` },
    imdsEndpoint: "http://127.0.0.1:9",
  });
  assert.equal((await provider()).accessKeyId, `${KEY}-1`);
  await server.close();
  const fromKeys = defaultCredentials({
    env: { AWS_ACCESS_KEY_ID: "ENVKEY", AWS_SECRET_ACCESS_KEY: "S" },
  });
  assert.equal((await fromKeys()).accessKeyId, "ENVKEY");
});
