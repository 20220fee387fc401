"""CUDA peer for scripts/device-check.sh: LoRA training steps with transformers + PEFT on the HF
folder bench/vulkan-check.mjs wrote (the same Llama edgetrain trains): rank-8 adapters (alpha 16,
no dropout) on q,k,v,o,gate,up,down, the base frozen, AdamW on the adapters, one seeded random
batch [B, T]. float32 weights; run once with TF32 matmuls off (strict float32, as edgetrain
computes) and once with them on. Prints one JSON line per precision, or {"skipped": why}.
python3 bench/peers/cuda_lora_peft.py HF_DIR T B STEPS"""
import json, sys, time

hf_dir, T, B, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
try:
    import torch
except Exception as e:  # noqa: BLE001
    print(json.dumps({"skipped": f"no torch ({e})"})); sys.exit(0)
if not torch.cuda.is_available():
    print(json.dumps({"skipped": f"no CUDA (torch {torch.__version__})"})); sys.exit(0)
try:
    import transformers
    import peft
    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
except Exception as e:  # noqa: BLE001
    print(json.dumps({"skipped": f"no transformers/peft ({e})"})); sys.exit(0)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def run(tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    # the config and weights edgetrain wrote, loaded by hand (its safetensors carry no "format" metadata)
    model = LlamaForCausalLM(LlamaConfig.from_pretrained(hf_dir))
    missing, unexpected = model.load_state_dict(load_file(f"{hf_dir}/model.safetensors"), strict=False)
    missing = [k for k in missing if "inv_freq" not in k]
    if missing or unexpected:
        print(json.dumps({"error": f"weights do not match LlamaForCausalLM: missing {missing[:4]}, unexpected {unexpected[:4]}"}))
        sys.exit(1)
    model = model.float().cuda()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS, bias="none"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, V, (B, T + 1), generator=g).cuda()
    x, y = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    times, loss = [], None
    for i in range(steps + 2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    s = sorted(times)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    attn = getattr(model.config, "_attn_implementation", "?")
    out = {"device": torch.cuda.get_device_name(0), "precision": "tf32" if tf32 else "fp32", "T": T, "B": B, "steps": steps,
           "ms": med * 1e3, "tokPerSec": B * T / med, "stepMs": [t * 1e3 for t in times], "loss": loss.item(),
           "params": sum(p.numel() for p in model.parameters()), "trainable": sum(p.numel() for p in params),
           "attention": attn, "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
           "peakGiB": torch.cuda.max_memory_allocated() / 2**30}
    del model, opt
    torch.cuda.empty_cache()
    return out


for tf32 in (False, True):
    print(json.dumps(run(tf32)), flush=True)
