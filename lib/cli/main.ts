#!/usr/bin/env node
// The edgetrain command line.
import { Command } from 'commander';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { inspectLines } from './inspect.js';

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

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`edgetrain: ${e.message}`);
  process.exit(1);
});
