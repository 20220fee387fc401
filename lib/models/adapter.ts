// LoRA adapters out and in: PEFT's folder (adapter_model.safetensors + adapter_config.json, the
// tensor names PEFT writes for HF module names) and llama.cpp's GGUF LoRA (`--lora`): general.type
// "adapter", adapter.lora.alpha, and per-weight `<gguf name>.lora_a` [r, in] / `.lora_b` [out, r]
// with Llama Q/K rows of B permuted as the converter permutes the weights.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, ValueError } from '../errors.js';
import { writeFileAtomic } from '../formats/atomic.js';
import { gguf, loadGGUF, readGGUFHeader, writeGGUF, type GGUFWritable } from '../formats/gguf.js';
import { loadSafetensors, saveSafetensors } from '../formats/safetensors.js';
import { noGrad } from '../autograd/engine.js';
import { add, mul } from '../ops/binary.js';
import { cast, contiguous, copyInto } from '../ops/copy.js';
import { matmul } from '../ops/matmul.js';
import { transpose } from '../ops/shape.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { Linear } from '../nn/linear.js';
import { Embedding } from '../nn/embedding.js';
import { applyLoRA, LoRAEmbedding, LoRALinear, type LoRAModule } from '../nn/lora.js';
import type { Module } from '../nn/module.js';
import { ggufToHFName, hfToGGUFName, permuteQK } from './gguf.js';
import type { LlamaModel } from './llama.js';

const PEFT_PREFIX = 'base_model.model.';

/** What the adapters of a model have in common (one rank and alpha for all, as PEFT's config states). */
export interface AdapterSummary {
  rank: number;
  alpha: number;
  rsLoRA: boolean;
  dropout: number;
  /** Last name components of the adapted modules, in first-seen order. */
  targets: string[];
  /** Adapted decoder layer indices (sorted), or null when every layer with a target is adapted. */
  layers: number[] | null;
}

export function summarizeAdapters(adapters: Map<string, LoRAModule>, numLayers: number): AdapterSummary {
  if (adapters.size === 0) throw new ValueError('adapter: the model has no LoRA adapters');
  const first = adapters.values().next().value as LoRAModule;
  const targets: string[] = [];
  const layers = new Set<number>();
  for (const [path, a] of adapters) {
    if (a.rank !== first.rank || a.alpha !== first.alpha || a.rsLoRA !== first.rsLoRA)
      throw new ValueError(`adapter: ${path} has rank ${a.rank}, alpha ${a.alpha} but the first adapter ${first.rank}, ${first.alpha}; one rank and alpha per file`);
    const name = path.split('.').pop()!;
    if (!targets.includes(name)) targets.push(name);
    const li = /(?:^|\.)layers\.(\d+)\./.exec(path);
    if (li) layers.add(Number(li[1]));
  }
  const sorted = [...layers].sort((a, b) => a - b);
  return {
    rank: first.rank,
    alpha: first.alpha,
    rsLoRA: first.rsLoRA,
    dropout: first instanceof LoRALinear ? first.dropoutP : 0,
    targets,
    layers: sorted.length === numLayers || sorted.length === 0 ? null : sorted,
  };
}

/** The LoRA modules of `model` by path. */
export function findAdapters(model: Module): Map<string, LoRAModule> {
  const out = new Map<string, LoRAModule>();
  for (const [path, m] of model.namedModules()) if (m instanceof LoRALinear || m instanceof LoRAEmbedding) out.set(path, m);
  return out;
}

// ---- PEFT ----------------------------------------------------------------------------------

/**
 * Writes `dir/adapter_model.safetensors` and `dir/adapter_config.json` in PEFT's layout, each
 * atomically. `baseModel` goes to base_model_name_or_path.
 */
