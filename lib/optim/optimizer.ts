// Optimizer base: parameter groups with per-group options, lazily created per-parameter state,
// and checkpointing of that state (in memory or as a safetensors file).
import { noGrad } from '../autograd/engine.js';
import { DTypeError, EdgeTrainError, ShapeError, ValueError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../formats/safetensors.js';
import { copyInto, to as toDevice } from '../ops/copy.js';
import { zerosLike } from '../ops/creation.js';
import { keep } from '../scope.js';
import { Tensor } from '../tensor.js';

/** Options every optimizer has. */
export interface BaseOptions {
  lr: number;
}

/** A group of parameters sharing options (PyTorch's param_groups entries). */
export type ParamGroup<O extends BaseOptions> = O & { params: Tensor[] };

/** Parameters for an optimizer: a list, or groups each overriding some options. */
export type ParamsInput<O extends BaseOptions> = Iterable<Tensor> | Array<{ params: Iterable<Tensor> } & Partial<O>>;

/** Per-parameter state: the number of steps taken and named buffers (AdamW's m and v). */
export interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

/**
 * An optimizer checkpoint. State is keyed by the parameter's index over all groups in order;
 * the buffers are the optimizer's live tensors (not copies), so save them before the next step.
 */
export interface OptimizerStateDict {
  state: Record<number, { step: number; buffers: Record<string, Tensor> }>;
  paramGroups: Array<Record<string, unknown> & { params: number[] }>;
}

export interface StepOptions {
  /**
   * Multiplies every gradient before use (e.g. 1/lossScale, or a clipping factor), applied
   * inside the update kernel so no scaled copy of the gradients is made. Default 1.
   */
  gradScale?: number;
}

const META_KEY = 'edgetrain.optimizer';

/** Throws ValueError unless v is a finite number (and >= min when given). */
export function checkNumber(op: string, name: string, v: unknown, min?: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ValueError(`${op}: ${name} must be a finite number, got ${String(v)}`);
  if (min !== undefined && v < min) throw new ValueError(`${op}: ${name} must be >= ${min}, got ${v}`);
}

/** Base class: subclasses define the defaults, option validation and the per-parameter update. */
export abstract class Optimizer<O extends BaseOptions> {
  readonly paramGroups: ParamGroup<O>[];
  /** Per-parameter state, created on a parameter's first update. */
  readonly state = new Map<Tensor, ParamState>();
  protected readonly defaults: O;

  protected constructor(params: ParamsInput<O>, defaults: O) {
    this.defaults = defaults;
    const list = [...(params as Iterable<unknown>)];
    const grouped = list.length > 0 && !(list[0] instanceof Tensor);
    if (list.length === 0) throw new ValueError(`${this.name}: got an empty parameter list (all parameters frozen?)`);
    const inits = (grouped ? list : [{ params: list }]) as Array<{ params: Iterable<Tensor> } & Partial<O>>;
    const seen = new Set<Tensor>();
    this.paramGroups = inits.map((g, gi) => {
      const ps = [...g.params];
      for (const p of ps) {
        if (!(p instanceof Tensor)) throw new EdgeTrainError(`${this.name}: group ${gi} holds something that is not a Tensor`);
        if (seen.has(p)) throw new EdgeTrainError(`${this.name}: a parameter (shape [${p.shape}]) appears twice`);
        seen.add(p);
      }
      const group = { ...defaults, ...g, params: ps } as ParamGroup<O>;
      this.validate(group);
      return group;
    });
  }

  /** The optimizer's name in messages. */
  protected get name(): string {
    return this.constructor.name;
  }

  /** Throws ValueError for options outside their range. */
  protected abstract validate(o: O): void;

  /** Updates one parameter in place from its gradient (state already has `step` incremented). */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState, gradScale: number): void;

  /** Buffers a parameter's state holds, created as zeros on its first update. */
  protected abstract bufferNames(group: ParamGroup<O>): string[];

  /** The first group's learning rate. */
  get lr(): number {
    return this.paramGroups[0]?.lr ?? this.defaults.lr;
  }
  /** Sets the learning rate of every group. */
  set lr(v: number) {
    checkNumber(this.name, 'lr', v, 0);
    for (const g of this.paramGroups) g.lr = v;
  }

  /** Every parameter, group by group. */
  params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** Frees every parameter's gradient and sets it to null (the next backward starts fresh). */
  zeroGrad(): void {
    for (const p of this.params()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** One update of every parameter that has a gradient (parameters with a null grad are skipped). */
  step(opts?: StepOptions): void {
    const gradScale = opts?.gradScale ?? 1;
    checkNumber(this.name, 'gradScale', gradScale);
    noGrad(() => {
      for (const group of this.paramGroups) {
        this.validate(group); // options may have been edited since construction
        for (const p of group.params) {
          const g = p.grad;
          if (!g || p.numel === 0) continue;
          this.checkPair(p, g);
          let st = this.state.get(p);
          if (!st) {
            st = { step: 0, buffers: {} };
            for (const b of this.bufferNames(group)) st.buffers[b] = this.newBuffer(p);
            this.state.set(p, st);
          }
          st.step++;
          // the kernels want a dense grad; accumulated grads already are, user-set ones may not be
          const dense = g.isContiguous() ? g : g.contiguousCopy();
          try {
            this.update(p, dense, group, st, gradScale);
          } finally {
            if (dense !== g) dense.dispose();
          }
        }
      }
    });
  }

  /** A zero-filled state buffer shaped like p, owned by the optimizer (outside any tidy scope). */
  protected newBuffer(p: Tensor): Tensor {
    return keep(zerosLike(p));
  }

  private checkPair(p: Tensor, g: Tensor): void {
    p.assertLive(`${this.name}.step`);
    g.assertLive(`${this.name}.step (grad)`);
    const who = p.name ? `'${p.name}'` : `of shape [${p.shape}]`;
    if (p.dtype !== 'float32' || g.dtype !== 'float32')
      throw new DTypeError(`${this.name}.step: parameter ${who} is ${p.dtype} with a ${g.dtype} grad; the update needs float32 for both`);
    if (!p.isContiguous()) throw new ShapeError(`${this.name}.step: parameter ${who} is not contiguous`);
    if (g.shape.length !== p.shape.length || g.shape.some((s, i) => s !== p.shape[i]))
      throw new ShapeError(`${this.name}.step: parameter ${who} has shape [${p.shape}] but its grad [${g.shape}]`);
  }

  /** The optimizer's state (see {@link OptimizerStateDict}); buffers are live, not copies. */
  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let i = 0;
    for (const g of this.paramGroups) {
      const { params, ...opts } = g;
      const idx: number[] = [];
      for (const p of params) {
        const st = this.state.get(p);
        if (st) state[i] = { step: st.step, buffers: { ...st.buffers } };
        idx.push(i++);
      }
      paramGroups.push({ ...structuredClone(opts), params: idx });
    }
    return { state, paramGroups };
  }

  /**
   * Restores options and state from {@link stateDict} output (of an optimizer over parameters of
   * the same shapes, in the same order). Buffers are copied, so `sd` may be freed afterwards.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    if (sd.paramGroups.length !== this.paramGroups.length)
      throw new EdgeTrainError(`${this.name}.loadStateDict: ${sd.paramGroups.length} parameter groups in the state dict, ${this.paramGroups.length} here`);
    const params = this.params();
    sd.paramGroups.forEach((sg, gi) => {
      const n = this.paramGroups[gi]!.params.length;
      if (sg.params.length !== n)
        throw new EdgeTrainError(`${this.name}.loadStateDict: group ${gi} has ${sg.params.length} parameters in the state dict, ${n} here`);
    });
    // check everything before touching anything, so a bad checkpoint leaves the optimizer as it was
    for (const [k, s] of Object.entries(sd.state)) {
      const p = params[Number(k)];
      if (!p) throw new EdgeTrainError(`${this.name}.loadStateDict: state for parameter ${k}, but there are ${params.length}`);
      if (!Number.isInteger(s.step) || s.step < 0) throw new ValueError(`${this.name}.loadStateDict: parameter ${k} has step ${s.step}`);
      for (const [b, t] of Object.entries(s.buffers)) {
        t.assertLive(`${this.name}.loadStateDict`);
        if (t.shape.length !== p.shape.length || t.shape.some((x, i) => x !== p.shape[i]))
          throw new ShapeError(`${this.name}.loadStateDict: buffer '${b}' of parameter ${k} has shape [${t.shape}], the parameter [${p.shape}]`);
      }
    }
    const groups = sd.paramGroups.map((sg, gi) => {
      const { params: _, ...opts } = sg;
      const merged = { ...this.paramGroups[gi]!, ...structuredClone(opts) } as ParamGroup<O>;
      this.validate(merged);
      return merged;
    });
    this.clearState();
    groups.forEach((g, gi) => Object.assign(this.paramGroups[gi]!, g, { params: this.paramGroups[gi]!.params }));
    noGrad(() => {
      for (const [k, s] of Object.entries(sd.state)) {
        const p = params[Number(k)]!;
        const buffers: Record<string, Tensor> = {};
        for (const [b, t] of Object.entries(s.buffers)) {
          const z = keep(zerosLike(p));
          const src = t.device === p.device ? t : toDevice(t, p.device);
          copyInto(z, src);
          if (src !== t) src.dispose();
          buffers[b] = z;
        }
        this.state.set(p, { step: s.step, buffers });
      }
    });
  }

  /**
   * Writes the state to a safetensors file (atomically): buffers as `state.<i>.<name>`, steps and
   * group options as JSON metadata. `opts.stateDict`: write that state (e.g. a host copy of
   * this optimizer's, see lib/train/snapshot.ts) instead of the live one.
   */
  save(path: string, opts?: { stateDict?: OptimizerStateDict }): void {
    const sd = opts?.stateDict ?? this.stateDict();
    const tensors = new Map<string, Tensor>();
    const steps: Record<number, number> = {};
    for (const [i, s] of Object.entries(sd.state)) {
      steps[Number(i)] = s.step;
      for (const [b, t] of Object.entries(s.buffers)) tensors.set(`state.${i}.${b}`, t);
    }
    const meta = { type: this.name, steps, paramGroups: sd.paramGroups };
    saveSafetensors(path, tensors, { [META_KEY]: JSON.stringify(meta) });
  }

  /** Restores state written by {@link save}. */
  load(path: string): void {
    const { tensors, metadata } = loadSafetensors(path, { device: 'cpu' });
    try {
      const raw = metadata[META_KEY];
      if (!raw) throw new EdgeTrainError(`${this.name}.load: ${path} has no '${META_KEY}' metadata; not an optimizer checkpoint`);
      const meta = JSON.parse(raw) as { type: string; steps: Record<string, number>; paramGroups: OptimizerStateDict['paramGroups'] };
      if (meta.type !== this.name) throw new EdgeTrainError(`${this.name}.load: ${path} holds ${meta.type} state`);
      const state: OptimizerStateDict['state'] = {};
      for (const [i, step] of Object.entries(meta.steps)) state[Number(i)] = { step, buffers: {} };
      for (const [name, t] of tensors) {
        const m = /^state\.(\d+)\.(.+)$/.exec(name);
        const s = m ? state[Number(m[1])] : undefined;
        if (!m || !s) throw new EdgeTrainError(`${this.name}.load: unexpected tensor '${name}' in ${path}`);
        s.buffers[m[2]!] = t;
      }
      this.loadStateDict({ state, paramGroups: meta.paramGroups });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }

  private clearState(): void {
    for (const st of this.state.values()) for (const t of Object.values(st.buffers)) t.dispose();
    this.state.clear();
  }

  /** Frees the optimizer's state tensors (not the parameters). */
  dispose(): void {
    this.clearState();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
