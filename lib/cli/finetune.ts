// `edgetrain finetune`: a LoRA fine-tune with a progress line (loss, lr, tok/s, ETA), eval lines,
// a loss-curve SVG next to the adapter and a summary. The first Ctrl-C stops at the next step
// and saves a checkpoint (resume with --resume); a second one exits at once.
import { join } from 'node:path';
import { writeFileAtomic } from '../formats/atomic.js';
import { finetune, type FinetuneEvent, type FinetuneOptions, type FinetuneResult } from '../train/finetune.js';
import { lossCurveSVG } from './plot.js';

export interface FinetuneCliIO {
  /** Progress output (stderr in the CLI). */
  err: { write(s: string): unknown; isTTY?: boolean };
  /** Summary output (stdout in the CLI). */
  out: (line: string) => void;
  /** Registers the Ctrl-C handler; returns its remover. */
  onInterrupt?: (fn: () => void) => () => void;
}

const fmtTime = (s: number) => {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
};
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** The progress line of a step event: a bar, loss, lr, tok/s, ETA, memory. */
export function progressLine(e: Extract<FinetuneEvent, { type: 'step' }>, width = 24): string {
  const f = Math.min(1, e.step / Math.max(1, e.totalSteps));
  const fill = Math.round(f * width);
  return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] step ${e.step}/${e.totalSteps} epoch ${e.epoch.toFixed(2)} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.tokensPerSec.toFixed(0)} tok/s ETA ${fmtTime(e.etaSec)} mem ${mb(e.peakBytes)}`;
}

/** Runs the fine-tune, printing as it goes; returns the result. */
export async function runFinetuneCli(opts: FinetuneOptions, io: FinetuneCliIO): Promise<FinetuneResult> {
  const run = finetune(opts);
  let interrupts = 0;
  const off = io.onInterrupt?.(() => {
    interrupts++;
    if (interrupts === 1) {
      io.err.write('\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
      run.abort();
    } else process.exit(130);
  });
  const tty = Boolean(io.err.isTTY);
  let lastPrinted = 0;
  let lastStep: Extract<FinetuneEvent, { type: 'step' }> | undefined;
  try {
    for await (const e of run) {
      if (e.type === 'start') {
        io.err.write(
          `finetune: ${e.trainRows} training rows, ${e.validationRows} validation rows, ${e.totalSteps} steps, ${e.trainableParams} trainable parameters` +
            `${e.resumedFrom ? `, resumed from ${e.resumedFrom} at step ${e.startStep}` : ''}${e.skippedLines ? `, ${e.skippedLines} bad lines skipped` : ''}\n`,
        );
      } else if (e.type === 'step') {
        lastStep = e;
        const now = Date.now();
        if (tty) io.err.write(`\r${progressLine(e)}\x1b[K`);
        else if (now - lastPrinted > 5000 || e.step === e.totalSteps || e.step === 1) {
          io.err.write(`${progressLine(e)}\n`);
          lastPrinted = now;
        }
      } else if (e.type === 'eval') {
        io.err.write(`${tty ? '\n' : ''}eval at step ${e.step}: loss ${e.loss.toFixed(4)}, perplexity ${e.perplexity.toFixed(2)}\n`);
      } else if (e.type === 'warning') {
        io.err.write(`${tty ? '\n' : ''}warning: ${e.message}\n`);
      } else if (e.type === 'skip') {
        io.err.write(`${tty ? '\n' : ''}step ${e.step} skipped: ${e.reason}\n`);
      } else if (e.type === 'checkpoint') {
        if (!tty) io.err.write(`checkpoint: ${e.path}\n`);
      }
    }
  } finally {
    off?.();
  }
  const r = await run.result;
  if (tty) io.err.write('\n');
  const out = opts.out ?? 'edgetrain-out';
  const svg = join(out, 'loss.svg');
  writeFileAtomic(svg, new TextEncoder().encode(lossCurveSVG(r.losses, r.evals, `edgetrain finetune: ${opts.data}`)));
  const finite = r.losses.filter((x) => Number.isFinite(x));
  io.out(`${r.aborted ? 'stopped' : 'done'} after ${r.steps} steps${r.aborted ? ` (resume with --resume --out ${out})` : ''}`);
  if (finite.length) io.out(`  loss ${finite[0]!.toFixed(4)} -> ${finite.at(-1)!.toFixed(4)}`);
  if (r.evals.length) io.out(`  eval loss ${r.evals[0]!.loss.toFixed(4)} -> ${r.evals.at(-1)!.loss.toFixed(4)} (perplexity ${Math.exp(r.evals.at(-1)!.loss).toFixed(2)})`);
  if (lastStep) io.out(`  ${lastStep.tokensPerSec.toFixed(0)} tokens/s, peak memory ${mb(lastStep.peakBytes)}`);
  io.out(`  adapter: ${r.adapterDir} (PEFT)${r.ggufAdapter ? `, ${r.ggufAdapter} (GGUF LoRA for llama.cpp --lora)` : ''}`);
  if (r.checkpoint) io.out(`  checkpoint: ${r.checkpoint}`);
  io.out(`  loss curve: ${svg}`);
  return r;
}
