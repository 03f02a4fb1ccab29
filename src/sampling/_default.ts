// The tracer's built-in sampling rule, in a module of its own so that
// `createTracer` does not pull the rules-document sampler (`localSampler`,
// with its validation) into every bundle: that one is only bundled where an
// app imports it.

import type { Clock, Sampler, SamplingDecision } from "../types.ts";

/**
 * X-Ray's default rule: the first request each second (the reservoir), then
 * 5 % of the rest, reported under the rule name `Default`.
 *
 * @param clock The time source for the per-second reservoir.
 * @param random Random numbers in [0, 1).
 * @returns The sampler.
 */
export function defaultSampler(
  clock: Clock,
  random: () => number = Math.random,
): Sampler {
  let second = -1;
  return {
    shouldSample(): SamplingDecision {
      const s = Math.floor(clock.now() / 1000);
      // The reservoir: the first request of each second.
      const first = s !== second;
      second = s;
      return { sampled: first || random() < 0.05, ruleName: "Default" };
    },
  };
}
