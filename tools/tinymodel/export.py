"""Exports a training checkpoint as the Hugging Face folder (config.json + model.safetensors in
BF16); the tokenizer files are written there by train_tokenizer.py.

/usr/bin/python3 export.py --checkpoint runs/NAME/ckpt.pt --out ../../data/models/kvsweep-tiny
"""
import argparse
import os

import torch

import encode
from hf_io import export, load_hf, bf16_round
from model import llama, llama_config, causal_inputs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ck = torch.load(args.checkpoint)
    model = llama(llama_config(**ck["config"]))
    model.load_state_dict(ck["model"])
    tok = encode.tokenizer(os.path.join(args.out, "tokenizer.json"))
    if len(tok.vocab) + len(tok.special) != model.cfg.vocab_size:
        raise ValueError(f"{args.out}/tokenizer.json has {len(tok.vocab) + len(tok.special)} tokens, "
                         f"the checkpoint {model.cfg.vocab_size}")
    export(model, args.out, tok.special)
    # round trip: the folder read back equals the checkpoint rounded to BF16
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(bf16_round(p))
        ids = tok.encode("<|begin_of_text|>Box 17 holds 48. Q: What does box 17 hold?")
        want = model(*causal_inputs(ids))
        got = load_hf(args.out)(*causal_inputs(ids))
    print(f"exported step {ck['step']} to {args.out}; round-trip max |diff| {float((want - got).abs().max()):.2e}")


if __name__ == "__main__":
    main()
