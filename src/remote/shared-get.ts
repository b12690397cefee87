/**
 * The package fetcher's network (the apk layer's HttpGet seam): a GET
 * through the process's shared HTTP client, whose module (and node:http,
 * node:https, node:tls) is loaded on the first download only, so a build
 * whose repositories are local or cached never pays for it.
 */
import type { HttpGetResult } from './http.js';

export async function sharedGet(url: string, headers?: Readonly<Record<string, string>>): Promise<HttpGetResult> {
  const { sharedHttpClient } = await import('./http.js');
  return sharedHttpClient().get(url, headers);
}
