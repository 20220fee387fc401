// SGD with momentum, dampening, weight decay and Nesterov, PyTorch's update rule, fused.
import { runKernel } from '../native/run.js';
import type { Tensor } from '../tensor.js';
import { ValueError } from '../errors.js';
import { type BaseOptions, type ParamGroup, type ParamState, type ParamsInput, Optimizer, checkNumber } from './optimizer.js';

export interface SGDOptions extends BaseOptions {
  lr: number;
  /** Momentum factor (default 0: plain SGD, no buffer kept). */
  momentum: number;
  /** Dampening of the gradient's share of the momentum (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient: g += weightDecay * p (default 0). */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov: boolean;
}

/**
 * Stochastic gradient descent as torch.optim.SGD: `g += wd·p`; with momentum,
 * `buf = g` on a parameter's first step, else `buf = μ·buf + (1-dampening)·g`, and
 * `g = nesterov ? g + μ·buf : buf`; then `p -= lr·g`.
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opts });
  }

  protected validate(o: SGDOptions): void {
    checkNumber('SGD', 'lr', o.lr, 0);
    checkNumber('SGD', 'momentum', o.momentum, 0);
    checkNumber('SGD', 'dampening', o.dampening);
    checkNumber('SGD', 'weightDecay', o.weightDecay, 0);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0))
      throw new ValueError(`SGD: nesterov needs momentum > 0 and dampening 0 (got momentum ${o.momentum}, dampening ${o.dampening})`);
  }

  protected bufferNames(o: ParamGroup<SGDOptions>): string[] {
    return o.momentum !== 0 ? ['momentum'] : [];
  }

  protected update(p: Tensor, g: Tensor, o: ParamGroup<SGDOptions>, st: ParamState, gradScale: number): void {
    let buf = st.buffers.momentum;
    let first = st.step === 1;
    if (o.momentum !== 0 && !buf) {
      // momentum switched on after some plain steps: the buffer starts now, as in PyTorch
      buf = st.buffers.momentum = this.newBuffer(p);
      first = true;
    }
    // Without momentum the kernel never reads or writes the buffer; the grad fills the slot.
    runKernel('sgd', [p, g, buf ?? g], [], [o.lr, o.momentum, o.dampening, o.weightDecay, o.nesterov ? 1 : 0, first ? 1 : 0, gradScale]);
  }
}
