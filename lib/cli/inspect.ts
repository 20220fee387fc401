// `edgetrain inspect <file>`: what a model file holds, without loading its weights.
import { statSync } from 'node:fs';
import { readGGUFHeader, type GGUFValue } from '../formats/gguf.js';
import { readSafetensorsHeader } from '../formats/safetensors.js';
import { FormatError } from '../errors.js';

const human = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);

function show(v: GGUFValue): string {
  if (typeof v === 'string') return v.length > 80 ? `${JSON.stringify(v.slice(0, 77))}... (${v.length} chars)` : JSON.stringify(v);
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const a = v as ArrayLike<unknown>;
    const head = Array.from({ length: Math.min(a.length, 4) }, (_, i) => JSON.stringify(a[i], (_k, x) => (typeof x === 'bigint' ? String(x) : x)));
    return `[${head.join(', ')}${a.length > 4 ? `, ... ${a.length} items` : ''}]`;
  }
  return String(v);
}

/** Lines describing a GGUF or safetensors file. */
export function inspectLines(path: string): string[] {
  const out: string[] = [];
  if (path.endsWith('.safetensors')) {
    const h = readSafetensorsHeader(path);
    let params = 0;
    const types = new Map<string, number>();
    for (const e of h.entries) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      params += n;
      types.set(e.fileDType, (types.get(e.fileDType) ?? 0) + 1);
    }
    out.push(`${path}: safetensors, ${human(h.fileSize)}B, ${h.entries.length} tensors, ${human(params)} parameters`);
    out.push(`tensor types: ${[...types].map(([t, n]) => `${t} x${n}`).join(', ')}`);
    for (const [k, v] of Object.entries(h.metadata)) out.push(`metadata ${k} = ${show(v)}`);
    for (const e of h.entries.slice(0, 12)) out.push(`  ${e.name.padEnd(48)} ${e.fileDType.padEnd(5)} [${e.shape.join(', ')}]`);
    if (h.entries.length > 12) out.push(`  ... ${h.entries.length - 12} more`);
    return out;
  }
  if (!path.endsWith('.gguf')) throw new FormatError(`inspect: ${path}: expected a .gguf or .safetensors file`);
  const h = readGGUFHeader(path);
  const md = h.metadata;
  const arch = md.get('general.architecture');
  let params = 0;
  const types = new Map<string, number>();
  for (const t of h.tensors) {
    params += t.numel;
    types.set(t.typeName, (types.get(t.typeName) ?? 0) + 1);
  }
  out.push(`${path}: GGUF v${h.version}, ${human(statSync(path).size)}B, architecture ${arch ?? '(none)'}, ${h.tensors.length} tensors, ${human(params)} parameters`);
  if (types.size) out.push(`tensor types: ${[...types].map(([t, n]) => `${t} x${n}`).join(', ')}`);
  for (const [k, v] of md) {
    if (k.startsWith('tokenizer.ggml.') && k !== 'tokenizer.ggml.model' && k !== 'tokenizer.ggml.pre') continue;
    if (k === 'tokenizer.chat_template') continue;
    out.push(`  ${k} = ${show(v)}`);
  }
  const tokens = md.get('tokenizer.ggml.tokens');
  if (tokens) {
    const bos = md.get('tokenizer.ggml.bos_token_id');
    const eos = md.get('tokenizer.ggml.eos_token_id');
    out.push(`tokenizer: ${md.get('tokenizer.ggml.model')} (${md.get('tokenizer.ggml.pre') ?? 'default'}), ${(tokens as string[]).length} tokens, bos ${bos ?? '-'}, eos ${eos ?? '-'}`);
  }
  const tpl = md.get('tokenizer.chat_template');
  out.push(tpl ? `chat template: ${(tpl as string).length} chars` : 'chat template: none');
  for (const t of h.tensors.slice(0, 12)) out.push(`  ${t.name.padEnd(32)} ${t.typeName.padEnd(5)} [${t.shape.join(', ')}]`);
  if (h.tensors.length > 12) out.push(`  ... ${h.tensors.length - 12} more`);
  return out;
}
