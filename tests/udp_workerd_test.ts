// matrix: workerd — the runtime without UDP sockets
import assert from "node:assert/strict";
import { udpSender } from "../src/udp.ts";

Deno.test("udpSender() fails at construction on Workers with a clear error", () => {
  assert.throws(() => udpSender(), (e: Error) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /Cannot create UDP sender as this runtime has no/);
    assert.match(
      e.message,
      /use daemonSender\(\) or xrayApiSender\(\) instead/,
    );
    return true;
  });
});
