// The PyTorch peer at its best on this machine: Debian's torch 1.13 over OpenBLAS, run with 1 and
// 2 torch threads, each with the environment as it is and, where this machine sets them, without
// OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they force AVX2 kernels; unset in the peer's own process
// only). Every configuration runs interleaved with ours, and per figure the fastest counts.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { interleaved } from '../common.mjs';

export const TORCH_PY = '/usr/bin/python3';
const OVERRIDES = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'];

/** The configurations to try, each { name, threads, env }. */
export function torchConfigs() {
  const set = OVERRIDES.filter((v) => v in process.env);
  const envs = [{ name: set.map((v) => `${v}=${process.env[v]}`).join(' ') || 'no OPENBLAS_CORETYPE/L2_SIZE set', env: process.env }];
  if (set.length) envs.push({ name: `${set.join(', ')} unset`, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !set.includes(k))) });
  return [1, 2].flatMap((threads) => envs.map(({ name, env }) => ({ name: `${threads} torch thread${threads > 1 ? 's' : ''}, ${name}`, threads, env })));
}

/** Runs a peer script (THREADS first, then `args`) under one configuration: { config, lines } or { error }. */
export function runTorch(script, args, config) {
  if (!existsSync(TORCH_PY)) return { error: `${TORCH_PY} not found` };
  try {
    const out = execFileSync(TORCH_PY, [script, String(config.threads), ...args.map(String)], { encoding: 'utf8', env: config.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const [head, ...lines] = out.trim().split('\n').map((l) => JSON.parse(l));
    return { config: head.config, lines };
  } catch (e) {
    return { error: `PyTorch peer failed (install Debian python3-torch and libopenblas0-pthread): ${String(e.stderr || e.message).slice(0, 300)}` };
  }
}

/**
 * Ours against the peer in every configuration, interleaved over `rounds` (resolves when done). `ours()` returns a list
 * of figures; `pick(lines)` maps the peer's JSON lines to the same list; higher is better unless
 * `lower` (true, or a list of booleans per figure). Returns { ours, peer, winner, blas, configs }
 * (per figure: the best configuration's median, its name, the OpenBLAS kernel it ran), or
 * { ours, error }.
 */
export async function versusTorch({ rounds = 3, ours, script, args, pick, lower = false }) {
  const configs = torchConfigs();
  const seen = [];
  let error = null;
  const peers = configs.map((c, i) => () => {
    if (error) return null;
    const r = runTorch(script, args, c);
    if (r.error) error = r.error;
    else seen[i] = r.config;
    return r.error ? null : pick(r.lines);
  });
  const [mine, ...theirs] = await interleaved(rounds, [ours, ...peers]);
  if (error) return { ours: mine, error };
  const better = (f, a, b) => ((Array.isArray(lower) ? lower[f] : lower) ? a < b : a > b);
  const best = mine.map((_, f) => theirs.reduce((b, t, i) => (better(f, t[f], theirs[b][f]) ? i : b), 0));
  return {
    ours: mine,
    peer: best.map((c, f) => theirs[c][f]),
    winner: best.map((c) => configs[c].name),
    blas: best.map((c) => seen[c].blas),
    configs: configs.map((c, i) => ({ name: c.name, figures: theirs[i], blas: seen[i].blas, torch: seen[i].torch })),
  };
}

/** Prints each configuration tried (figure f formatted by `fmt(value, f)`) and which one won how often. */
export function printTorchConfigs(res, fmt = (v) => v.toFixed(1)) {
  if (res.error) return console.log(`PyTorch: n/a (${res.error})`);
  console.log(`PyTorch ${res.configs[0].torch} configurations tried (medians):`);
  for (const c of res.configs) {
    const wins = res.winner.filter((w) => w === c.name).length;
    console.log(`  ${c.name}: ${c.figures.map((v, f) => fmt(v, f)).join(' ')}${wins ? `  <- best for ${wins} of ${res.winner.length}` : ''}  [${c.blas}]`);
  }
}
