/**
 * Alpine architecture names → OCI platform (image-index.md#platform-variants,
 * the GOARCH/GOARM values that registries and runtimes match on).
 */
import type { AlpineArch } from '../config/types.js';
import type { Platform } from './types.js';

const PLATFORMS: Record<AlpineArch, { architecture: string; variant?: string }> = {
  aarch64: { architecture: 'arm64', variant: 'v8' },
  armv7: { architecture: 'arm', variant: 'v7' },
  armhf: { architecture: 'arm', variant: 'v6' },
  x86_64: { architecture: 'amd64' },
  x86: { architecture: '386' },
  riscv64: { architecture: 'riscv64' },
  ppc64le: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  loongarch64: { architecture: 'loong64' },
};

export function ociPlatform(arch: AlpineArch): Platform {
  const p = PLATFORMS[arch];
  return p.variant === undefined ? { architecture: p.architecture, os: 'linux' } : { architecture: p.architecture, os: 'linux', variant: p.variant };
}
