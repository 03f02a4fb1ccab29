import assert from "node:assert/strict";
import { configFromEnv, parseDaemonAddress } from "../mod.ts";

Deno.test("parseDaemonAddress() reads host:port for both protocols", () => {
  assert.deepEqual(parseDaemonAddress("127.0.0.1:2000"), {
    udp: { host: "127.0.0.1", port: 2000 },
    tcp: { host: "127.0.0.1", port: 2000 },
  });
  assert.deepEqual(parseDaemonAddress("xray-daemon.local:3000").tcp, {
    host: "xray-daemon.local",
    port: 3000,
  });
});

Deno.test("parseDaemonAddress() reads bracketed IPv6", () => {
  assert.deepEqual(parseDaemonAddress("[::1]:2000").udp, {
    host: "::1",
    port: 2000,
  });
});

Deno.test("parseDaemonAddress() reads tcp: and udp: parts in either order", () => {
  const want = {
    tcp: { host: "10.0.0.1", port: 2000 },
    udp: { host: "10.0.0.2", port: 2001 },
  };
  assert.deepEqual(
    parseDaemonAddress("tcp:10.0.0.1:2000 udp:10.0.0.2:2001"),
    want,
  );
  assert.deepEqual(
    parseDaemonAddress("udp:10.0.0.2:2001   tcp:10.0.0.1:2000"),
    want,
  );
  assert.deepEqual(parseDaemonAddress("TCP:[::1]:1 UDP:[::2]:2").tcp, {
    host: "::1",
    port: 1,
  });
});

Deno.test("parseDaemonAddress() rejects every malformed form with a RangeError naming it", () => {
  for (
    const bad of [
      "",
      "localhost",
      "localhost:",
      ":2000",
      "host:port",
      "host:0",
      "host:65536",
      "host:20.5",
      "host:-1",
      "tcp:127.0.0.1:2000",
      "udp:127.0.0.1:2000",
      "tcp:2000",
      "TCP:[::1]:2000",
      "tcp:a:1 b:2",
      "tcp:a:1 tcp:b:2",
      "tcp:a:1 udp:b:2 udp:c:3",
      "a:1 b:2",
      "::1:2000",
      "[::1]2000",
    ]
  ) {
    assert.throws(() => parseDaemonAddress(bad), (e: Error) => {
      assert.ok(e instanceof RangeError, bad);
      assert.ok(e.message.includes(`'${bad}'`), e.message);
      return true;
    });
  }
});

Deno.test("configFromEnv() reads every AWS_XRAY_* setting", () => {
  assert.deepEqual(
    configFromEnv({
      AWS_XRAY_TRACING_NAME: " shop ",
      AWS_XRAY_DAEMON_ADDRESS: "127.0.0.1:2001",
      AWS_XRAY_CONTEXT_MISSING: "ignore_error",
      AWS_XRAY_SDK_ENABLED: "TRUE",
      AWS_XRAY_COLLECT_SQL_QUERIES: "on",
      AWS_XRAY_LOG_LEVEL: "DEBUG",
    }),
    {
      serviceName: "shop",
      daemonAddress: {
        udp: { host: "127.0.0.1", port: 2001 },
        tcp: { host: "127.0.0.1", port: 2001 },
      },
      contextMissing: "IGNORE_ERROR",
      enabled: true,
      collectSqlQueries: true,
      logLevel: "debug",
    },
  );
});

Deno.test("configFromEnv() maps AWS_XRAY_SDK_ENABLED words; anything else means enabled", () => {
  for (const v of ["n", "No", "f", "false", "OFF", "0"]) {
    assert.equal(configFromEnv({ AWS_XRAY_SDK_ENABLED: v }).enabled, false, v);
  }
  for (const v of ["y", "yes", "t", "true", "on", "1", "maybe", ""]) {
    assert.equal(configFromEnv({ AWS_XRAY_SDK_ENABLED: v }).enabled, true, v);
  }
  assert.equal(configFromEnv({}).enabled, undefined);
});

Deno.test("configFromEnv() rejects a bad context-missing mode and a bad daemon address", () => {
  assert.throws(
    () => configFromEnv({ AWS_XRAY_CONTEXT_MISSING: "LOUD" }),
    RangeError,
  );
  assert.throws(
    () => configFromEnv({ AWS_XRAY_DAEMON_ADDRESS: "nowhere" }),
    RangeError,
  );
});

Deno.test("configFromEnv() names the variable and the allowed modes when AWS_XRAY_CONTEXT_MISSING is bad", () => {
  assert.throws(
    () => configFromEnv({ AWS_XRAY_CONTEXT_MISSING: " loud " }),
    {
      name: "RangeError",
      message:
        "Cannot read the environment as 'AWS_XRAY_CONTEXT_MISSING' must be RUNTIME_ERROR, LOG_ERROR or IGNORE_ERROR: current value is 'LOUD'",
    },
  );
});
