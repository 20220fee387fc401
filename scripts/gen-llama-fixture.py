#!/usr/bin/env python3
"""Reference fixtures for lib/models (test/llama.test.ts).

Writes tiny random Llama-family decoders as HF-named safetensors files plus a JSON fixture with
an HF-style config.json dict, input ids, the reference logits of a full forward pass and a greedy
continuation:

    test/fixtures/llama-<variant>.safetensors
    test/fixtures/llama-<variant>.json

The forward pass below is written from the Hugging Face conventions (LlamaForCausalLM,
Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM) with plain torch, independently of
edgetrain: rotate_half rope (half-split pairs), repeat_kv for grouped-query attention, causal
softmax attention, SwiGLU MLP, RMSNorm; for Gemma 3 also (1 + w) norms, the post-attention and
pre/post-feedforward norms, GELU-tanh gating, embeddings times sqrt(hidden), sliding-window local
layers with their own rope base, and query_pre_attn_scalar. It runs in float64 so the reference is exact to well below the float32 tolerance the
test uses. No `transformers` or `safetensors` package is needed (the safetensors file is written by
hand: 8-byte little-endian header length, JSON header, raw little-endian data).

Run: /usr/bin/python3 scripts/gen-llama-fixture.py
"""
import json
import math
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')


# ---- reference model -------------------------------------------------------------------------

def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def inv_freq_of(cfg, head_dim):
    base = cfg['rope_theta']
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    rs = cfg.get('rope_scaling')
    if rs is None:
        return inv, 1.0
    kind = rs.get('rope_type', rs.get('type'))
    if kind == 'linear':
        return inv / rs['factor'], 1.0
    if kind == 'llama3':
        factor = rs['factor']
        low = rs['low_freq_factor']
        high = rs['high_freq_factor']
        old = rs['original_max_position_embeddings']
        low_wl = old / low
        high_wl = old / high
        wavelen = 2 * math.pi / inv
        out = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = (wavelen >= high_wl) & (wavelen <= low_wl)
        return torch.where(medium, smoothed, out), 1.0
    raise ValueError(kind)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def repeat_kv(x, n):
    b, h, s, d = x.shape
    if n == 1:
        return x
    return x[:, :, None, :, :].expand(b, h, n, s, d).reshape(b, h * n, s, d)


