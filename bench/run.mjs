// Runs every benchmark in turn (npm run bench). Each prints its own figures and ratios.
import { spawnSync } from 'node:child_process';

for (const b of ['overhead.mjs', 'matmul.mjs', 'quant-matmul.mjs', 'lora-step.mjs', 'lora-anchor.mjs', 'generate.mjs', 'lora-train.mjs', 'qlora-train.mjs', 'quant-perplexity.mjs', 'data-stream.mjs']) {
  console.log(`\n== bench/${b}`);
  spawnSync(process.execPath, [`bench/${b}`], { stdio: 'inherit' });
}
