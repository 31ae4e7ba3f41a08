// The tokenizer's internals, shared by the files of the tokenizer library (core, loaders,
// pre-tokenizer). Other modules use engine/tokenizer.h only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/tokenizer.h"

enum tokenizer_model : int32_t {
    TOKENIZER_MODEL_SPM = 0,            // merges by score of the merged piece
    TOKENIZER_MODEL_BPE_BYTE_LEVEL = 1, // merges by rank, GPT-2 byte mapping, Llama-3 pre-tokenizer
    TOKENIZER_MODEL_BPE_METASPACE = 2,  // merges by rank, "▁" for spaces, byte fallback
};

// Where a "▁" (dummy-prefix space) is put in front of text.
enum prefix_mode : int32_t {
    PREFIX_NONE = 0,
    PREFIX_FIRST = 1,  // only when the text is at the very start of the input (Metaspace "first")
    PREFIX_ALWAYS = 2, // at the start and after every special token (SentencePiece, HF Prepend)
};

struct merge_rule {
    int32_t rank = 0;    // position in the merges list: lower merges first
    int32_t result = -1; // id of the merged token
};

struct tokenizer {
    tokenizer_model model = TOKENIZER_MODEL_SPM;
    std::string source; // file or "gguf", for error messages

    std::vector<std::string> pieces; // [n_vocab] token text as stored (byte-level: GPT-2 chars)
    std::vector<float> scores;       // [n_vocab] SPM merge priority; empty for rank models
    std::vector<int32_t> types;      // [n_vocab] token_type
    std::unordered_map<std::string, int32_t> piece_ids; // text -> id (first id wins on duplicates)
    std::unordered_map<uint64_t, merge_rule> merges;    // rank models: (left << 32 | right) -> rule

    int32_t bos = -1, eos = -1, eot = -1, unk = -1;
    bool add_bos = true;
    prefix_mode prefix = PREFIX_NONE;
    bool prefix_skip_if_space = false; // Metaspace: no "▁" added when the text starts with a space
    bool metaspace_split = false;      // Metaspace split=true: each "▁" starts a new word
    bool ignore_merges = false;        // a whole pre-token found in the vocab is taken as is

    // Derived by tokenizer_finalize:
    std::vector<int32_t>
        byte_ids; // [256] byte-level: token of each byte; others: <0xNN> (-1 if none)
    std::vector<int32_t> special_ids; // control and user-defined tokens, longest text first
    std::vector<int32_t> eog_ids;     // tokens that end generation
};

// Fills piece_ids from pieces (the first id of a duplicated text wins).
void tokenizer_index_pieces(tokenizer& tok);

// Builds piece_ids when empty, byte_ids, special_ids, eot and eog_ids and checks the vocabulary.
// Throws std::runtime_error naming tok.source.
void tokenizer_finalize(tokenizer& tok);

// Adds the rank merge "left right" (both pieces and their concatenation must be in piece_ids).
// `where` names the merge in error messages.
void tokenizer_add_merge(tokenizer& tok, const std::string& left, const std::string& right,
                         int32_t rank, const std::string& where);

// ---- byte-level helpers (engine/tokenizer_pretok.cpp) --------------------------------------

// Splits text into pre-tokens with the Llama-3 regex
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ as [begin, end) byte ranges covering the text.
void llama3_pretokenize(const std::string& text, std::vector<std::pair<size_t, size_t>>& chunks);

// GPT-2 byte-to-unicode mapping: the UTF-8 text of the character standing for byte b, and the
// inverse (-1 when cp stands for no byte).
const std::string& gpt2_byte_to_char(uint8_t b);
int32_t gpt2_char_to_byte(uint32_t cp);
