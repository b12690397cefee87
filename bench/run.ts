/**
 * `npm run bench [-- SCENARIO…]`: runs each scenario's contenders once to
 * warm up and then N times (EIB_BENCH_RUNS, default 3; interleaved), prints
 * medians, eib/baseline ratios and eib's peak RSS, and writes
 * bench/results/latest.json. Inputs are cached under EIB_BENCH_DIR (default
 * $TMPDIR/eib-bench). A scenario name given as an argument also selects
 * scenarios left out of the default set; a prefix selects all it begins.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Contender, RunResult } from './harness.js';
import { defaultScenarios, scenarios } from './scenarios/index.js';

interface Row {
  scenario: string;
  contender: string;
  role: Contender['role'];
  runsMs: number[];
  medianMs: number;
  /** This row's median over the scenario's baseline median. */
  ratio: number | null;
  maxRssKiB: number | null;
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const runs = Math.max(1, Number(process.env['EIB_BENCH_RUNS'] ?? 3));
const root = process.env['EIB_BENCH_DIR'] ?? join(tmpdir(), 'eib-bench');
const only = process.argv.slice(2);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function timed(c: Contender, ctx: BenchContext): Promise<{ ms: number; result: RunResult }> {
  await c.before?.(ctx);
  const start = process.hrtime.bigint();
  const result = await c.run(ctx);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await c.after?.(ctx);
  return { ms, result };
}

const RESULTS = join(REPO, 'bench', 'results', 'latest.json');
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform} ${release()}, Node ${process.version}`;

/** bench/results/latest.json with the rows so far; `partial` until the last scenario is done. */
function writeResults(partial: boolean): void {
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify({ date: new Date().toISOString(), partial, runs, node: process.version, machine, rows }, null, 2)}\n`);
}

const selected = only.length === 0 ? defaultScenarios() : scenarios().filter((s) => only.some((o) => s.name === o || s.name.startsWith(o)));
const started = Date.now();
const rows: Row[] = [];
for (const scenario of selected) {
  const ctx: BenchContext = { workDir: join(root, scenario.name) };
  mkdirSync(ctx.workDir, { recursive: true });
  process.stderr.write(`[${scenario.name}] ${scenario.description}: preparing…\n`);
  await scenario.setup(ctx);
  const n = Math.min(runs, scenario.maxRuns ?? runs);
  const scenarioRows: Row[] = scenario.contenders.map((c) => ({ scenario: scenario.name, contender: c.name, role: c.role, runsMs: [], medianMs: 0, ratio: null, maxRssKiB: null }));
  try {
    for (const c of scenario.contenders) await timed(c, ctx); // warm-up: page cache, JIT
    for (let i = 0; i < n; i++) {
      for (const [k, c] of scenario.contenders.entries()) {
        const row = scenarioRows[k]!;
        const { ms, result } = await timed(c, ctx);
        row.runsMs.push(ms);
        if (result.maxRssKiB !== undefined) row.maxRssKiB = Math.max(row.maxRssKiB ?? 0, result.maxRssKiB);
        process.stderr.write(`[${scenario.name}] ${c.name}: run ${i + 1}/${n} ${ms.toFixed(0)} ms\n`);
      }
    }
  } finally {
    await scenario.teardown?.(ctx);
  }
  for (const r of scenarioRows) r.medianMs = median(r.runsMs);
  const baseline = scenarioRows.find((r) => r.role === 'baseline');
  for (const r of scenarioRows) r.ratio = baseline ? r.medianMs / baseline.medianMs : null;
  rows.push(...scenarioRows);
  // A long run that is stopped early still leaves every finished scenario's figures.
  for (const r of scenarioRows) process.stderr.write(`[${r.scenario}] ${r.contender}: median ${r.medianMs.toFixed(0)} ms, ratio ${r.ratio?.toFixed(2) ?? '-'}, peak RSS ${r.maxRssKiB === null ? '-' : `${(r.maxRssKiB / 1024).toFixed(1)} MiB`}\n`);
  writeResults(true);
}

const header = ['scenario', 'contender', 'median ms', 'ratio', 'peak RSS MiB'];
const table = rows.map((r) => [r.scenario, r.contender, r.medianMs.toFixed(0), r.ratio === null ? '-' : r.ratio.toFixed(2), r.maxRssKiB === null ? '-' : (r.maxRssKiB / 1024).toFixed(1)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => (t[i] ?? '').length)));
const line = (cells: string[]): string => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ');
console.log(line(header));
for (const t of table) console.log(line(t));
console.log(`\n${machine}; ${runs} runs after a warm-up; ${((Date.now() - started) / 60_000).toFixed(1)} min`);

writeResults(false);
console.log(`written ${RESULTS}`);
