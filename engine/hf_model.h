// Hugging Face model folder -> model_file: config.json (LlamaForCausalLM / MistralForCausalLM),
// model.safetensors or a sharded model.safetensors.index.json, and tokenizer.json
// (or tokenizer.json.gz) with tokenizer_config.json.
#pragma once
#include <string>

#include "engine/model_file.h"

model_file hf_load_model(const std::string& dir);

// Canonical name of a Hugging Face tensor name ("model.layers.3.mlp.up_proj.weight" ->
// "blk.3.ffn_up"); "" for names that are not part of the model (e.g. rotary_emb.inv_freq).
std::string hf_canonical_name(const std::string& hf_name);
