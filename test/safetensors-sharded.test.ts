// Sharded safetensors (Hugging Face layout): write, index, load back; malformed indexes.
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import * as et from '../lib/index.js';

const tensors = () => ({
  'model.embed_tokens.weight': et.randn([32, 16], { seed: 1 }),
  'model.layers.0.self_attn.q_proj.weight': et.randn([16, 16], { seed: 2 }),
  'model.layers.0.mlp.up_proj.weight': et.randn([40, 16], { seed: 3 }),
  'model.norm.weight': et.ones([16]).cast('bfloat16'),
});

describe('sharded safetensors', () => {
  test('shards by size, writes the index, and loads back every tensor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-shard-'));
    const src = tensors();
    const files = et.saveSafetensorsModel(dir, src, { maxShardBytes: 3000 });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    for (const p of [dir, join(dir, 'model.safetensors.index.json')]) {
      const { tensors: got } = et.loadSafetensorsModel(p);
      expect([...got.keys()].sort()).toEqual(Object.keys(src).sort());
      for (const [k, t] of Object.entries(src)) {
        expect(got.get(k)!.dtype).toBe(t.dtype);
        expect(Array.from(got.get(k)!.dataSync())).toEqual(Array.from(t.dataSync()));
      }
    }
  });

  test('a single shard is model.safetensors without an index', () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-shard-'));
    et.saveSafetensorsModel(dir, tensors());
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(dir, 'model.safetensors.index.json'))).toBe(false);
    expect(et.loadSafetensorsModel(dir).tensors.size).toBe(4);
  });

  test('bad indexes are FormatErrors naming the problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'et-shard-'));
    et.saveSafetensorsModel(dir, tensors(), { maxShardBytes: 3000 });
    const index = join(dir, 'model.safetensors.index.json');
    writeFileSync(index, '{ not json');
    expect(() => et.loadSafetensorsModel(dir)).toThrow(/not valid JSON/);
    writeFileSync(index, JSON.stringify({ weight_map: { a: '../etc/passwd' } }));
    expect(() => et.loadSafetensorsModel(dir)).toThrow(/must be a file name in the same folder/);
    writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00009-of-00009.safetensors' } }));
    expect(() => et.loadSafetensorsModel(dir)).toThrow(/shard model-00009-of-00009.safetensors .* does not exist/);
    writeFileSync(index, JSON.stringify({ weight_map: { missing: 'model-00001-of-00003.safetensors' } }));
    expect(() => et.loadSafetensorsModel(dir)).toThrow(/tensor 'missing' is not in its shard/);
    writeFileSync(index, JSON.stringify({ nothing: 1 }));
    expect(() => et.loadSafetensorsModel(dir)).toThrow(et.FormatError);
    expect(() => et.loadSafetensorsModel(mkdtempSync(join(tmpdir(), 'et-empty-')))).toThrow(/no model.safetensors.index.json or model.safetensors/);
  });
});
