// Layers look down only (DESIGN.md): reads every import of lib/**/*.ts and fails on one that
// reaches a layer above the importing file's own, or a sibling layer of the same tier.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

const LIB = resolve(new URL('..', import.meta.url).pathname, 'lib');

/**
 * Tiers from the bottom; a file may import its own layer and any layer of a lower tier. Layers
 * of one tier are siblings and import neither each other nor anything above.
 *   base       tensors and storage, the native call, dtypes, errors, devices, scopes, seeds, and
 *              the addon's table of block formats (quant-types.ts)
 *   autograd   the tape and backward; it runs its few kernels itself and imports no op
 *   ops        every op with its gradient, quantized ones too, and their facades (functional.ts:
 *              et.functional, methods.ts: Tensor methods)
 *   quant      quantized storage (QuantizedWeight) and the block formats in TypeScript
 *   formats    files to tensors and back (safetensors, GGUF): GGUF's quantized tensors load as
 *              QuantizedWeight, so formats sit above quant
 *   tokenizer, nn, optim   siblings over formats: GGUF vocabularies, modules and optimizers whose
 *              state dicts save to safetensors
 *   models, train          the decoder, loading, generation; the fine-tune loop
 *   entry      index.ts, the package: everything above but the CLI
 *   cli        the command line, which may use the package entry
 */
const TIERS: readonly (readonly string[])[] = [
  ['base'],
  ['autograd'],
  ['ops'],
  ['quant'],
  ['formats'],
  ['tokenizer', 'nn', 'optim'],
  ['models'],
  ['train'],
  ['entry'],
  ['cli'],
];

const BASE_FILES = new Set(['tensor.ts', 'dtype.ts', 'errors.ts', 'device.ts', 'scope.ts', 'random.ts', 'quant-types.ts']);
const OPS_FILES = new Set(['functional.ts', 'methods.ts']);

/** The layer of a file, by its path under lib/ ('ops/binary.ts'); undefined when none is assigned. */
function layerOf(path: string): string | undefined {
  const parts = path.split('/');
  if (parts.length > 1) {
    const dir = parts[0]!;
    if (dir === 'native') return 'base';
    return TIERS.some((t) => t.includes(dir)) ? dir : undefined;
  }
  if (BASE_FILES.has(path)) return 'base';
  if (OPS_FILES.has(path)) return 'ops';
  if (path === 'index.ts') return 'entry';
  return undefined;
}

/**
 * Imports that break the rule on purpose, `from -> to`, each type-only (erased when compiled, so
 * no module loads another): a tensor carries the tape node that made it (Tensor.gradFn), whose
 * type is autograd's.
 */
const TYPE_ONLY_EXCEPTIONS = new Set(['tensor.ts -> autograd/node.ts']);

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

const STATIC =
  /^\s*(import|export)\s+(type\s+)?((?:[\w$]+\s*,\s*)?\{[^}]*\}|\*\s+as\s+[\w$]+|\*|[\w$]+)\s+from\s+['"]([^'"]+)['"]/gm;
const BARE = /^\s*import\s+['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative imports of one file (paths under lib/, with .js read as .ts). */
function importsOf(file: string, src: string): Import[] {
  const out: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return;
    const to = relative(LIB, resolve(dirname(join(LIB, file)), spec)).replace(/\.js$/, '.ts');
    out.push({ from: file, to, typeOnly });
  };
  for (const m of src.matchAll(STATIC)) {
    const specifiers = m[3]!;
    // `import { type A, type B }` is as erased as `import type { A, B }`
    const named = /^\{([^}]*)\}$/.exec(specifiers.trim())?.[1];
    const allTypes = named !== undefined && named.split(',').filter((s) => s.trim()).every((s) => /^\s*type\s/.test(s));
    add(m[4]!, Boolean(m[2]) || allTypes);
  }
  for (const m of src.matchAll(BARE)) add(m[1]!, false);
  for (const m of src.matchAll(DYNAMIC)) add(m[1]!, false);
  return out;
}

function tierOf(layer: string): number {
  return TIERS.findIndex((t) => t.includes(layer));
}

/** The imports of `imports` that reach up or sideways, as 'from -> to (layer -> layer)'. */
function violations(imports: readonly Import[]): string[] {
  const bad: string[] = [];
  for (const imp of imports) {
    const a = layerOf(imp.from)!;
    const b = layerOf(imp.to);
    if (b === undefined) {
      bad.push(`${imp.from} -> ${imp.to} (not a file of any layer)`);
      continue;
    }
    if (a === b || tierOf(b) < tierOf(a)) continue;
    if (imp.typeOnly && TYPE_ONLY_EXCEPTIONS.has(`${imp.from} -> ${imp.to}`)) continue;
    bad.push(`${imp.from} -> ${imp.to} (${a} -> ${b}${tierOf(b) === tierOf(a) ? ', siblings' : ''}${imp.typeOnly ? ', type only' : ''})`);
  }
  return bad;
}

function libFiles(dir = LIB): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return libFiles(p);
    return e.name.endsWith('.ts') ? [relative(LIB, p)] : [];
  });
}

describe('layers', () => {
  const files = libFiles();
  const imports = files.flatMap((f) => importsOf(f, readFileSync(join(LIB, f), 'utf8')));

  test('every file of lib belongs to a layer', () => {
    expect(files.filter((f) => layerOf(f) === undefined)).toEqual([]);
  });

  test('the scan reads the imports it should', () => {
    // a multi-line named import, a type-only one, a re-export, a bare import
    const seen = (from: string, to: string) => imports.find((i) => i.from === from && i.to === to);
    expect(seen('autograd/engine.ts', 'autograd/kernels.ts')?.typeOnly).toBe(false);
    expect(seen('formats/gguf-read.ts', 'formats/gguf-types.ts')).toBeDefined();
    expect(seen('tensor.ts', 'autograd/node.ts')?.typeOnly).toBe(true);
    expect(seen('index.ts', 'ops/index.ts')).toBeDefined();
    expect(seen('index.ts', 'methods.ts')).toBeDefined();
    expect(imports.length).toBeGreaterThan(300);
  });

  test('no layer imports one above it (or a sibling)', () => {
    expect(violations(imports)).toEqual([]);
  });

  test('autograd imports no op, module or model', () => {
    const up = imports.filter((i) => i.from.startsWith('autograd/') && !['base', 'autograd'].includes(layerOf(i.to) ?? ''));
    expect(up).toEqual([]);
  });

  test('the check itself flags an upward, a sibling and a type-only import', () => {
    expect(
      violations([
        { from: 'autograd/engine.ts', to: 'ops/binary.ts', typeOnly: false },
        { from: 'nn/module.ts', to: 'optim/adamw.ts', typeOnly: false },
        { from: 'ops/quant.ts', to: 'quant/qweight.ts', typeOnly: true },
        { from: 'tensor.ts', to: 'autograd/node.ts', typeOnly: false },
        { from: 'ops/binary.ts', to: 'autograd/engine.ts', typeOnly: false },
      ]),
    ).toEqual([
      'autograd/engine.ts -> ops/binary.ts (autograd -> ops)',
      'nn/module.ts -> optim/adamw.ts (nn -> optim, siblings)',
      'ops/quant.ts -> quant/qweight.ts (ops -> quant, type only)',
      'tensor.ts -> autograd/node.ts (base -> autograd)',
    ]);
  });
});
