// A host copy of what a checkpoint holds (adapter values, optimizer state, trainer state), taken
// after a step while the device works. When the device then fails (out of memory, device lost)
// its memory can no longer be read, and the checkpoint is written from this copy instead.
import { noGrad } from '../autograd/engine.js';
import { synchronize } from '../device.js';
import { clone, to } from '../ops/copy.js';
import type { Optimizer, BaseOptions, OptimizerStateDict } from '../optim/optimizer.js';
import { keep } from '../scope.js';
import type { Tensor } from '../tensor.js';
import type { TrainerState } from './checkpoint.js';

/** A cpu copy that owns its memory (a cpu tensor is cloned, another one copied over). */
function hostCopy(t: Tensor): Tensor {
  return keep(noGrad(() => (t.device === 'cpu' ? clone(t) : to(t, 'cpu'))));
}

export class HostSnapshot {
  private constructor(
    /** The trainer state at the step the copy was taken. */
    readonly state: TrainerState,
    /** Each adapter parameter -> its values on the host. */
    readonly params: Map<Tensor, Tensor>,
    /** The optimizer's state dict with host buffers. */
    readonly optimizer: OptimizerStateDict,
  ) {}

  /** Copies params and the optimizer's state to the host and waits for the copies. */
  static async take(params: readonly Tensor[], opt: Optimizer<BaseOptions>, state: TrainerState): Promise<HostSnapshot> {
    const copies = new Map<Tensor, Tensor>();
    const sd = opt.stateDict();
    const made: Tensor[] = [];
    try {
      for (const p of params) {
        const c = hostCopy(p);
        copies.set(p, c);
        made.push(c);
      }
      for (const s of Object.values(sd.state))
        for (const [k, b] of Object.entries(s.buffers)) {
          const c = hostCopy(b);
          s.buffers[k] = c;
          made.push(c);
        }
      await synchronize('cpu'); // the copies are queued on the cpu stream after the device's work
    } catch (e) {
      for (const t of made) t.dispose();
      throw e;
    }
    return new HostSnapshot(structuredClone(state), copies, sd);
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    for (const s of Object.values(this.optimizer.state)) for (const b of Object.values(s.buffers)) b.dispose();
  }
}
