/** Sizes as users write them: bytes, or a number with a binary unit ("512M", "1.5GiB", "64 KiB"). */

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** The pattern eib.yaml's size strings match (the schema uses the same). */
export const SIZE_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*([KMGTkmgt]?)(?:i?B)?\s*$/;

/** Bytes (rounded up) of a size, or undefined when it is not one or not positive. */
export function bytesFromSize(size: number | string): number | undefined {
  if (typeof size === 'number') return Number.isSafeInteger(size) && size > 0 ? size : undefined;
  const m = SIZE_PATTERN.exec(size);
  if (m === null) return undefined;
  const bytes = Math.ceil(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}
