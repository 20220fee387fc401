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
  .option('--quantize <type>', 'quantize the linear layers at load: q4_k, q4_k_m, nf4, q8_0, ... (cpu)')
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

const int = (v: string) => parseInt(v, 10);
const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
program
  .command('finetune')
  .description('LoRA fine-tune a model on a dataset; writes a PEFT adapter, a GGUF LoRA, checkpoints and a loss curve. Without --model and --data: fine-tunes the shipped small model on the shipped task and shows held-out accuracy before and after')
  .option('--model <path>', 'base model: a .gguf file or a Hugging Face folder')
  .option('--data <file>', 'training data: text, JSONL {prompt, completion} or JSONL {messages}')
  .option('--validation <file|fraction>', 'validation data file, or a fraction / count of the data to hold out')
  .option('--out <dir>', 'output folder', 'edgetrain-out')
  .option('--lora-rank <r>', 'adapter rank', int, 8)
  .option('--lora-alpha <a>', 'adapter alpha (scale alpha / r)', num, 16)
  .option('--lora-dropout <p>', 'dropout on the adapter input', num, 0)
  .option('--lora-targets <names>', 'comma-separated module names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head,embed_tokens)')
  .option('--lora-layers <first-last>', 'adapt only these decoder layers, e.g. 4-11')
  .option('--rslora', 'scale by alpha / sqrt(r)')
  .option('--quantize <type>', 'QLoRA: quantize the base linear layers at load (q4_k, q4_k_m, nf4, nf4_dq, q8_0, ...); a quantized GGUF base stays as stored')
  .option('--adapter <path>', 'continue training this adapter (PEFT folder or GGUF LoRA)')
  .option('--seq-len <n>', 'tokens per row', int, 256)
  .option('--batch-size <n>', 'rows per micro-batch', int, 4)
  .option('--grad-accum <n>', 'micro-batches per optimizer step', int, 1)
  .option('--epochs <n>', 'passes over the data', int, 1)
  .option('--max-steps <n>', 'stop after this many optimizer steps', int)
  .option('--lr <x>', 'peak learning rate', num, 2e-4)
  .option('--weight-decay <x>', 'AdamW weight decay', num, 0)
  .option('--warmup-steps <n>', 'linear warmup steps', int)
  .option('--warmup-ratio <x>', 'warmup as a fraction of all steps', num)
  .option('--schedule <kind>', 'cosine, linear or constant', 'cosine')
  .option('--clip <x>', 'clip the global gradient norm (0 = off)', num, 1)
  .option('--seed <n>', 'seed for adapter init, data order and dropout', int, 0)
  .option('--no-checkpointing', 'keep block activations instead of recomputing them in backward')
  .option('--eval-every <n>', 'eval loss every n steps', int, 50)
  .option('--save-every <n>', 'checkpoint every n steps (0 = only at the end)', int, 100)
  .option('--resume', 'resume from the latest checkpoint in --out')
  .option('--format <kind>', 'text, completion or chat (default: from the file)')
  .option('--all-tokens', 'chat data: train on every token, not only the assistant turns')
  .option('--packing', 'pack short samples into full rows')
  .option('--skip-bad-lines', 'skip unusable data lines (listed) instead of stopping')
  .action(async (o) => {
    const io = {
      err: process.stderr,
      out: (l: string) => console.log(l),
      onInterrupt: (fn: () => void) => {
        process.on('SIGINT', fn);
        return () => process.off('SIGINT', fn);
      },
    };
    if (!o.model && !o.data) {
      await runDefaultFinetune(o.out, io);
      return;
    }
    if (!o.model || !o.data) throw new Error('finetune: give both --model and --data (or neither, for the shipped example)');
    const layers = o.loraLayers ? (/^(\d+)-(\d+)$/.exec(o.loraLayers) ?? undefined) : undefined;
    if (o.loraLayers && !layers) throw new Error(`--lora-layers expects first-last (e.g. 4-11), got ${o.loraLayers}`);
    const validation = o.validation === undefined ? undefined : /^[\d.]+$/.test(o.validation) ? Number(o.validation) : o.validation;
    await runFinetuneCli(
      {
        model: o.model,
        data: o.data,
        validation,
        out: o.out,
        lora: {
          rank: o.loraRank,
          alpha: o.loraAlpha,
          dropout: o.loraDropout,
          rsLoRA: Boolean(o.rslora),
          targets: o.loraTargets ? list(o.loraTargets) : undefined,
          layers: layers ? { first: Number(layers[1]), last: Number(layers[2]) } : undefined,
        },
        adapter: o.adapter,
        quantize: o.quantize,
        seqLen: o.seqLen,
        batchSize: o.batchSize,
        gradAccum: o.gradAccum,
        epochs: o.epochs,
        maxSteps: o.maxSteps,
        lr: o.lr,
        weightDecay: o.weightDecay,
        warmupSteps: o.warmupSteps,
        warmupRatio: o.warmupRatio,
        schedule: o.schedule,
        clipGradNorm: o.clip,
        seed: o.seed,
        checkpointing: o.checkpointing,
        evalEvery: o.evalEvery,
        checkpointEvery: o.saveEvery,
        resume: Boolean(o.resume),
        format: o.format,
        assistantOnly: !o.allTokens,
        packing: Boolean(o.packing),
        skipBadLines: Boolean(o.skipBadLines),
      },
      io,
    );
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
