/**
 * `env_var.ts` for Workers bundles (chosen by the package.json `imports`
 * condition `workerd`): a Worker's variables are its `env` binding, which
 * the integrations take per request, never a process environment.
 *
 * @module
 */

/**
 * No Deno here.
 *
 * @internal
 * @returns Always false.
 */
export function envGranted(_deno: unknown, _variable?: string): boolean {
  return false;
}

/**
 * No process environment on Workers.
 *
 * @param _name The variable.
 * @returns Always undefined.
 */
export function envVar(_name: string): string | undefined {
  return undefined;
}