export function savePEFTAdapter(dir: string, model: LlamaModel, opts?: { baseModel?: string; values?: ReadonlyMap<Tensor, Tensor> }): void {
  const value = (t: Tensor) => opts?.values?.get(t) ?? t;
  const adapters = findAdapters(model);
  const s = summarizeAdapters(adapters, model.config.numLayers);
  const tensors = new Map<string, Tensor>();
  for (const [path, a] of adapters) {
    if (a instanceof LoRALinear) {
      tensors.set(`${PEFT_PREFIX}${path}.lora_A.weight`, value(a.lora_A.weight));
      tensors.set(`${PEFT_PREFIX}${path}.lora_B.weight`, value(a.lora_B.weight));
    } else {
      tensors.set(`${PEFT_PREFIX}${path}.lora_embedding_A`, value(a.lora_embedding_A));
      tensors.set(`${PEFT_PREFIX}${path}.lora_embedding_B`, value(a.lora_embedding_B));
    }
  }
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: opts?.baseModel ?? null,
    r: s.rank,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    use_rslora: s.rsLoRA,
    target_modules: s.targets,
    layers_to_transform: s.layers,
    layers_pattern: s.layers ? 'layers' : null,
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_dora: false,
    inference_mode: true,
    revision: null,
  };
  mkdirSync(dir, { recursive: true });
  saveSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  writeFileAtomic(join(dir, 'adapter_config.json'), new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`));
}

function readPEFT(dir: string): { cfg: Record<string, unknown>; tensors: Map<string, Tensor> } {
  const cfgPath = join(dir, 'adapter_config.json');
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new FormatError(`loadAdapter: cannot read ${cfgPath}: ${(e as Error).message}`);
  }
  if (cfg.peft_type !== 'LORA') throw new FormatError(`loadAdapter: ${cfgPath}: peft_type ${JSON.stringify(cfg.peft_type)} (only LORA)`);
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (cfg[k] && Object.keys(cfg[k] as object).length) throw new FormatError(`loadAdapter: ${cfgPath}: per-module ${k} is not supported`);
  if (cfg.use_dora === true) throw new FormatError(`loadAdapter: ${cfgPath}: DoRA adapters are not supported`);
  const file = join(dir, 'adapter_model.safetensors');
  if (!existsSync(file)) throw new FormatError(`loadAdapter: ${dir} has no adapter_model.safetensors`);
  return { cfg, tensors: loadSafetensors(file, { device: 'cpu' }).tensors };
}

// ---- GGUF ----------------------------------------------------------------------------------

/**
 * Writes the adapters as a GGUF LoRA file llama.cpp loads with `--lora` next to the base GGUF.
 * rsLoRA's alpha / sqrt(r) is written as the alpha llama.cpp divides by r. Embedding adapters
 * have no GGUF form here and throw.
 */
export function saveGGUFAdapter(path: string, model: LlamaModel, opts?: { dtype?: 'float32' | 'float16' }): void {
  const c = model.config;
  const arch = c.architecture === 'mistral' ? 'llama' : c.architecture;
  const adapters = findAdapters(model);
  const s = summarizeAdapters(adapters, c.numLayers);
  const meta = new Map<string, GGUFWritable>();
  meta.set('general.architecture', gguf.str(arch));
  meta.set('general.type', gguf.str('adapter'));
  meta.set('general.name', gguf.str('edgetrain LoRA adapter'));
  meta.set('adapter.type', gguf.str('lora'));
  meta.set('adapter.lora.alpha', gguf.f32(s.rsLoRA ? s.alpha * Math.sqrt(s.rank) : s.alpha));
  const out: { name: string; tensor: Tensor }[] = [];
  const temps: Tensor[] = [];
  const dt = opts?.dtype ?? 'float32';
  try {
    for (const [p, a] of adapters) {
      if (!(a instanceof LoRALinear)) throw new ValueError(`saveGGUFAdapter: ${p}: embedding adapters have no GGUF LoRA form here; export PEFT instead`);
      const g = hfToGGUFName(`${p}.weight`, arch);
      if (!g) throw new ValueError(`saveGGUFAdapter: no GGUF name for ${p}.weight`);
      let b = a.lora_B.weight;
      if (arch === 'llama' && /attn_[qk]\.weight$/.test(g)) temps.push((b = permuteQK(b, g.includes('attn_q') ? c.numHeads : c.numKvHeads)));
      let aw = a.lora_A.weight;
      if (dt !== 'float32') {
        temps.push((aw = cast(aw, dt)));
        temps.push((b = cast(b, dt)));
      }
      out.push({ name: `${g}.lora_a`, tensor: aw }, { name: `${g}.lora_b`, tensor: b });
    }
    writeGGUF(path, { metadata: meta, tensors: out });
  } finally {
    for (const t of temps) t.dispose();
  }
}

// ---- loading -------------------------------------------------------------------------------

/**
 * Adds the adapters of a PEFT folder or a GGUF LoRA file to `model` (frozen base, adapters
 * trainable: continue training, or run inference) and returns them by module path. The file
 * must match the model: unknown modules or wrong shapes throw FormatError naming them.
 */
export function loadAdapter(model: LlamaModel, path: string): Map<string, LoRAModule> {
  if (!existsSync(path)) throw new ValueError(`loadAdapter: ${path} does not exist`);
  const c = model.config;
  const arch = c.architecture === 'mistral' ? 'llama' : c.architecture;
  // module path -> [A, B] in PEFT orientation (A [r, in], B [out, r]; embedding A [r, num], B [dim, r])
  const pairs = new Map<string, [Tensor | undefined, Tensor | undefined]>();
  const put = (p: string, i: 0 | 1, t: Tensor) => {
    const e = pairs.get(p) ?? [undefined, undefined];
    e[i] = t;
    pairs.set(p, e);
  };
  let rank: number;
  let alpha: number;
  let rsLoRA = false;
  let dropout = 0;
  let owned: Tensor[];
  if (statSync(path).isDirectory()) {
    const { cfg, tensors } = readPEFT(path);
    owned = [...tensors.values()];
    rank = Number(cfg.r);
    alpha = Number(cfg.lora_alpha ?? rank);
    rsLoRA = cfg.use_rslora === true;
    dropout = Number(cfg.lora_dropout ?? 0);
    for (const [n, t] of tensors) {
      const m = /^base_model\.model\.(.+)\.(lora_A\.weight|lora_B\.weight|lora_embedding_A|lora_embedding_B)$/.exec(n);
      if (!m) throw new FormatError(`loadAdapter: ${path}: unexpected tensor '${n}'`);
      put(m[1]!, m[2]!.includes('A') ? 0 : 1, t);
    }
  } else {
    const header = readGGUFHeader(path);
    if (header.metadata.get('general.type') !== 'adapter' || header.metadata.get('adapter.type') !== 'lora')
      throw new FormatError(`loadAdapter: ${path} is not a GGUF LoRA adapter (general.type '${String(header.metadata.get('general.type'))}')`);
    const fileArch = header.metadata.get('general.architecture');
    if (fileArch !== arch) throw new FormatError(`loadAdapter: ${path} is an adapter for '${String(fileArch)}', the model is '${arch}'`);
    const { tensors } = loadGGUF(path, { device: 'cpu' });
    owned = [...tensors.values()];
    rank = 0;
    for (const [n, t] of tensors) {
      const m = /^(.+)\.lora_([ab])$/.exec(n);
      const h = m ? ggufToHFName(m[1]!, arch) : undefined;
      if (!m || !h) throw new FormatError(`loadAdapter: ${path}: unexpected tensor '${n}'`);
      const p = h.replace(/\.weight$/, '');
      let v = t.dtype === 'float32' ? t : cast(t, 'float32');
      if (v !== t) owned.push(v);
      if (m[2] === 'b' && arch === 'llama' && /attn_[qk]\.weight$/.test(m[1]!)) {
        v = permuteQK(v, m[1]!.includes('attn_q') ? c.numHeads : c.numKvHeads, true);
        owned.push(v);
      }
      if (m[2] === 'a') rank = t.shape[0]!;
      put(p, m[2] === 'a' ? 0 : 1, v);
    }
    const a = header.metadata.get('adapter.lora.alpha');
    alpha = typeof a === 'number' ? a : rank;
  }
  try {
    if (!Number.isInteger(rank) || rank <= 0) throw new FormatError(`loadAdapter: ${path}: rank ${rank} is not a positive integer`);
    const targets = new Set<string>();
    const layers = new Set<number>();
    for (const [p, [a, b]] of pairs) {
      if (!a || !b) throw new FormatError(`loadAdapter: ${path}: ${p} has lora_${a ? 'B' : 'A'} but not its pair`);
      targets.add(p.split('.').pop()!);
      const li = /(?:^|\.)layers\.(\d+)\./.exec(p);
      if (li) layers.add(Number(li[1]));
    }
    const adapters = applyLoRA(model, { rank, alpha, rsLoRA, dropout, targets: [...targets], layers: layers.size ? [...layers] : undefined });
    for (const p of adapters.keys()) if (!pairs.has(p)) throw new FormatError(`loadAdapter: ${path} has no adapter for ${p}, though it adapts other '${p.split('.').pop()}' modules`);
    noGrad(() => {
      for (const [p, [a, b]] of pairs) {
        const m = adapters.get(p);
        if (!m) throw new FormatError(`loadAdapter: ${path}: ${p} is not a module of this model`);
        const [da, db] = m instanceof LoRALinear ? [m.lora_A.weight, m.lora_B.weight] : [m.lora_embedding_A, m.lora_embedding_B];
        for (const [src, dst, which] of [[a!, da, 'A'], [b!, db, 'B']] as const) {
          if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i]))
            throw new FormatError(`loadAdapter: ${path}: ${p} lora_${which} is [${src.shape}] but the model needs [${dst.shape}]`);
          copyInto(dst, src);
        }
      }
    });
    return adapters;
  } finally {
    for (const t of owned) if (!t.isDisposed) t.dispose();
  }
}

// ---- merging -------------------------------------------------------------------------------

/**
 * Folds every adapter into its base weight (W + s B A, in float32) and puts plain Linear /
 * Embedding modules back, so the model is the adapted function without adapters (save it with
 * saveGGUFModel or saveHFModel). Merged weights are float32 even when the base was float16.
 */
export function mergeLoRA(model: Module): void {
  for (const [path, parent] of [...model.namedModules()])
    for (const [name, child] of [...parent.namedChildren()]) {
      if (!(child instanceof LoRALinear) && !(child instanceof LoRAEmbedding)) continue;
      // a base weight another module also holds (tied embeddings and head) cannot take the update alone
      let shared = false;
      if (child.weight)
        for (const [, m] of model.namedModules()) if (m !== child && (m as unknown as { weight?: unknown }).weight === child.weight) shared = true;
      if (shared)
        throw new ValueError(`mergeLoRA: ${path ? `${path}.` : ''}${name}'s weight is shared (tied embeddings): merging would change the other module too; export the adapter instead`);
      const old = [...(child.weight ? [child.weight] : []), ...(child instanceof LoRALinear && child.bias ? [child.bias] : [])];
      if (child instanceof LoRALinear) {
        const w = noGrad(() =>
          tidy(() => {
            const base = child.qweight ? child.qweight.dequantize() : child.weight!.dtype === 'float32' ? child.weight! : cast(child.weight!, 'float32');
            return contiguous(add(base, mul(matmul(child.lora_B.weight, child.lora_A.weight), child.scale)));
          }),
        );
        const l = new Linear(child.inFeatures, child.outFeatures, { bias: child.bias !== null, device: w.device, init: false });
        l.loadStateDict(child.bias ? { weight: w, bias: noGrad(() => cast(child.bias!, 'float32')) } : { weight: w }, { assign: true });
        l.training = child.training;
        parent.replaceModule(name, l);
        child.lora_A.dispose();
        child.lora_B.dispose();
        child.qweight?.dispose();
      } else if (child instanceof LoRAEmbedding) {
        const w = noGrad(() =>
          tidy(() => {
            const base = child.weight.dtype === 'float32' ? child.weight : cast(child.weight, 'float32');
            return contiguous(add(base, mul(transpose(matmul(child.lora_embedding_B, child.lora_embedding_A)), child.scale)));
          }),
        );
        const e = new Embedding(child.numEmbeddings, child.embeddingDim, { device: w.device, init: false });
        e.loadStateDict({ weight: w }, { assign: true });
        parent.replaceModule(name, e);
        child.lora_embedding_A.dispose();
        child.lora_embedding_B.dispose();
      }
      for (const t of old) t.dispose();
    }
}

