// Containers: ModuleList (indexed submodules, e.g. transformer layers) and Sequential.
import { Module } from './module.js';

/** A list of submodules registered as '0', '1', ... (names in state dicts: `layers.3.weight`). */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.push(m);
  }

  /** Appends a module (registered under the next index). Returns this. */
  push(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  /** The i-th module (negative counts from the end). */
  at(i: number): M | undefined {
    return this.items.at(i);
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  /** ModuleList has no forward of its own; iterate it. */
  forward(..._args: any[]): any {
    throw new Error('ModuleList has no forward(); iterate over it instead');
  }
}

/** Runs its modules in order, each one's output feeding the next. */
export class Sequential extends ModuleList {
  constructor(...modules: Module[]) {
    super(modules);
  }

  override forward(x: any): any {
    for (const m of this) x = m.forward(x);
    return x;
  }
}
