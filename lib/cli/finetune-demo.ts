// `edgetrain finetune` with no model or data: fine-tunes the shipped base (models/moby-4m.gguf,
// pretrained by edgetrain on Moby-Dick) on the shipped task (data/reverse-words: reverse the order
// of three lines of one word each, chat JSONL) and prints held-out accuracy before and after.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValueError } from '../errors.js';
import { generate } from '../models/generate.js';
import type { LlamaModel } from '../models/llama.js';
import { loadModel } from '../models/load.js';
import { ChatTemplate, type ChatMessage } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { FinetuneOptions } from '../train/finetune.js';
import { checkOutFolder } from '../train/out-folder.js';
import { overlayOptions } from './finetune-args.js';
import { runFinetuneCli, type FinetuneCliIO } from './finetune.js';

/** The package root (dist/ or lib/cli/ sit one or two levels below it). */
function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'models'))) return d;
    d = resolve(d, '..');
  }
  throw new ValueError('finetune: the shipped model (models/) was not found next to this package');
}

export const DEFAULT_MODEL = () => join(packageRoot(), 'models', 'moby-4m.gguf');
export const DEFAULT_TASK = () => join(packageRoot(), 'data', 'reverse-words');

/** Conversations of a chat JSONL file. */
export function readChats(path: string): ChatMessage[][] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { messages: ChatMessage[] }).messages);
}

/**
 * Exact-match accuracy of greedy answers: each conversation's last (assistant) message is the
 * expected answer to the ones before it, rendered with the tokenizer's chat template.
 */
export async function chatAccuracy(model: LlamaModel, tok: Tokenizer, chats: ChatMessage[][], limit = Infinity): Promise<{ accuracy: number; samples: { expected: string; got: string }[] }> {
  const tmpl = tok.vocab.chatTemplate;
  if (!tmpl) throw new ValueError('chatAccuracy: the tokenizer has no chat template');
  const t = new ChatTemplate(tmpl);
  const bos = tok.bos === undefined ? '' : tok.tokenToPiece(tok.bos);
  const eos = tok.eos === undefined ? '' : tok.tokenToPiece(tok.eos);
  let right = 0;
  const samples: { expected: string; got: string }[] = [];
  const list = chats.slice(0, limit);
  const wasTraining = model.training;
  model.eval();
  for (const c of list) {
    const expected = c.at(-1)!.content;
    const prompt = t.render(c.slice(0, -1), { addGenerationPrompt: true, bosToken: bos, eosToken: eos });
    const ids = tok.encode(prompt, { parseSpecial: true });
    const out: number[] = [];
    for await (const id of generate(model, ids, { maxTokens: 24, temperature: 0, stopTokens: [...tok.eog] })) out.push(id);
    const got = tok.decode(out).trim();
    if (got === expected) right++;
    if (samples.length < 3) samples.push({ expected, got });
  }
  model.train(wasTraining);
  return { accuracy: right / list.length, samples };
}

/** The options of the default run (what `edgetrain finetune` with no model or data does). */
export function defaultRunOptions(out: string): FinetuneOptions {
  return {
    model: DEFAULT_MODEL(),
    data: join(DEFAULT_TASK(), 'train.jsonl'),
    validation: join(DEFAULT_TASK(), 'validation.jsonl'),
    out,
    seqLen: 64,
    batchSize: 16,
    epochs: 12,
    lr: 3e-3,
    lora: { rank: 16, alpha: 32 },
    evalEvery: 150,
    checkpointEvery: 250,
    checkpointing: false,
  };
}


/**
 * The default run with accuracy before and after, printed through `io`. `over` holds the options
 * the user gave (resume, maxSteps, lr, ...), laid over the default run's own.
 */
export async function runDefaultFinetune(out: string, io: FinetuneCliIO, over: Partial<FinetuneOptions> = {}): Promise<{ before: number; after: number }> {
  const opts = overlayOptions(defaultRunOptions(out), { ...over, out });
  checkOutFolder(opts);
  const held = readChats(opts.validation as string);
  io.out(`No --model / --data: fine-tuning the shipped ${DEFAULT_MODEL()} (4M parameters, pretrained by edgetrain on Moby-Dick)`);
  io.out(`on ${opts.data}: reverse the order of three lines of one word each (the held-out ones use words never seen in training).`);
  const base = await loadModel(opts.model as string);
  const tok = base.tokenizer as Tokenizer;
  const before = await chatAccuracy(base.model, tok, held);
  base.model.dispose();
  io.out(`held-out accuracy before: ${(100 * before.accuracy).toFixed(0)}% (e.g. ${JSON.stringify(before.samples[0]?.got)} for ${JSON.stringify(before.samples[0]?.expected)})`);
  const r = await runFinetuneCli(opts, io);
  const after = await chatAccuracy(r.model, tok, held);
  io.out(`held-out accuracy after:  ${(100 * after.accuracy).toFixed(0)}% (e.g. ${JSON.stringify(after.samples[0]?.got)} for ${JSON.stringify(after.samples[0]?.expected)})`);
  r.model.dispose();
  return { before: before.accuracy, after: after.accuracy };
}
