// The options of `edgetrain finetune`, declared once: main.ts adds them to the command, and
// finetuneOptionsOf turns what the user typed into FinetuneOptions. The default run (no --model,
// no --data) takes only the options given on the command line, over its own settings.
import type { Command } from 'commander';
import { ValueError } from '../errors.js';
import type { FinetuneOptions } from '../train/finetune.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new ValueError(`expected an integer, got '${v}'`);
  return n;
};
const num = (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || Number.isNaN(n)) throw new ValueError(`expected a number, got '${v}'`);
  return n;
};
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

type Lora = NonNullable<FinetuneOptions['lora']>;

interface Opt {
  flags: string;
  help: string;
  /** commander's attribute name for the option. */
  key: string;
  parse?: (v: string) => unknown;
  default?: unknown;
  /** Where the value goes in FinetuneOptions (top level, or under lora). */
  to?: (v: never) => Partial<FinetuneOptions> | { lora: Partial<Lora> };
}

const layersOf = (v: string) => {
  const m = /^(\d+)-(\d+)$/.exec(v);
  if (!m) throw new ValueError(`--lora-layers expects first-last (e.g. 4-11), got ${v}`);
  return { first: Number(m[1]), last: Number(m[2]) };
};

/** Every option of the command, with what it sets. */
export const FINETUNE_OPTIONS: Opt[] = [
  { flags: '--model <path>', key: 'model', help: 'base model: a .gguf file or a Hugging Face folder', to: (v: string) => ({ model: v }) },
  { flags: '--data <file>', key: 'data', help: 'training data: text, JSONL {prompt, completion} or JSONL {messages}', to: (v: string) => ({ data: v }) },
  {
    flags: '--validation <file|fraction>',
    key: 'validation',
    help: 'validation data file, or a fraction / count of the data to hold out',
    to: (v: string) => ({ validation: /^[\d.]+$/.test(v) ? Number(v) : v }),
  },
  { flags: '--out <dir>', key: 'out', help: 'output folder', default: 'edgetrain-out', to: (v: string) => ({ out: v }) },
  { flags: '--lora-rank <r>', key: 'loraRank', help: 'adapter rank', parse: int, default: 8, to: (v: number) => ({ lora: { rank: v } }) },
  { flags: '--lora-alpha <a>', key: 'loraAlpha', help: 'adapter alpha (scale alpha / r)', parse: num, default: 16, to: (v: number) => ({ lora: { alpha: v } }) },
  { flags: '--lora-dropout <p>', key: 'loraDropout', help: 'dropout on the adapter input', parse: num, default: 0, to: (v: number) => ({ lora: { dropout: v } }) },
  {
    flags: '--lora-targets <names>',
    key: 'loraTargets',
    help: 'comma-separated module names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head,embed_tokens)',
    to: (v: string) => ({ lora: { targets: list(v) } }),
  },
  { flags: '--lora-layers <first-last>', key: 'loraLayers', help: 'adapt only these decoder layers, e.g. 4-11', to: (v: string) => ({ lora: { layers: layersOf(v) } }) },
  { flags: '--rslora', key: 'rslora', help: 'scale by alpha / sqrt(r)', to: (v: boolean) => ({ lora: { rsLoRA: Boolean(v) } }) },
  {
    flags: '--quantize <type>',
    key: 'quantize',
    help: 'QLoRA: quantize the base linear layers at load (q4_k, q4_k_m, nf4, nf4_dq, q8_0, ...); a quantized GGUF base stays as stored',
    to: (v: string) => ({ quantize: v }),
  },
  {
    flags: '--base-dtype <type>',
    key: 'baseDtype',
    help: "frozen base weights: 'auto' (as the file stores them on cpu), 'float32', or 'bfloat16' (half the memory; bf16 dot products where the CPU has them)",
    to: (v: string) => ({ baseDtype: v as 'auto' | 'float32' | 'bfloat16' }),
  },
  {
    flags: '--matmul-precision <level>',
    key: 'matmulPrecision',
    help: "products with a bf16 base: 'highest' (exact, the default) or 'high' / 'medium' (activations rounded to bf16, as PyTorch's bf16 matmul; faster on AMX)",
    to: (v: string) => ({ matmulPrecision: v as 'highest' | 'high' | 'medium' }),
  },
  {
    flags: '--device <name>',
    key: 'device',
    help: 'device to train on: cpu, vulkan, vulkan:1, ... (edgetrain doctor lists them); default cpu',
    to: (v: string) => ({ device: v }),
  },
  { flags: '--adapter <path>', key: 'adapter', help: 'continue training this adapter (PEFT folder or GGUF LoRA)', to: (v: string) => ({ adapter: v }) },
  { flags: '--seq-len <n>', key: 'seqLen', help: 'tokens per row', parse: int, default: 256, to: (v: number) => ({ seqLen: v }) },
  { flags: '--batch-size <n>', key: 'batchSize', help: 'rows per micro-batch', parse: int, default: 4, to: (v: number) => ({ batchSize: v }) },
  { flags: '--grad-accum <n>', key: 'gradAccum', help: 'micro-batches per optimizer step', parse: int, default: 1, to: (v: number) => ({ gradAccum: v }) },
  { flags: '--epochs <n>', key: 'epochs', help: 'passes over the data', parse: int, default: 1, to: (v: number) => ({ epochs: v }) },
  { flags: '--max-steps <n>', key: 'maxSteps', help: 'stop after this many optimizer steps', parse: int, to: (v: number) => ({ maxSteps: v }) },
  { flags: '--lr <x>', key: 'lr', help: 'peak learning rate', parse: num, default: 2e-4, to: (v: number) => ({ lr: v }) },
  { flags: '--weight-decay <x>', key: 'weightDecay', help: 'AdamW weight decay', parse: num, default: 0, to: (v: number) => ({ weightDecay: v }) },
  { flags: '--warmup-steps <n>', key: 'warmupSteps', help: 'linear warmup steps', parse: int, to: (v: number) => ({ warmupSteps: v }) },
  { flags: '--warmup-ratio <x>', key: 'warmupRatio', help: 'warmup as a fraction of all steps', parse: num, to: (v: number) => ({ warmupRatio: v }) },
  { flags: '--schedule <kind>', key: 'schedule', help: 'cosine, linear or constant', default: 'cosine', to: (v: FinetuneOptions['schedule']) => ({ schedule: v }) },
  { flags: '--clip <x>', key: 'clip', help: 'clip the global gradient norm (0 = off)', parse: num, default: 1, to: (v: number) => ({ clipGradNorm: v }) },
  { flags: '--seed <n>', key: 'seed', help: 'seed for adapter init, data order and dropout', parse: int, default: 0, to: (v: number) => ({ seed: v }) },
  { flags: '--no-checkpointing', key: 'checkpointing', help: 'keep block activations instead of recomputing them in backward', to: (v: boolean) => ({ checkpointing: v }) },
  { flags: '--eval-every <n>', key: 'evalEvery', help: 'eval loss every n steps', parse: int, default: 50, to: (v: number) => ({ evalEvery: v }) },
  { flags: '--save-every <n>', key: 'saveEvery', help: 'checkpoint every n steps (0 = only at the end)', parse: int, default: 100, to: (v: number) => ({ checkpointEvery: v }) },
  { flags: '--keep-checkpoints <n>', key: 'keepCheckpoints', help: 'checkpoints to keep, the newest (0 = all)', parse: int, default: 3, to: (v: number) => ({ keepCheckpoints: v }) },
  { flags: '--resume', key: 'resume', help: 'resume from the newest good checkpoint in --out', to: (v: boolean) => ({ resume: Boolean(v) }) },
  { flags: '--overwrite', key: 'overwrite', help: 'replace a run already in --out (without it, such a folder needs --resume)', to: (v: boolean) => ({ overwrite: Boolean(v) }) },
  {
    flags: '--max-skipped-steps <n>',
    key: 'maxSkippedSteps',
    help: 'stop when this many steps in a row skip their update for a non-finite loss or gradient',
    parse: int,
    default: 10,
    to: (v: number) => ({ maxSkippedSteps: v }),
  },
  { flags: '--format <kind>', key: 'format', help: 'text, completion or chat (default: from the file)', to: (v: FinetuneOptions['format']) => ({ format: v }) },
  { flags: '--all-tokens', key: 'allTokens', help: 'chat data: train on every token, not only the assistant turns', to: (v: boolean) => ({ assistantOnly: !v }) },
  { flags: '--packing', key: 'packing', help: 'pack short samples into full rows', to: (v: boolean) => ({ packing: Boolean(v) }) },
  { flags: '--skip-bad-lines', key: 'skipBadLines', help: 'skip unusable data lines (listed) instead of stopping', to: (v: boolean) => ({ skipBadLines: Boolean(v) }) },
];

