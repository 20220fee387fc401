#!/usr/bin/env node
// The edgetrain command line.
import { Command } from 'commander';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { inspectLines } from './inspect.js';
import { runGenerate } from './generate.js';

const program = new Command();
program.name('edgetrain').description('Tensors, autograd and fine-tuning for TypeScript on the hardware you own');

program
  .command('demo')
  .description('train a small character-level language model with the autograd API and show the loss falling')
  .option('--steps <n>', 'training steps', (v) => parseInt(v, 10), 3000)
  .option('--device <name>', 'device to train on (cpu, vulkan)')
  .option('--seed <n>', 'random seed', (v) => parseInt(v, 10), 0)
  .action(async (opts) => {
    await runDemo(opts);
  });

program
  .command('doctor')
  .description('list devices and, for those that are missing, why')
  .action(() => runDoctor());

program
  .command('inspect <file>')
  .description('show what a .gguf or .safetensors file holds: architecture, sizes, tensor types, tokenizer, chat template')
  .action((file: string) => {
    for (const line of inspectLines(file)) console.log(line);
  });

const num = (v: string) => Number(v);
program
  .command('generate')
  .description('generate text from a prompt, printing tokens as they come')
  .requiredOption('--model <file>', 'a .gguf model file')
  .requiredOption('--prompt <text>', 'the prompt')
  .option('--max-tokens <n>', 'most tokens to generate', (v) => parseInt(v, 10), 128)
  .option('--temperature <t>', 'sampling temperature; 0 is greedy', num, 0.8)
  .option('--top-k <k>', 'keep the k most likely tokens', (v) => parseInt(v, 10))
  .option('--top-p <p>', 'keep the smallest set of tokens with total probability p', num)
  .option('--min-p <p>', 'drop tokens less likely than p times the most likely', num)
  .option('--repeat-penalty <r>', 'penalty on tokens already in the context', num)
  .option('--seed <n>', 'sampling seed', (v) => parseInt(v, 10))
  .option('--stop <text...>', 'stop when the output contains one of these')
  .option('--no-bos', 'do not add the beginning-of-sequence token')
  .action(async (o) => {
    const r = await runGenerate({ ...o, model: o.model, prompt: o.prompt, bos: o.bos }, (s) => process.stdout.write(s));
    process.stdout.write('\n');
    process.stderr.write(`[${r.tokens.length} tokens, stopped by ${r.reason}]\n`);
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`edgetrain: ${e.message}`);
  process.exit(1);
});
