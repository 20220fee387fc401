// The CLI's inspect command on real files.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';
import { inspectLines } from '../lib/cli/inspect.js';
import { runGenerate, stopTokensOf } from '../lib/cli/generate.js';
import { runFinetuneCli } from '../lib/cli/finetune.js';
import { runMerge } from '../lib/cli/merge.js';
import { makeTinyModel } from '../lib/models/tiny.js';
import { hfFiles } from './helpers/hf-tokenizer.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');

describe('edgetrain inspect', () => {
  test('a GGUF written by llama.cpp: architecture, sizes, tensor types, tokenizer', () => {
    const text = inspectLines(join(shared, 'quant/tiny-llama-Q4_K_M.gguf')).join('\n');
    expect(text).toMatch(/GGUF v3, .* architecture llama, 21 tensors, 3\.67M parameters/);
    expect(text).toMatch(/tensor types: .*Q4_K x13/);
    expect(text).toMatch(/llama\.block_count = 2/);
    expect(text).toMatch(/tokenizer: llama \(default\), 4096 tokens, bos 1, eos 2/);
    expect(text).toMatch(/token_embd\.weight\s+Q4_K\s+\[4096, 256\]/);
  });

  test('a safetensors file', () => {
    const p = join(mkdtempSync(join(tmpdir(), 'et-inspect-')), 'm.safetensors');
    et.saveSafetensors(p, { 'w.weight': et.ones([3, 5]), b: et.zeros([5]).cast('float16') }, { format: 'pt' });
    const text = inspectLines(p).join('\n');
    expect(text).toMatch(/safetensors, .* 2 tensors, 20 parameters/);
    expect(text).toMatch(/F32 x1, F16 x1/);
    expect(text).toMatch(/metadata format = "pt"/);
  });

  test('anything else is a FormatError', () => {
    expect(() => inspectLines('model.bin')).toThrow(et.FormatError);
  });
});

describe('edgetrain generate', () => {
  test('streams the same text greedy decoding gives, piece by piece', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-gen-'));
    const files = makeTinyModel(dir, { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf') });
    const pieces: string[] = [];
    const r = await runGenerate({ model: files.ggufF32!, prompt: 'Once upon a time', maxTokens: 12, temperature: 0 }, (s) => pieces.push(s));
    const { model, tokenizer } = await et.loadModel(files.ggufF32!);
    const ids = tokenizer!.encode('Once upon a time', { addSpecial: true });
    const expected: number[] = [];
    for await (const id of et.models.generate(model, ids, { maxTokens: 12, temperature: 0 })) expected.push(id);
    expect(r.tokens).toEqual(expected);
    expect(pieces.join('')).toBe(r.text);
    expect(r.text).toBe(tokenizer!.decode(expected));
    expect(r.tokens.length).toBeGreaterThan(0);
  });

  test('a model file without a readable tokenizer is refused clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-gen-'));
    const files = makeTinyModel(dir, { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf') });
    await expect(runGenerate({ model: files.hfDir!, prompt: 'x', maxTokens: 2, temperature: 0 }, () => {})).rejects.toThrow(/has no tokenizer/);
  });
});

