/**
 * Local sampling (minimal default: 1 request/second + 5 %).
 *
 * @module
 */

import type { Clock, Sampler, SamplingDecision } from "../types.ts";

/** Options for {@linkcode localSampler}. */
export interface LocalSamplerOptions {
  /** Time source for the per-second reservoir. */
  clock?: Clock;
  /** Random source in [0, 1). */
  random?: () => number;
}

/**
 * The default rule: the first request each second, then 5 %.
 *
 * @param _document Reserved for a rules document.
 * @param options Clock and random source.
 * @returns The sampler.
 */
export function localSampler(
  _document?: unknown,
  options?: LocalSamplerOptions,
): Sampler {
  const clock = options?.clock ?? { now: () => Date.now() };
  const random = options?.random ?? Math.random;
  let second = -1;
  let used = 0;
  return {
    shouldSample(): SamplingDecision {
      const s = Math.floor(clock.now() / 1000);
      if (s !== second) {
        second = s;
        used = 0;
      }
      if (used < 1) {
        used++;
        return { sampled: true, ruleName: "Default" };
      }
      return { sampled: random() < 0.05, ruleName: "Default" };
    },
  };
}