/** Adds every finetune option to the command. */
export function addFinetuneOptions(cmd: Command): Command {
  for (const o of FINETUNE_OPTIONS) {
    const wrap = o.parse ? (v: string) => o.parse!(v) : undefined;
    if (wrap && o.default !== undefined) cmd.option(o.flags, o.help, wrap, o.default);
    else if (wrap) cmd.option(o.flags, o.help, wrap);
    else if (o.default !== undefined) cmd.option(o.flags, o.help, o.default as string);
    else cmd.option(o.flags, o.help);
  }
  return cmd;
}

/**
 * FinetuneOptions from the parsed command line. With `onlyGiven`, only the options typed on the
 * command line (not commander's defaults) are included, to lay over another run's settings.
 */
export function finetuneOptionsOf(values: Record<string, unknown>, source: (key: string) => string | undefined, onlyGiven = false): Partial<FinetuneOptions> {
  const out: Partial<FinetuneOptions> & { lora?: Partial<Lora> } = {};
  for (const o of FINETUNE_OPTIONS) {
    const v = values[o.key];
    if (v === undefined || !o.to) continue;
    if (onlyGiven && source(o.key) !== 'cli') continue;
    const part = o.to(v as never) as Partial<FinetuneOptions> & { lora?: Partial<Lora> };
    if (part.lora) out.lora = { ...out.lora, ...part.lora };
    else Object.assign(out, part);
  }
  return out;
}

/** `over` laid on `base`: top-level fields replaced, lora fields merged one by one. */
export function overlayOptions(base: FinetuneOptions, over: Partial<FinetuneOptions>): FinetuneOptions {
  return { ...base, ...over, lora: { ...base.lora, ...over.lora } as Lora };
}
