/**
 * `ec2Plugin`: instance data from the EC2 instance metadata service (IMDSv2).
 *
 * @module
 */

import type { Plugin, PluginData } from "../types.ts";
import {
  checkTimeout,
  compact,
  type FetchLike,
  fetchWithin,
  jsonObject,
  str,
} from "./_fetch.ts";

/** Options for {@linkcode ec2Plugin}. */
export interface Ec2PluginOptions {
  /** The metadata service. @default "http://169.254.169.254" */
  endpoint?: string;
  /** The deadline of each metadata call, in milliseconds. @default 1000 */
  timeoutMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: FetchLike;
}

/**
 * Collects the EC2 instance id, availability zone, instance type
 * (`instance_size`) and AMI id from IMDSv2 (a session token first, then the
 * instance identity document; without a token when the token call fails, as
 * IMDSv1), and sets the origin `AWS::EC2::Instance`.
 *
 * @param options Endpoint, timeout, fetch.
 * @returns The plugin, for `createTracer({ plugins })`.
 * @throws {RangeError} When `timeoutMs` is not a positive number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ec2Plugin } from "./ec2.ts";
 * assert.equal(ec2Plugin().name, "ec2");
 * ```
 */
export function ec2Plugin(options: Ec2PluginOptions = {}): Plugin {
  checkTimeout("ec2Plugin", options.timeoutMs);
  const endpoint = (options.endpoint ?? "http://169.254.169.254").replace(
    /\/+$/,
    "",
  );
  const timeoutMs = options.timeoutMs ?? 1000;
  return {
    name: "ec2",
    async collect(): Promise<PluginData | undefined> {
      const fetchFn = options.fetch ?? globalThis.fetch;
      let token: string | undefined;
      try {
        token = await fetchWithin(
          fetchFn,
          `${endpoint}/latest/api/token`,
          {
            method: "PUT",
            headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" },
          },
          timeoutMs,
          (res) => res.text(),
        );
      } catch {
        // IMDSv1 fallback: ask without a token.
      }
      const doc = await fetchWithin(
        fetchFn,
        `${endpoint}/latest/dynamic/instance-identity/document`,
        {
          headers: token ? { "X-aws-ec2-metadata-token": token } : {},
        },
        timeoutMs,
        jsonObject,
      );
      const ec2 = compact({
        instance_id: str(doc.instanceId),
        availability_zone: str(doc.availabilityZone),
        instance_size: str(doc.instanceType),
        ami_id: str(doc.imageId),
      });
      return ec2 ? { origin: "AWS::EC2::Instance", aws: { ec2 } } : undefined;
    },
  };
}
