#!/usr/bin/env node
// The edgetrain command line.
import { Command } from 'commander';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { inspectLines } from './inspect.js';
import { runGenerate } from './generate.js';
import { runFinetuneCli } from './finetune.js';
import { runMerge } from './merge.js';
import { runQuantize } from './quantize.js';
import { runDefaultFinetune } from './finetune-demo.js';
import { addFinetuneOptions, finetuneOptionsOf } from './finetune-args.js';
import type { FinetuneOptions } from '../train/finetune.js';

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
  .requiredOption('--model <file>', 'a .gguf model file or a Hugging Face folder')
  .requiredOption('--prompt <text>', 'the prompt')
  .option('--lora <adapter>', 'a LoRA adapter to apply: a PEFT folder or a GGUF LoRA file')
  .option('--quantize <type>', 'quantize the linear layers at load: q4_k, q4_k_m, nf4, q8_0, ...')
  .option('--device <name>', 'device to run on: cpu, vulkan, vulkan:1, ... (edgetrain doctor lists them)')
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

const finetuneCmd = program
  .command('finetune')
  .description(
    'LoRA fine-tune a model on a dataset; writes a PEFT adapter, a GGUF LoRA, checkpoints and a loss curve. Without --model and --data: fine-tunes the shipped small model on the shipped task and shows held-out accuracy before and after (the other options apply to it too)',
  );
addFinetuneOptions(finetuneCmd).action(async (o: Record<string, unknown>) => {
  const io = {
    err: process.stderr,
    out: (l: string) => console.log(l),
    onInterrupt: (fn: () => void) => {
      process.on('SIGINT', fn);
      return () => process.off('SIGINT', fn);
    },
  };
  const source = (k: string) => finetuneCmd.getOptionValueSource(k);
  if (!o.model && !o.data) {
    await runDefaultFinetune(o.out as string, io, finetuneOptionsOf(o, source, true));
    return;
  }
  if (!o.model || !o.data) throw new Error('finetune: give both --model and --data (or neither, for the shipped example)');
  await runFinetuneCli(finetuneOptionsOf(o, source) as FinetuneOptions, io);
});

program
  .command('quantize <input> <output>')
  .description('quantize a GGUF model (f32/f16/bf16 or another quantization) with the type mix llama-quantize uses')
  .requiredOption('--type <type>', 'q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k, q8_0, q4_0, q4_1, q5_0, q5_1; nf4, nf4_dq (edgetrain only)')
  .action((input: string, output: string, o) => {
    const tty = process.stderr.isTTY;
    const r = runQuantize(input, output, o.type, (name, type, i, n) => {
      if (tty) process.stderr.write(`\r[${i + 1}/${n}] ${name} -> ${type}`.padEnd(72).slice(0, 100));
    });
    if (tty) process.stderr.write('\n');
    const mix = Object.entries(r.types).map(([t, n]) => `${n} ${t}`).join(', ');
    console.log(`${output}: ${mix}; ${(r.bytesIn / 2 ** 20).toFixed(1)} MiB -> ${(r.bytesOut / 2 ** 20).toFixed(1)} MiB of tensor data`);
    if (o.type.toLowerCase().startsWith('nf4')) console.log('note: NF4 files are read by edgetrain; llama.cpp has no NF4 type');
  });

program
  .command('merge')
  .description('fold a LoRA adapter into its base model and write the merged model')
  .requiredOption('--model <path>', 'base model: a .gguf file or a Hugging Face folder')
  .requiredOption('--lora <adapter>', 'the adapter: a PEFT folder or a GGUF LoRA file')
  .requiredOption('--out <path>', 'a .gguf file, or a folder for a Hugging Face model (config.json + safetensors)')
  .option('--dtype <type>', 'float32 or float16 matrices', 'float32')
  .action(async (o) => {
    const where = await runMerge(o);
    console.log(`merged model written to ${where}`);
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`edgetrain: ${e.message}`);
  process.exit(1);
});
