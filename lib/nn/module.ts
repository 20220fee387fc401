// nn.Module: a tree of modules owning parameters (trainable leaf tensors) and buffers.
//
// Registration is explicit — `this.weight = this.registerParameter('weight', t)` — rather than
// discovered by walking properties: a tensor-valued property could be a parameter, a buffer or a
// cache, and guessing wrong silently drops it from state dicts. The registry holds only names,
// in registration order; values are read from the property of that name, so reassigning
// `this.weight = other` (as `to()` and LoRA wrapping do) is seen everywhere.
import { noGrad } from '../autograd/engine.js';
import { EdgeTrainError, ShapeError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../formats/safetensors.js';
import { copyInto, to as toDevice } from '../ops/copy.js';
import { keep } from '../scope.js';
import { Tensor } from '../tensor.js';

/**
 * Makes `t` a parameter: a leaf that requires grad and is not owned by any tidy() scope (it
 * lives until the module is disposed). Returns `t`.
 */
export function parameter(t: Tensor): Tensor {
  if (!t.isLeaf) throw new EdgeTrainError(`parameter: tensor of shape [${t.shape}] is not a leaf; detach() it first`);
  keep(t);
  t.requiresGrad = true;
  return t;
}

/** Result of Module.loadStateDict. */
export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export interface LoadStateDictOptions {
  /** Throw when a key is missing or unexpected (default true). Shape mismatches always throw. */
  strict?: boolean;
  /**
   * Take the given tensors themselves instead of copying into the existing ones (PyTorch's
   * `assign=True`): no copy, and each keeps its own dtype (a float16 or memory-mapped weight is
   * used in place). The module owns them afterwards: do not dispose them. A tensor on another
   * device is moved (that copy is the one taken). requiresGrad is carried over from the replaced
   * tensor; optimizers built before the call still hold the old ones.
   */
  assign?: boolean;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Base class of layers and models, in the shape of PyTorch's nn.Module.
 *
 * Subclasses register their parameters, buffers and submodules in the constructor with
 * {@link Module.registerParameter}, {@link Module.registerBuffer} and {@link Module.registerModule},
 * assigning the returned value to a property of the same name, and implement `forward`.
 * Names in `namedParameters()` / `stateDict()` are dotted paths (`layers.0.attn.q.weight`) in
 * registration order.
 */
export abstract class Module {
  /** Training mode (dropout active); set for the whole tree with train()/eval(). */
  training = true;
  private readonly _params: string[] = [];
  private readonly _buffers: string[] = [];
  private readonly _nonPersistent = new Set<string>();
  private readonly _modules: string[] = [];

  /** Runs the module. */
  abstract forward(...args: any[]): any;

  private get slots(): Record<string, unknown> {
    return this as unknown as Record<string, unknown>;
  }

  private claim(name: string, kind: string): void {
    if (!name || name.includes('.')) throw new EdgeTrainError(`${kind}: invalid name '${name}' (non-empty, no dots)`);
    if (this._params.includes(name) || this._buffers.includes(name) || this._modules.includes(name))
      throw new EdgeTrainError(`${kind}: '${name}' is already registered on ${this.constructor.name}`);
  }

  /**
   * Registers `t` (made a parameter, see {@link parameter}) under `name` and sets `this[name]`.
   * `null` registers an absent optional parameter (a Linear without bias). Returns `t`.
   */
  registerParameter<T extends Tensor | null>(name: string, t: T): T {
    this.claim(name, 'registerParameter');
    if (t) {
      parameter(t);
      t.name = name;
    }
    this._params.push(name);
    this.slots[name] = t;
    return t;
  }

  /**
   * Registers a non-trainable tensor (running statistics, rotary tables). Persistent buffers are
   * part of stateDict(); all are moved by to() and freed by dispose(). Returns `t`.
   */
  registerBuffer<T extends Tensor | null>(name: string, t: T, opts?: { persistent?: boolean }): T {
    this.claim(name, 'registerBuffer');
    if (t) keep(t);
    this._buffers.push(name);
    if (opts?.persistent === false) this._nonPersistent.add(name);
    this.slots[name] = t;
    return t;
  }

  /** Registers a submodule under `name` and sets `this[name]`. Returns `m`. */
  registerModule<M extends Module | null>(name: string, m: M): M {
    this.claim(name, 'registerModule');
    this._modules.push(name);
    this.slots[name] = m;
    return m;
  }

  /**
   * Puts `m` in the place of the registered submodule `name` (wrapping a layer, e.g. with LoRA);
   * sets `this[name]`. Returns the module it replaced, which is not disposed.
   */
  replaceModule<M extends Module>(name: string, m: M): Module | null {
    if (!this._modules.includes(name)) throw new EdgeTrainError(`replaceModule: '${name}' is not a submodule of ${this.constructor.name}`);
    const old = this.slots[name] as Module | null;
    this.slots[name] = m;
    return old;
  }

  private own(name: string): Tensor | null {
    const v = this.slots[name];
    if (v === null || v === undefined) return null;
    if (!(v instanceof Tensor)) throw new EdgeTrainError(`${this.constructor.name}.${name} is registered as a tensor but holds ${typeof v}`);
    return v;
  }

  /** Direct submodules with their names. */
  *namedChildren(): Generator<[string, Module]> {
    for (const n of this._modules) {
      const m = this.slots[n];
      if (m instanceof Module) yield [n, m];
    }
  }

  /** Direct submodules. */
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }

  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${n}` : n);
  }

  /** This module and every descendant, depth first. */
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Every parameter and buffer under every name it has (tied tensors appear under each). */
  private allNamedTensors(): [string, Tensor, 'param' | 'buffer' | 'nonpersistent'][] {
    const out: [string, Tensor, 'param' | 'buffer' | 'nonpersistent'][] = [];
    for (const [path, m] of this.namedModules()) {
      const full = (n: string) => (path ? `${path}.${n}` : n);
      for (const n of m._params) {
        const t = m.own(n);
        if (t) out.push([full(n), t, 'param']);
      }
      for (const n of m._buffers) {
        const t = m.own(n);
        if (t) out.push([full(n), t, m._nonPersistent.has(n) ? 'nonpersistent' : 'buffer']);
      }
    }
    return out;
  }

  /**
   * Parameters with dotted names: own parameters first, then each submodule's, in registration
   * order. A tensor shared by two modules is listed once (under its first name).
   */
  namedParameters(opts?: { prefix?: string; trainableOnly?: boolean }): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [path, m] of this.namedModules(opts?.prefix ?? '')) {
      for (const n of m._params) {
        const t = m.own(n);
        if (!t || seen.has(t) || (opts?.trainableOnly && !t.requiresGrad)) continue;
        seen.add(t);
        out.push([path ? `${path}.${n}` : n, t]);
      }
    }
    return out;
  }

  /** Every parameter (trainableOnly: those with requiresGrad, what an optimizer should get). */
  parameters(opts?: { trainableOnly?: boolean }): Tensor[] {
    return this.namedParameters(opts).map(([, t]) => t);
  }

  /** Buffers with dotted names (persistent and not). */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules()) {
      for (const n of m._buffers) {
        const t = m.own(n);
        if (t) out.push([path ? `${path}.${n}` : n, t]);
      }
    }
    return out;
  }

  /** Total element count of the parameters (trainableOnly: those with requiresGrad). */
  numParameters(opts?: { trainableOnly?: boolean }): number {
    let n = 0;
    for (const t of this.parameters(opts)) n += t.numel;
    return n;
  }

  /** Sets training mode on this module and all descendants. Returns this. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** train(false): dropout off. Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Turns requiresGrad on or off for every parameter. Returns this. */
  requiresGrad_(requiresGrad = true): this {
    for (const t of this.parameters()) t.requiresGrad = requiresGrad;
    return this;
  }

  /** requiresGrad_(false): the parameters stop receiving gradients (frozen base weights). */
  freeze(): this {
    return this.requiresGrad_(false);
  }

  /** requiresGrad_(true). */
  unfreeze(): this {
    return this.requiresGrad_(true);
  }

  /** Frees every parameter's gradient and sets it to null. */
  zeroGrad(): void {
    for (const t of this.parameters()) {
      t.grad?.dispose();
      t.grad = null;
    }
  }

  /**
   * Parameters and persistent buffers by dotted name, in registration order (parameters first).
   * A tensor tied to several names (shared embedding and output weights) appears once, under
   * its first name. These are the module's own tensors, not copies: do not dispose them, and
   * copy them before changing the module if a snapshot is needed.
   */
  stateDict(): Map<string, Tensor> {
    const sd = new Map<string, Tensor>();
    const seen = new Set<Tensor>();
    const all = this.allNamedTensors();
    for (const kind of ['param', 'buffer'] as const)
      for (const [name, t, k] of all) {
        if (k !== kind || seen.has(t)) continue;
        seen.add(t);
        sd.set(name, t);
      }
    return sd;
  }

  /**
   * Copies values from `sd` into the parameters and buffers in place (so optimizers holding
   * them stay valid), converting dtype and device as needed. A tied tensor may be given under
   * any of its names. Everything is checked before anything is copied: a shape mismatch throws
   * ShapeError naming the key and both shapes; with `strict` (default) missing or unexpected
   * keys throw, listed in the message.
   */
  loadStateDict(sd: Map<string, Tensor> | Record<string, Tensor>, opts?: LoadStateDictOptions): LoadResult {
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const byName = new Map<string, Tensor>();
    for (const [name, t, kind] of this.allNamedTensors()) if (kind !== 'nonpersistent') byName.set(name, t);
    const provided = new Set<Tensor>();
    for (const k of src.keys()) {
      const t = byName.get(k);
      if (t) provided.add(t);
    }
    const missingKeys = [...this.stateDict()].filter(([, t]) => !provided.has(t)).map(([k]) => k);
    const unexpectedKeys = [...src.keys()].filter((k) => !byName.has(k));
    if ((opts?.strict ?? true) && (missingKeys.length || unexpectedKeys.length)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new EdgeTrainError(`loadStateDict: ${parts.join('; ')} (pass { strict: false } to load the rest)`);
    }
    const pairs: [Tensor, Tensor][] = [];
    for (const [k, s] of src) {
      const d = byName.get(k);
      if (!d) continue;
      s.assertLive(`loadStateDict '${k}'`);
      if (s.shape.length !== d.shape.length || s.shape.some((x, i) => x !== d.shape[i]))
        throw new ShapeError(`loadStateDict: '${k}' has shape ${fmt(s.shape)} in the state dict but ${fmt(d.shape)} in the module`);
      pairs.push([d, s]);
    }
    if (opts?.assign) {
      this.assignTensors(pairs);
      return { missingKeys, unexpectedKeys };
    }
    noGrad(() => {
      for (const [d, s] of pairs) {
        if (d === s) continue;
        const moved = s.device === d.device ? s : toDevice(s, d.device);
        try {
          copyInto(d, moved);
        } finally {
          if (moved !== s) moved.dispose();
        }
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // loadStateDict({ assign: true }): every slot (tied names included) holding d now holds s.
  private assignTensors(pairs: [Tensor, Tensor][]): void {
    const slots = new Map<Tensor, [Module, string, 'param' | 'buffer'][]>();
    for (const m of this.modules())
      for (const [names, kind] of [[m._params, 'param'], [m._buffers, 'buffer']] as const)
        for (const n of names) {
          const t = m.own(n);
          if (t) slots.set(t, [...(slots.get(t) ?? []), [m, n, kind]]);
        }
    for (const [d, s] of pairs) {
      if (d === s) continue;
      const t = s.device === d.device ? s : noGrad(() => toDevice(s, d.device));
      if (!t.isLeaf) throw new EdgeTrainError(`loadStateDict: '${d.name}' would be assigned a non-leaf tensor; detach() it first`);
      keep(t);
      t.requiresGrad = d.requiresGrad;
      t.name = d.name;
      for (const [m, n] of slots.get(d) ?? []) m.slots[n] = t;
      d.dispose();
    }
  }

  /** Writes stateDict() to a safetensors file (atomically), with optional string metadata. */
  save(path: string, metadata?: Record<string, string>): void {
    saveSafetensors(path, this.stateDict(), metadata);
  }

  /**
   * Loads a safetensors file written by save() (or any file with matching names) into this
   * module via loadStateDict. Returns the missing/unexpected keys and the file's metadata.
   */
  load(path: string, opts?: LoadStateDictOptions): LoadResult & { metadata: Record<string, string> } {
    const { tensors, metadata } = loadSafetensors(path, { device: 'cpu' });
    try {
      return { ...this.loadStateDict(tensors, opts), metadata };
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }

  /**
   * Moves parameters, their gradients and buffers to `device` (new tensors replace the
   * properties; the old ones are freed). Do this before creating an optimizer: it holds the
   * old tensors. Returns this.
   */
  to(device: string): this {
    const done = new Map<Tensor, Tensor>(); // tied tensors move once and stay tied
    noGrad(() => {
      for (const m of this.modules()) {
        for (const n of [...m._params, ...m._buffers]) {
          const t = m.own(n);
          if (!t) continue;
          const already = done.get(t);
          if (already) {
            m.slots[n] = already;
            continue;
          }
          if (t.device === device) continue;
          const moved = keep(toDevice(t, device));
          done.set(t, moved);
          if (t.requiresGrad) moved.requiresGrad = true;
          const g = t.grad;
          if (g) {
            t.grad = null; // so t.dispose() below does not free it if it is already on device
            moved.grad = g.device === device ? g : keep(toDevice(g, device));
            if (moved.grad !== g) g.dispose();
          }
          moved.name = t.name;
          m.slots[n] = moved;
          t.dispose();
        }
      }
    });
    return this;
  }

  /** Frees every parameter (with its gradient) and buffer in the tree. Idempotent. */
  dispose(): void {
    for (const m of this.modules()) {
      for (const n of [...m._params, ...m._buffers]) m.own(n)?.dispose();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    const lines = [...this.namedChildren()].map(([n, m]) => `  (${n}): ${m.toString().replace(/\n/g, '\n  ')}`);
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    return lines.length ? `${head}\n${lines.join('\n')}\n)` : `${head})`;
  }

  /** Extra text inside toString()'s parentheses (layer sizes). */
  protected extraRepr(): string {
    return '';
  }
}
