// tidy() scopes: every tensor made inside a scope is disposed when the scope ends, unless it is
// returned or kept. Internal tensors (saved for backward, parameters' grads) are never tracked.
import type { Tensor } from './tensor.js';

const stack: Set<Tensor>[] = [];

export function track(t: Tensor): void {
  const top = stack[stack.length - 1];
  if (top) top.add(t);
}

export function untrack(t: Tensor): void {
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.delete(t)) return;
}

function collect(v: unknown, out: Set<Tensor>, seen: Set<unknown>, TensorCls: Function): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (v instanceof TensorCls) {
    out.add(v as Tensor);
    return;
  }
  if (Array.isArray(v)) for (const x of v) collect(x, out, seen, TensorCls);
  else if (v instanceof Map) for (const x of v.values()) collect(x, out, seen, TensorCls);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, seen, TensorCls);
}

let tensorClass: Function = Object;
export function registerTensorClass(c: Function): void {
  tensorClass = c;
}

/**
 * Runs fn and disposes every tensor it created that is not part of its result (tensors found in
 * the returned value, arrays, Maps and plain objects survive and move to the enclosing scope).
 * An async fn is refused: the scope cannot tell which awaits belong to it.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  stack.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError('tidy: fn returned a Promise; tidy only works with synchronous functions');
  }
  const keep = new Set<Tensor>();
  collect(result, keep, new Set(), tensorClass);
  for (const t of scope) {
    if (keep.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/** Removes t from the enclosing tidy scopes so it outlives them. Returns t. */
export function keep<T extends Tensor>(t: T): T {
  untrack(t);
  return t;
}
