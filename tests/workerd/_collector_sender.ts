// A sender for Workers under test: POSTs each batch (a JSON array of document
// strings) to the test's collector on 127.0.0.1 and always consumes the body.
import type { Sender } from "../../mod.ts";

/** Delivers batches to `url` over fetch. */
export function collectorSender(url: string): Sender {
  return {
    async send(documents) {
      const res = await fetch(url, {
        method: "POST",
        body: JSON.stringify(documents),
      });
      await res.body?.cancel();
      return res.ok
        ? { ok: true }
        : { ok: false, retryable: false, error: new Error(`${res.status}`) };
    },
  };
}