describe('a Hugging Face folder with tokenizer.json', () => {
  test.each(['qwen2', 'llama-spm'])('%s: loadModel reads the tokenizer; generate gives the GGUF file\'s tokens and text', async (vocab) => {
    const dir = mkdtempSync(join(tmpdir(), 'et-gen-hf-'));
    const arch = vocab === 'qwen2' ? 'qwen2' : 'llama';
    const files = makeTinyModel(dir, { architecture: arch, vocabFile: join(shared, `vocab/ggml-vocab-${vocab}.gguf`), seed: 4, formats: ['gguf-f32', 'hf'] });
    const { json, config } = hfFiles(vocab);
    writeFileSync(join(files.hfDir!, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(join(files.hfDir!, 'tokenizer_config.json'), JSON.stringify(config));
    const hf = await et.loadModel(files.hfDir!);
    const g = await et.loadModel(files.ggufF32!);
    const prompt = 'Hello world, once upon a time 123';
    expect(hf.tokenizer!.encode(prompt, { addSpecial: true })).toEqual(g.tokenizer!.encode(prompt, { addSpecial: true }));
    hf.model.dispose();
    g.model.dispose();
    const a: string[] = [];
    const b: string[] = [];
    const ra = await runGenerate({ model: files.hfDir!, prompt, maxTokens: 16, temperature: 0 }, (s) => a.push(s));
    const rb = await runGenerate({ model: files.ggufF32!, prompt, maxTokens: 16, temperature: 0 }, (s) => b.push(s));
    expect(ra.tokens).toEqual(rb.tokens);
    expect(ra.tokens.length).toBeGreaterThan(0);
    expect(a.join('')).toBe(ra.text);
    expect(ra.text).toBe(rb.text);
  });
});

test('generate stops at every end-of-generation token of the vocabulary, not EOS alone', () => {
  const l3 = et.loadGGUFTokenizer(join(shared, 'vocab/ggml-vocab-llama-bpe.gguf'));
  const stops = stopTokensOf([l3.eos!], l3);
  expect(stops).toContain(l3.tokenId('<|end_of_text|>'));
  expect(stops).toContain(l3.tokenId('<|eot_id|>'));
  const q = et.loadGGUFTokenizer(join(shared, 'vocab/ggml-vocab-qwen2.gguf'));
  const qs = stopTokensOf([], q);
  expect(qs).toContain(q.tokenId('<|im_end|>'));
  expect(qs).toContain(q.tokenId('<|endoftext|>'));
  expect(qs).not.toContain(q.tokenId('<|im_start|>'));
});

describe('edgetrain finetune / generate --lora / merge', () => {
  test('fine-tunes with progress and a summary, writes the loss curve; the adapter and the merged model generate what was learned', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-cli-ft-'));
    const files = makeTinyModel(join(dir, 'm'), { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf'), seed: 1, formats: ['gguf-f32'] });
    const data = join(dir, 'd.jsonl');
    writeFileSync(data, [['Capital of France:', ' Paris'], ['Capital of Japan:', ' Tokyo']].map(([prompt, completion]) => JSON.stringify({ prompt, completion })).join('\n'));
    const err: string[] = [];
    const out: string[] = [];
    const r = await runFinetuneCli(
      { model: files.ggufF32!, data, out: join(dir, 'out'), seqLen: 16, batchSize: 2, epochs: 50, lr: 1e-2, lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'] }, checkpointEvery: 0 },
      { err: { write: (s: string) => err.push(s) }, out: (l) => out.push(l) },
    );
    r.model.dispose();
    const log = err.join('');
    expect(log).toMatch(/^finetune: 2 training rows, 0 validation rows, 50 steps, \d+ trainable parameters/);
    expect(log).toMatch(/\[#*\.*\] step 1\/50 epoch [\d.]+ loss [\d.]+ lr [\d.e+-]+ \d+ tok\/s ETA \d+m\d+s mem \d+ MiB/);
    expect(log).toMatch(/step 50\/50/);
    expect(out[0]).toBe('done after 50 steps');
    expect(out.join('\n')).toMatch(/adapter: .*adapter \(PEFT\), .*adapter\.gguf \(GGUF LoRA/);
    const svg = readFileSync(join(dir, 'out', 'loss.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/<polyline[^>]* points="([^"]+)"/)![1]!.split(' ')).length).toBe(50);
    for (const lora of [join(dir, 'out', 'adapter'), join(dir, 'out', 'adapter.gguf')]) {
      const g = await runGenerate({ model: files.ggufF32!, lora, prompt: 'Capital of Japan:', maxTokens: 3, temperature: 0 }, () => {});
      expect(g.text.trim().startsWith('Tokyo')).toBe(true);
    }
    const merged = join(dir, 'merged.gguf');
    await runMerge({ model: files.ggufF32!, lora: join(dir, 'out', 'adapter.gguf'), out: merged });
    const viaAdapter = await runGenerate({ model: files.ggufF32!, lora: join(dir, 'out', 'adapter'), prompt: 'Capital of France:', maxTokens: 6, temperature: 0 }, () => {});
    const viaMerged = await runGenerate({ model: merged, prompt: 'Capital of France:', maxTokens: 6, temperature: 0 }, () => {});
    expect(viaMerged.tokens).toEqual(viaAdapter.tokens);
    expect(viaMerged.text.trim().startsWith('Paris')).toBe(true);
    const hfOut = join(dir, 'merged-hf');
    await runMerge({ model: files.ggufF32!, lora: join(dir, 'out', 'adapter'), out: hfOut });
    expect(JSON.parse(readFileSync(join(hfOut, 'config.json'), 'utf8')).model_type).toBe('llama');
  });

  test('Ctrl-C stops after the step with a checkpoint, and --resume finishes the run', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-cli-int-'));
    const files = makeTinyModel(join(dir, 'm'), { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf'), seed: 2, formats: ['gguf-f32'] });
    const data = join(dir, 't.txt');
    writeFileSync(data, 'It was the best of times, it was the worst of times. '.repeat(20));
    let interrupt: (() => void) | undefined;
    const out: string[] = [];
    const opts = { model: files.ggufF32!, data, out: join(dir, 'out'), seqLen: 16, batchSize: 2, epochs: 2, checkpointEvery: 0 };
    const r = await runFinetuneCli(opts, {
      err: {
        write: (s: string) => {
          if (/step 1\//.test(s)) interrupt?.();
        },
      },
      out: (l) => out.push(l),
      onInterrupt: (fn) => ((interrupt = fn), () => (interrupt = undefined)),
    });
    expect(r.aborted).toBe(true);
    expect(out[0]).toMatch(/^stopped after \d+ steps \(resume with --resume --out /);
    expect(r.checkpoint).toMatch(/step-00000\d$/);
    r.model.dispose();
    const again: string[] = [];
    const r2 = await runFinetuneCli({ ...opts, resume: true }, { err: { write: () => {} }, out: (l) => again.push(l) });
    expect(again[0]).toMatch(/^done after \d+ steps$/);
    expect(r2.steps).toBeGreaterThan(r.steps);
    r2.model.dispose();
  });

  test('QLoRA from the CLI: finetune --quantize q4_0 on a float base, generate --quantize with the adapter; quantize --type nf4 writes a file edgetrain generates from', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-cli-qlora-'));
    const files = makeTinyModel(join(dir, 'm'), { vocabFile: join(shared, 'vocab/ggml-vocab-llama-spm.gguf'), seed: 1, formats: ['gguf-f32'] });
    const data = join(dir, 'd.jsonl');
    writeFileSync(data, [['Capital of France:', ' Paris'], ['Capital of Japan:', ' Tokyo']].map(([prompt, completion]) => JSON.stringify({ prompt, completion })).join('\n'));
    const r = await runFinetuneCli(
      { model: files.ggufF32!, data, out: join(dir, 'out'), quantize: 'q4_0', seqLen: 16, batchSize: 2, epochs: 50, lr: 1e-2, lora: { rank: 8, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'] }, checkpointEvery: 0 },
      { err: { write: () => {} }, out: () => {} },
    );
    const bases = [...r.model.namedModules()].filter(([, m]) => (m as { qweight?: { type: string } }).qweight?.type === 'Q4_0');
    expect(bases.length).toBe(7 * r.model.config.numLayers);
    r.model.dispose();
    const g = await runGenerate({ model: files.ggufF32!, quantize: 'q4_0', lora: join(dir, 'out', 'adapter'), prompt: 'Capital of Japan:', maxTokens: 3, temperature: 0 }, () => {});
    expect(g.text.trim().startsWith('Tokyo')).toBe(true);
    const q = join(dir, 'nf4.gguf');
    const out = execFileSync(process.execPath, [join(resolve(new URL('..', import.meta.url).pathname), 'dist', 'cli.js'), 'quantize', files.ggufF32!, q, '--type', 'nf4'], { encoding: 'utf8' });
    expect(out).toMatch(/nf4\.gguf: .*\d+ NF4/);
    expect(out).toMatch(/llama\.cpp has no NF4 type/);
    const viaFile = await runGenerate({ model: q, prompt: 'Capital of Japan:', maxTokens: 4, temperature: 0 }, () => {});
    expect(viaFile.tokens.length).toBe(4);
    // the file holds the blocks quantize-on-load makes
    const kept = await et.loadModel(q, { quantized: 'keep' });
    const onLoad = await et.loadModel(files.ggufF32!, { quantize: 'nf4' });
    const blocks = (m: et.models.LlamaModel) => Buffer.from((new Map(m.namedModules()).get('model.layers.0.mlp.down_proj') as unknown as { qweight: { data: et.Tensor } }).qweight.data.dataSync() as Uint8Array);
    expect(blocks(kept.model).equals(blocks(onLoad.model))).toBe(true);
    kept.model.dispose();
    onLoad.model.dispose();
  });

  test('finetune --help documents the options', () => {
    const cli = join(resolve(new URL('..', import.meta.url).pathname), 'dist', 'cli.js');
    const help = execFileSync(process.execPath, [cli, 'finetune', '--help'], { encoding: 'utf8' });
    for (const o of ['--model', '--data', '--lora-rank', '--lora-alpha', '--lora-targets', '--lora-layers', '--seq-len', '--batch-size', '--grad-accum', '--lr', '--schedule', '--resume', '--validation', '--skip-bad-lines', '--out'])
      expect(help).toContain(o);
  });
});
