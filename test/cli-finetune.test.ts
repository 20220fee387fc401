// `edgetrain finetune` as a user runs it (the built CLI in a child process): the default run
// (no --model / --data) takes the options given, survives SIGKILL and resumes; an out folder
// that holds a run is refused at once without --resume or --overwrite.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'et-cli-default-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI until it exits, or until `killWhen` sees its stderr and SIGKILLs it. */
function cli(args: string[], killWhen?: RegExp): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => {
      stderr += d;
      if (killWhen?.test(stderr)) p.kill('SIGKILL');
    });
    p.on('error', fail);
    p.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

describe('edgetrain finetune with no --model / --data', () => {
  test('takes the options given; killed with SIGKILL, --resume finishes the run; the same folder again is refused at once', { timeout: 300_000 }, async () => {
    expect(existsSync(CLI), 'dist/cli.js (built by npm ci / npx tsup)').toBe(true);
    const out = join(dir, 'default');
    const args = ['finetune', '--out', out, '--max-steps', '6', '--save-every', '2', '--lora-rank', '4', '--lora-alpha', '8', '--eval-every', '0'];
    const killed = await cli(args, /checkpoint: .*step-000004/);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(killed.stderr).toMatch(/finetune: \d+ training rows, \d+ validation rows, 6 steps/);
    const resumed = await cli([...args, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resumed from ${out}/checkpoints/step-000004 at step 4`));
    expect(resumed.stdout).toMatch(/done after 6 steps/);
    expect(resumed.stdout).toMatch(/held-out accuracy after: /);
    const config = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ r: 4, lora_alpha: 8 });
    // again without --resume: refused before the slow part (the accuracy before training)
    const again = await cli(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a run \(checkpoints up to step 6\); pass resume \(--resume\) to continue it, overwrite \(--overwrite\)/);
    expect(again.stdout).not.toMatch(/held-out accuracy before/);
  });

  test('bad numbers and an unwritable --out are refused before training', () => {
    const bad = spawnSync(process.execPath, [CLI, 'finetune', '--max-steps', 'ten'], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/expected an integer, got 'ten'/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const unwritable = spawnSync(process.execPath, [CLI, 'finetune', '--out', join(file, 'x')], { cwd: dir, encoding: 'utf8' });
    expect(unwritable.status).toBe(1);
    expect(unwritable.stderr).toMatch(/cannot write to the output folder .*plain-file\/x: ENOTDIR/);
    expect(unwritable.stdout).not.toMatch(/held-out accuracy before/);
  });
});

test('the loss curve of a run longer than a call takes arguments (300k steps, NaN steps and evals among them)', async () => {
  const { lossCurveSVG } = await import('../lib/cli/plot.js');
  const losses = Array.from({ length: 300_000 }, (_, i) => (i % 1000 === 7 ? NaN : 5 / (1 + i / 1000)));
  const svg = lossCurveSVG(losses, [{ step: 10, loss: NaN }, { step: 20, loss: 4 }]);
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg).not.toMatch(/NaN|Infinity/);
});
