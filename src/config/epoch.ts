/**
 * The build time a reproducible build uses: the config's `epoch`, else
 * $SOURCE_DATE_EPOCH (reproducible-builds.org), else none. Decided once,
 * when the config is normalized: Config.epoch is the effective value.
 */

export function effectiveEpoch(configured: number | undefined, env: NodeJS.ProcessEnv): number | undefined {
  if (configured !== undefined) return configured;
  const value = env['SOURCE_DATE_EPOCH'];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
}
