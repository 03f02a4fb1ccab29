// GetSamplingRules / GetSamplingTargets answered from a local rules document
// (the `localSampler` format), so `centralizedSampler` works offline.

import {
  DEFAULT_SAMPLING_RULES,
  localSampler,
  type LocalSamplingRules,
} from "../sampling/local.ts";

/** Answers the two sampling APIs. */
export interface SamplingService {
  rules(): Record<string, unknown>;
  targets(body: unknown, nowMs: number): Record<string, unknown>;
}

interface ServedRule {
  name: string;
  reservoir: number;
  rate: number;
  record: Record<string, unknown>;
}

const TARGET_INTERVAL_S = 10;

/**
 * Builds the sampling service from a rules document.
 * @throws {RangeError} When the document is invalid (the message names the field).
 */
export function samplingService(
  document: LocalSamplingRules | string | undefined,
  loadedAtMs: number,
): SamplingService {
  // localSampler validates the document and throws the usual clear messages.
  localSampler(document);
  const doc: LocalSamplingRules = document === undefined
    ? DEFAULT_SAMPLING_RULES
    : typeof document === "string"
    ? JSON.parse(document)
    : document;
  const modified = loadedAtMs / 1000;
  const used = new Set<string>(["Default"]);
  const served: ServedRule[] = [];
  const ruleRecord = (
    name: string,
    priority: number,
    fields: { host: string; method: string; path: string },
    reservoir: number,
    rate: number,
  ): ServedRule => ({
    name,
    reservoir,
    rate,
    record: {
      SamplingRule: {
        RuleName: name,
        RuleARN: `arn:aws:xray:local:000000000000:sampling-rule/${name}`,
        ResourceARN: "*",
        Priority: priority,
        FixedRate: rate,
        ReservoirSize: reservoir,
        ServiceName: "*",
        ServiceType: "*",
        Host: fields.host,
        HTTPMethod: fields.method,
        URLPath: fields.path,
        Version: 1,
        Attributes: {},
      },
      CreatedAt: modified,
      ModifiedAt: modified,
    },
  });
  (doc.rules ?? []).forEach((rule, i) => {
    // Rule names: 1-32 characters of [A-Za-z0-9_-]; unique.
    let name = (rule.description ?? "").replace(/[^A-Za-z0-9_-]+/g, "-")
      .replace(/^-+|-+$/g, "").slice(0, 28) || `rule-${i + 1}`;
    if (used.has(name)) name = `${name.slice(0, 24)}-${i + 1}`;
    used.add(name);
    served.push(ruleRecord(
      name,
      i + 1,
      {
        host: (doc.version === 1 ? rule.service_name : rule.host) ?? "*",
        method: rule.http_method,
        path: rule.url_path,
      },
      rule.fixed_target,
      rule.rate,
    ));
  });
  served.push(ruleRecord(
    "Default",
    10000,
    { host: "*", method: "*", path: "*" },
    doc.default.fixed_target,
    doc.default.rate,
  ));
  const byName = new Map(served.map((r) => [r.name, r]));
  // Clients seen per rule recently: the reservoir is shared among them.
  const clients = new Map<string, Map<string, number>>();

  return {
    rules(): Record<string, unknown> {
      return { SamplingRuleRecords: served.map((r) => r.record) };
    },
    targets(body: unknown, nowMs: number): Record<string, unknown> {
      const docs = (body as Record<string, unknown> | null)
        ?.SamplingStatisticsDocuments;
      if (!Array.isArray(docs)) {
        throw new TypeError(
          "SamplingStatisticsDocuments must be a list",
        );
      }
      const targets: Record<string, unknown>[] = [];
      const unprocessed: Record<string, unknown>[] = [];
      for (const d of docs) {
        const name = d?.RuleName;
        const rule = typeof name === "string" ? byName.get(name) : undefined;
        if (!rule) {
          unprocessed.push({
            RuleName: String(name),
            ErrorCode: "400",
            Message: "Unknown rule",
          });
          continue;
        }
        const seen = clients.get(rule.name) ?? new Map<string, number>();
        clients.set(rule.name, seen);
        seen.set(String(d.ClientID), nowMs);
        for (const [client, at] of seen) {
          if (nowMs - at > 3 * TARGET_INTERVAL_S * 1000) seen.delete(client);
        }
        targets.push({
          RuleName: rule.name,
          FixedRate: rule.rate,
          ReservoirQuota: Math.ceil(rule.reservoir / Math.max(1, seen.size)),
          ReservoirQuotaTTL: nowMs / 1000 + TARGET_INTERVAL_S * 3,
          Interval: TARGET_INTERVAL_S,
        });
      }
      return {
        SamplingTargetDocuments: targets,
        LastRuleModification: modified,
        UnprocessedStatistics: unprocessed,
      };
    },
  };
}
