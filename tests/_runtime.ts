// Which runtime a suite is running on, told independently of the code under
// test: the matrix (scripts/matrix.ts) sets `__XRAY_MATRIX__` in each bundle;
// a plain `deno test` run reads Deno's user agent (`Deno/2.9.6`).

/** The `service.runtime` / `runtime_version` a document should carry here. */
export interface ExpectedRuntime {
  /** `deno`, `node`, `bun` or `workerd`. */
  runtime: string;
  /** What `runtime_version` starts with; absent where the runtime has none. */
  versionPrefix?: string;
}

/** The runtime the current suite runs on. */
export function expectedRuntime(): ExpectedRuntime {
  const told = (globalThis as { __XRAY_MATRIX__?: ExpectedRuntime })
    .__XRAY_MATRIX__;
  if (told) return told;
  const agent = navigator.userAgent.match(/^Deno\/(\S+)/);
  if (!agent) {
    throw new Error(
      `Cannot tell the runtime: no matrix marker and user agent '${navigator.userAgent}'`,
    );
  }
  return { runtime: "deno", versionPrefix: agent[1] };
}
