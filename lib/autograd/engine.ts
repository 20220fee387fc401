// Reverse-mode autograd over the tape of Nodes that ops record.
import { EdgeTrainError, ShapeError } from '../errors.js';
import { tidy, untrack } from '../scope.js';
import type { DType } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import { Node, type BackwardFn } from './node.js';
import { contiguousOf, filled, sumGrads } from './kernels.js';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn with autograd off: nothing is recorded, outputs do not require grad. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with autograd on (inside a noGrad region, e.g. a checkpoint's recomputation). */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** An alias of t that keeps its storage alive for backward, invisible to tidy. */
export function saveForBackward(t: Tensor): Tensor {
  return t.view(t.shape, t.strides, t.offset, { internal: true });
}

/**
 * Records an op on the tape when autograd is on and some input requires grad (or `force`).
 * `saved` tensors are aliased so disposing the originals does not break backward.
 */
export function record(
  name: string,
  inputs: readonly (Tensor | null)[],
  outputs: readonly Tensor[],
  saved: readonly Tensor[],
  backwardFn: BackwardFn,
  force = false,
): void {
  if (!gradEnabled) return;
  if (!force && !inputs.some((t) => t?.requiresGrad)) return;
  const node = new Node(
    name,
    inputs.map((t) => (t && t.requiresGrad ? t : null)),
    saved.map(saveForBackward),
    backwardFn,
    outputs.map((o) => o.shape),
    outputs.map((o) => o.dtype),
  );
  outputs.forEach((o, i) => o.setGradFn(node, i));
}

function topoOrder(roots: Node[]): Node[] {
  const order: Node[] = [];
  const state = new Map<Node, number>(); // 1 visiting, 2 done
  const stack: [Node, number][] = roots.map((r) => [r, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i === 0) {
      if (state.get(node) === 2) {
        stack.pop();
        continue;
      }
      state.set(node, 1);
    }
    if (i < node.inputs.length) {
      top[1] = i + 1;
      const child = node.inputs[i]?.gradFn;
      if (child && !state.has(child)) stack.push([child, 0]);
      continue;
    }
    state.set(node, 2);
    order.push(node);
    stack.pop();
  }
  return order; // children before parents
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (g.shape.length !== leaf.shape.length || g.shape.some((s, i) => s !== leaf.shape[i]))
    throw new ShapeError(`backward: gradient of shape [${g.shape}] for a leaf of shape [${leaf.shape}]`);
  if (leaf.isDisposed) {
    g.dispose();
    return;
  }
  let owned = contiguousOf(g);
  if (owned !== g) g.dispose();
  if (leaf.grad && !leaf.grad.isDisposed) {
    const sum = sumGrads(leaf.grad, owned);
    leaf.grad.dispose();
    owned.dispose();
    owned = sum;
  }
  untrack(owned);
  leaf.grad = owned;
}

/**
 * Backpropagates from `roots` with seed gradients `seeds` (ones for one-element roots when
 * omitted). Leaf gradients accumulate into `.grad`; the graph is freed as it is consumed.
 */
export function backward(roots: Tensor[], seeds?: (Tensor | undefined)[]): void {
  const pending = new Map<Node, (Tensor | null)[]>();
  const rootNodes: Node[] = [];
  noGrad(() => {
    roots.forEach((r, k) => {
      if (!r.requiresGrad)
        throw new EdgeTrainError(`backward: tensor of shape [${r.shape}] does not require grad (no input had requiresGrad)`);
      let seed = seeds?.[k];
      if (seed) {
        if (seed.shape.length !== r.shape.length || seed.shape.some((s, i) => s !== r.shape[i]))
          throw new ShapeError(`backward: seed gradient of shape [${seed.shape}] for a tensor of shape [${r.shape}]`);
        seed = saveForBackward(seed);
      } else {
        if (r.numel !== 1)
          throw new ShapeError(`backward: tensor of shape [${r.shape}] is not a scalar; pass a seed gradient of the same shape`);
        seed = filled(r.shape, r.dtype, r.device, 1);
        untrack(seed);
      }
      if (!r.gradFn) {
        accumulateLeaf(r, seed);
        return;
      }
      if (r.gradFn.released)
        throw new EdgeTrainError(`backward: the graph of ${r.gradFn.name} was already freed by an earlier backward()`);
      const slots = pending.get(r.gradFn) ?? new Array(r.gradFn.outputShapes.length).fill(null);
      const prev = slots[r.outputIndex];
      if (prev) {
        slots[r.outputIndex] = sumGrads(prev, seed);
        untrack(slots[r.outputIndex]!);
        prev.dispose();
        seed.dispose();
      } else slots[r.outputIndex] = seed;
      pending.set(r.gradFn, slots);
      rootNodes.push(r.gradFn);
    });
    const order = topoOrder(rootNodes);
    for (let n = order.length - 1; n >= 0; n--) {
      const node = order[n]!;
      const slots = pending.get(node);
      pending.delete(node);
      if (!slots || slots.every((s) => !s)) {
        node.release();
        continue;
      }
      if (node.released) throw new EdgeTrainError(`backward: the graph of ${node.name} was already freed by an earlier backward()`);
      const dys = slots.map((s, i) => s ?? filled(node.outputShapes[i]!, node.outputDTypes[i]! as DType, slots.find((x) => x)!.device, 0));
      for (const d of dys) untrack(d);
      let grads: (Tensor | null | undefined)[];
      try {
        // tidy: temporaries a backward forgets to dispose go with it; returned grads survive
        grads = tidy(() => node.backwardFn(dys, node.saved, node.inputs.map((t) => t !== null)));
      } finally {
        node.release();
      }
      const seen = new Set<Tensor>(dys);
      node.inputs.forEach((inp, i) => {
        let g = grads[i];
        if (!g) return;
        if (!inp) {
          if (!seen.has(g) && !grads.some((o, j) => j !== i && o === g && node.inputs[j])) g.dispose();
          return;
        }
        // A backward may hand back dy itself or one tensor twice; give each consumer its own alias.
        if (seen.has(g)) g = saveForBackward(g);
        seen.add(g);
        untrack(g);
        if (!inp.gradFn) {
          accumulateLeaf(inp, g);
          return;
        }
        const s = pending.get(inp.gradFn) ?? new Array(inp.gradFn.outputShapes.length).fill(null);
        const prev = s[inp.outputIndex];
        if (prev) {
          const sum = sumGrads(prev, g);
          untrack(sum);
          prev.dispose();
          g.dispose();
          s[inp.outputIndex] = sum;
        } else s[inp.outputIndex] = g;
        pending.set(inp.gradFn, s);
      });
      for (const d of dys) d.dispose();
    }
  });
}