def rope_tables(cfg, head_dim, T, local):
    if local:
        cfg = dict(cfg, rope_theta=cfg['rope_local_base_freq'], rope_scaling=None)
    inv, _ = inv_freq_of(cfg, head_dim)
    pos = torch.arange(T, dtype=torch.float64)
    freqs = torch.outer(pos, inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[None, None], emb.sin()[None, None]  # [1, 1, T, D]


def forward(cfg, w, ids):
    """ids: LongTensor [B, T] -> logits [B, T, V] (float64)."""
    B, T = ids.shape
    H = cfg['num_attention_heads']
    Hkv = cfg['num_key_value_heads']
    D = cfg.get('head_dim') or cfg['hidden_size'] // H
    eps = cfg['rms_norm_eps']
    qwen3 = cfg['model_type'] == 'qwen3'
    gemma = cfg['model_type'] == 'gemma3_text'
    # Gemma's RMSNorm scales by (1 + w)
    norm = (lambda v, wt: rms_norm(v, 1.0 + wt, eps)) if gemma else (lambda v, wt: rms_norm(v, wt, eps))
    scale = cfg['query_pre_attn_scalar'] ** -0.5 if gemma else 1 / math.sqrt(D)

    x = w['model.embed_tokens.weight'][ids]
    if gemma:
        x = x * cfg['hidden_size'] ** 0.5
    causal = torch.full((T, T), float('-inf'), dtype=torch.float64).triu(1)
    # key j visible to query i iff i - window < j <= i (HF Mistral and Gemma 3 sliding layers)
    window = cfg.get('sliding_window') if cfg['model_type'] in ('mistral', 'gemma3_text') else None
    windowed = causal if window is None else causal + torch.full((T, T), float('-inf'), dtype=torch.float64).tril(-window)
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        local = window is not None and (not gemma or cfg['layer_types'][i] == 'sliding_attention')
        mask = windowed if local else causal
        cos, sin = rope_tables(cfg, D, T, gemma and local)
        lin = lambda name, v: v @ w[p + name + '.weight'].T + (w[p + name + '.bias'] if p + name + '.bias' in w else 0)
        h = norm(x, w[p + 'input_layernorm.weight'])
        q = lin('self_attn.q_proj', h).view(B, T, H, D)
        k = lin('self_attn.k_proj', h).view(B, T, Hkv, D)
        v = lin('self_attn.v_proj', h).view(B, T, Hkv, D)
        if qwen3 or gemma:
            q = norm(q, w[p + 'self_attn.q_norm.weight'])
            k = norm(k, w[p + 'self_attn.k_norm.weight'])
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, H // Hkv)
        v = repeat_kv(v, H // Hkv)
        att = (q @ k.transpose(2, 3)) * scale + mask
        att = torch.softmax(att, dim=-1)
        o = lin('self_attn.o_proj', (att @ v).transpose(1, 2).reshape(B, T, H * D))
        if gemma:
            x = x + norm(o, w[p + 'post_attention_layernorm.weight'])
            h = norm(x, w[p + 'pre_feedforward_layernorm.weight'])
            m = lin('mlp.down_proj', torch.nn.functional.gelu(lin('mlp.gate_proj', h), approximate='tanh') * lin('mlp.up_proj', h))
            x = x + norm(m, w[p + 'post_feedforward_layernorm.weight'])
            continue
        x = x + o
        h = norm(x, w[p + 'post_attention_layernorm.weight'])
        g = lin('mlp.gate_proj', h)
        u = lin('mlp.up_proj', h)
        x = x + lin('mlp.down_proj', torch.nn.functional.silu(g) * u)
    x = norm(x, w['model.norm.weight'])
    head = w['model.embed_tokens.weight'] if cfg['tie_word_embeddings'] else w['lm_head.weight']
    return x @ head.T


# ---- random weights with HF names ------------------------------------------------------------

def make_weights(cfg, gen):
    V, C, F = cfg['vocab_size'], cfg['hidden_size'], cfg['intermediate_size']
    H, Hkv = cfg['num_attention_heads'], cfg['num_key_value_heads']
    D = cfg.get('head_dim') or C // H
    bias = cfg['model_type'] == 'qwen2' or cfg.get('attention_bias', False)
    qwen3 = cfg['model_type'] == 'qwen3'
    gemma = cfg['model_type'] == 'gemma3_text'
    rn = lambda *s, std=1.0: torch.randn(*s, generator=gen, dtype=torch.float64) * std
    # Gemma stores the norm scale's offset from 1
    norm = lambda n: (0.0 if gemma else 1.0) + rn(n, std=0.2)
    w = {'model.embed_tokens.weight': rn(V, C, std=0.3)}
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        w[p + 'self_attn.q_proj.weight'] = rn(H * D, C, std=C ** -0.5)
        if bias:
            w[p + 'self_attn.q_proj.bias'] = rn(H * D, std=0.2)
        w[p + 'self_attn.k_proj.weight'] = rn(Hkv * D, C, std=C ** -0.5)
        if bias:
            w[p + 'self_attn.k_proj.bias'] = rn(Hkv * D, std=0.2)
        w[p + 'self_attn.v_proj.weight'] = rn(Hkv * D, C, std=C ** -0.5)
        if bias:
            w[p + 'self_attn.v_proj.bias'] = rn(Hkv * D, std=0.2)
        w[p + 'self_attn.o_proj.weight'] = rn(C, H * D, std=(H * D) ** -0.5)
        if qwen3 or gemma:
            w[p + 'self_attn.q_norm.weight'] = norm(D)
            w[p + 'self_attn.k_norm.weight'] = norm(D)
        w[p + 'mlp.gate_proj.weight'] = rn(F, C, std=C ** -0.5)
        w[p + 'mlp.up_proj.weight'] = rn(F, C, std=C ** -0.5)
        w[p + 'mlp.down_proj.weight'] = rn(C, F, std=F ** -0.5)
        w[p + 'input_layernorm.weight'] = norm(C)
        w[p + 'post_attention_layernorm.weight'] = norm(C)
        if gemma:
            w[p + 'pre_feedforward_layernorm.weight'] = norm(C)
            w[p + 'post_feedforward_layernorm.weight'] = norm(C)
    w['model.norm.weight'] = norm(C)
    if not cfg['tie_word_embeddings']:
        w['lm_head.weight'] = rn(V, C, std=C ** -0.5)
    # round to float32 once: the reference then runs (in float64) on exactly the stored values
    return {k: v.float().double() for k, v in w.items()}


def write_safetensors(path, tensors, metadata=None):
    header = {}
    chunks = []
    off = 0
    for name, t in tensors.items():
        b = t.float().contiguous().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


# ---- variants --------------------------------------------------------------------------------

def base_cfg(**kw):
    cfg = {
        'architectures': ['LlamaForCausalLM'],
        'model_type': 'llama',
        'vocab_size': 64,
        'hidden_size': 32,
        'intermediate_size': 48,
        'num_hidden_layers': 2,
        'num_attention_heads': 4,
        'num_key_value_heads': 2,
        'rms_norm_eps': 1e-5,
        'rope_theta': 10000.0,
        'rope_scaling': None,
        'max_position_embeddings': 128,
        'tie_word_embeddings': False,
        'attention_bias': False,
        'bos_token_id': 1,
        'eos_token_id': 2,
        'torch_dtype': 'float32',
    }
    cfg.update(kw)
    return cfg


VARIANTS = {
    # TinyLlama / Llama 2 shape, untied head
    'llama': base_cfg(),
    # SmolLM / Llama 3.2 shape: tied embeddings, Llama 3.1 rope scaling
    'llama3-tied': base_cfg(
        tie_word_embeddings=True,
        rope_theta=500000.0,
        rope_scaling={'rope_type': 'llama3', 'factor': 8.0, 'low_freq_factor': 1.0,
                      'high_freq_factor': 4.0, 'original_max_position_embeddings': 16},
        eos_token_id=[2, 3],
    ),
    # Mistral v0.1: sliding-window attention (a window of 4 so the 9-token inputs exercise it)
    'mistral': base_cfg(architectures=['MistralForCausalLM'], model_type='mistral', sliding_window=4,
                        head_dim=None),
    # Qwen2 / 2.5: q/k/v bias, untied
    'qwen2': base_cfg(architectures=['Qwen2ForCausalLM'], model_type='qwen2', rms_norm_eps=1e-6,
                      rope_theta=1000000.0, attention_bias=None),
    # Qwen3: per-head q/k RMSNorm, head_dim set explicitly (H * D != hidden), tied
    'qwen3': base_cfg(architectures=['Qwen3ForCausalLM'], model_type='qwen3', rms_norm_eps=1e-6,
                      rope_theta=1000000.0, head_dim=16, tie_word_embeddings=True),
    # Gemma 3 (text): local layers (window 4, rope base 1e4) around a global one (base 1e6 with
    # linear scaling), query_pre_attn_scalar != head_dim, GQA, tied
    'gemma3': base_cfg(architectures=['Gemma3ForCausalLM'], model_type='gemma3_text', rms_norm_eps=1e-6,
                       num_hidden_layers=3, head_dim=16, query_pre_attn_scalar=12,
                       hidden_activation='gelu_pytorch_tanh', rope_theta=1000000.0,
                       rope_local_base_freq=10000.0, rope_scaling={'rope_type': 'linear', 'factor': 2.0},
                       sliding_window=4, sliding_window_pattern=2,
                       layer_types=['sliding_attention', 'full_attention', 'sliding_attention'],
                       final_logit_softcapping=None, attn_logit_softcapping=None, tie_word_embeddings=True),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for vi, (name, cfg) in enumerate(VARIANTS.items()):
        cfg = {k: v for k, v in cfg.items() if v is not None or k in ('rope_scaling', 'final_logit_softcapping', 'attn_logit_softcapping')}
        gen = torch.Generator().manual_seed(1000 + vi)
        w = make_weights(cfg, gen)
        ids = torch.randint(0, cfg['vocab_size'], (2, 9), generator=gen)
        with torch.no_grad():
            logits = forward(cfg, w, ids)
            # greedy continuation of the first row's first 4 tokens, by full forward each step
            seq = ids[0, :4].tolist()
            greedy = []
            for _ in range(8):
                nxt = int(forward(cfg, w, torch.tensor([seq])).__getitem__((0, -1)).argmax())
                greedy.append(nxt)
                seq.append(nxt)
        # training path: mean cross-entropy of predicting ids[:, 1:] from ids[:, :-1], its gradient's
        # L2 norm for every parameter and the full gradient of a few small ones
        wg = {k: v.clone().requires_grad_(True) for k, v in w.items()}
        out = forward(cfg, wg, ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, cfg['vocab_size']), ids[:, 1:].reshape(-1))
        loss.backward()
        grad_norms = {k: float(v.grad.norm()) for k, v in wg.items()}
        small = [k for k in wg if k.endswith('norm.weight') or k.endswith('_proj.bias')]
        grads = {k: [round(float(x), 8) for x in wg[k].grad.reshape(-1)] for k in small}
        write_safetensors(os.path.join(OUT, f'llama-{name}.safetensors'), w, {'format': 'pt'})
        fx = {
            'config': cfg,
            'ids': ids.tolist(),
            'logits': [[[round(float(v), 6) for v in row] for row in b] for b in logits],
            'greedyPrompt': ids[0, :4].tolist(),
            'greedy': greedy,
            'loss': float(loss),
            'gradNorms': grad_norms,
            'grads': grads,
        }
        with open(os.path.join(OUT, f'llama-{name}.json'), 'w') as f:
            json.dump(fx, f, separators=(',', ':'))
        lr = float(logits.max() - logits.min())
        print(f'{name}: {sum(t.numel() for t in w.values())} params, logit range {lr:.3f}, greedy {greedy}')


if __name__ == '__main__':
    main()
