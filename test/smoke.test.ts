import { test, expect } from 'vitest';
import * as et from '../lib/index.js';
test('smoke', () => {
  const x = et.tensor([[1, 2], [3, 4]], { requiresGrad: true });
  const w = et.tensor([[1, 0, 2], [0, 1, 3]], { requiresGrad: true });
  const y = x.matmul(w).relu().sum();
  y.backward();
  console.log(y.item(), x.grad!.toArray(), w.grad!.toArray());
  const t = et.tensor([[1,2,3],[4,5,6]]);
  console.log(t.transpose().reshape([6]).toArray(), t.sum(0).toArray(), t.max(1).toArray(), t.argmax(1).toArray(), t.mean().item());
  console.log(et.cat([t, t], 1).toArray(), et.stack([t,t]).shape, t.slice(1, 1).toArray(), t.add(et.tensor([10, 20, 30])).toArray());
  console.log(et.memory());
});
