/**
 * A fetch with a deadline for metadata endpoints. Private to the plugins.
 *
 * @module
 */

/** The fetch function plugins call (injectable for tests and proxies). */
export type FetchLike = (
  input: string,
  init?: RequestInit,
) => Promise<Response>;

/**
 * Fetches `url` and reads its body with `read`, all within `timeoutMs`;
 * throws on a non-2xx answer, a timeout or a network error.
 */
export async function fetchWithin<T>(
  fetchFn: FetchLike,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  read: (response: Response) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(new Error(`No answer from ${url} in ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    const res = await fetchFn(url, { ...init, signal: controller.signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`${url} answered ${res.status}`);
    }
    return await read(res);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a body that must be a JSON object. */
export async function jsonObject(
  res: Response,
): Promise<Record<string, unknown>> {
  const value = await res.json();
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${res.url || "The endpoint"} did not answer a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}

/** The value when it is a non-empty string. */
export function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** Drops undefined fields; `undefined` when none remain. */
export function compact(
  fields: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) {
      out[k] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Checks a timeout option. */
export function checkTimeout(plugin: string, value: number | undefined): void {
  if (
    value !== undefined &&
    (typeof value !== "number" || !Number.isFinite(value) || value <= 0)
  ) {
    throw new RangeError(
      `Cannot create ${plugin} as 'timeoutMs' must be a positive number: current value is ${value}`,
    );
  }
}
