// A small character-level language model for the demo and the end-to-end training test:
// embed the last `context` characters, concatenate, then a GELU MLP predicts the next one.
import * as et from '../index.js';
import { Embedding, Linear, Module } from '../nn/index.js';

export interface CharLMOptions {
  vocab: number;
  context: number;
  embed?: number;
  hidden?: number;
  seed?: number;
  device?: string;
}

export class CharLM extends Module {
  declare emb: Embedding;
  declare hidden: Linear;
  declare out: Linear;
  readonly context: number;

  constructor(o: CharLMOptions) {
    super();
    const seed = o.seed ?? 0;
    this.context = o.context;
    const e = o.embed ?? 24;
    const h = o.hidden ?? 256;
    this.registerModule('emb', new Embedding(o.vocab, e, { device: o.device, seed }));
    this.registerModule('hidden', new Linear(o.context * e, h, { device: o.device, seed: seed + 1 }));
    this.registerModule('out', new Linear(h, o.vocab, { device: o.device, seed: seed + 3 }));
  }

  /** ids int32 [B, context] -> logits [B, vocab] */
  forward(ids: et.Tensor): et.Tensor {
    const B = ids.shape[0]!;
    const x = this.emb.forward(ids).reshape([B, -1]);
    return this.out.forward(et.gelu(this.hidden.forward(x)));
  }
}

/** Characters of `text` as ids, with the alphabet that maps them. */
export function encodeChars(text: string): { ids: Int32Array; alphabet: string[] } {
  const alphabet = [...new Set(text)].sort();
  const index = new Map(alphabet.map((c, i) => [c, i]));
  return { ids: Int32Array.from([...text].map((c) => index.get(c)!)), alphabet };
}

/** A batch of random windows: inputs [B, context] and next-character targets [B]. */
export function sampleBatch(ids: Int32Array, context: number, batch: number, rng: () => number, device?: string) {
  const x = new Int32Array(batch * context);
  const y = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(rng() * (ids.length - context - 1));
    x.set(ids.subarray(start, start + context), b * context);
    y[b] = ids[start + context]!;
  }
  return { x: et.tensor(x, [batch, context], { device }), y: et.tensor(y, [batch], { device }) };
}


/** One optimisation step inside its own tidy scope; returns the loss. */
export function trainStep(model: CharLM, opt: et.optim.AdamW, x: et.Tensor, y: et.Tensor): number {
  return et.tidy(() => {
    opt.zeroGrad();
    const loss = et.crossEntropy(model.forward(x), y);
    loss.backward();
    et.optim.clipGradNorm(model.parameters(), 1.0);
    opt.step();
    return loss.item();
  });
}
