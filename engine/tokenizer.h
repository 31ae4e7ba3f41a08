// Tokenizers of the Llama family: text <-> token ids.
//
// Three models, one merge loop (engine/tokenizer.cpp):
//   - SentencePiece-style BPE (GGUF tokenizer.ggml.model = "llama", llama2.c tokenizer.bin):
//     pieces with scores; the adjacent pair whose merged piece has the highest score merges first;
//     "▁" stands for a space, a dummy-prefix space starts the text, unknown characters fall back
//     to <0xNN> byte tokens.
//   - byte-level BPE (Hugging Face tokenizer.json with a ByteLevel pre-tokenizer, GGUF "gpt2"):
//     GPT-2 byte-to-unicode mapping, merges ranked by their order, the Llama-3 pre-tokenizer
//     regex (hand-written, engine/tokenizer_pretok.cpp), optional ignore_merges.
//   - SentencePiece-BPE stored as tokenizer.json (Mistral, Llama 2): merges ranked by order,
//     Prepend/Replace normalizer or Metaspace pre-tokenizer, byte_fallback.
// Special (added/control) tokens are matched in the text before anything else, only when the
// caller asks for it (parse_special); user text is never parsed for them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/prompt.h"

struct tokenizer; // opaque: engine/tokenizer_impl.h

// GGUF token types (tokenizer.ggml.token_type), also inferred for tokenizer.json vocabularies.
enum token_type : int32_t {
    TOKEN_TYPE_UNDEFINED = 0,
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3, // BOS, EOS, chat headers: matched only with parse_special
    TOKEN_TYPE_USER_DEFINED =
        4, // added tokens that are not special: also matched only with parse_special
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6, // <0xNN> byte-fallback tokens
};

// ---- construction -------------------------------------------------------------------------

// A SentencePiece vocabulary as stored in GGUF metadata (tokenizer.ggml.tokens / scores /
// token_type / *_token_id / add_bos_token / add_space_prefix). Pieces use "▁" for spaces.
struct spm_vocab {
    std::vector<std::string> pieces; // [n_vocab]
    std::vector<float> scores;       // [n_vocab] merge priority of the piece (higher merges first)
    std::vector<int32_t> types;      // [n_vocab] token_type; empty = infer (see tokenizer_from_spm)
    int32_t bos = -1, eos = -1, unk = 0;
    bool add_bos = true;
    bool add_space_prefix = true; // dummy-prefix space at the start of the text and after specials
};

// Throws std::invalid_argument when sizes disagree or ids are out of range. Empty `types` are
// inferred: <0xNN> pieces are bytes, unk is unknown, bos/eos are control, the rest normal.
std::shared_ptr<tokenizer> tokenizer_from_spm(const spm_vocab& vocab);

// GGUF "gpt2" model (byte-level BPE, Llama-3 pre-tokenizer, ignore_merges). `tokens` are in
// the GPT-2 byte-to-unicode form, `merges` are "left right" strings, `types` may be empty
// (then every token is normal). Throws std::invalid_argument on a merge whose pieces are missing.
std::shared_ptr<tokenizer> tokenizer_from_bpe(const std::vector<std::string>& tokens,
                                              const std::vector<std::string>& merges,
                                              const std::vector<int32_t>& types, int32_t bos,
                                              int32_t eos, bool add_bos);

// Hugging Face tokenizer.json (or .json.gz) and, optionally, tokenizer_config.json (path may be
// "", .gz accepted) for bos/eos/add_bos. Throws std::runtime_error naming the file and field.
std::shared_ptr<tokenizer> tokenizer_from_hf(const std::string& tokenizer_json,
                                             const std::string& tokenizer_config_json);

// llama2.c tokenizer.bin / tok512.bin: int32 max_token_length, then per token float32 score,
// int32 length, bytes. Ids 0/1/2 are <unk>/BOS/EOS, as in llama2.c.
spm_vocab spm_vocab_from_llama2c(const std::string& path);

// A folder holding tokenizer.json(.gz) [+ tokenizer_config.json(.gz)] or tokenizer.bin /
// tok512.bin, or one of those files directly.
std::shared_ptr<tokenizer> tokenizer_load(const std::string& path);

// ---- encoding / decoding ------------------------------------------------------------------

std::vector<int32_t> tokenizer_encode(const tokenizer& tok, const std::string& text, bool add_bos,
                                      bool parse_special);

// Text of the ids. BOS/EOS and other control tokens are left out unless render_special; the
// SentencePiece dummy-prefix space is removed where the encoder would have added it.
std::string tokenizer_decode(const tokenizer& tok, const std::vector<int32_t>& ids,
                             bool render_special = false);

// Raw bytes of one token (may be part of a UTF-8 character: concatenate before printing).
// "▁" becomes a space, no prefix space is removed; control and unknown tokens give "".
std::string tokenizer_piece(const tokenizer& tok, int32_t id);

// Encodes each segment on its own and concatenates, recording the span of each segment
// (spans[i] belongs to segments[i]; BOS, when added, gets its own SEGMENT_TEMPLATE span first).
// SEGMENT_TEMPLATE segments are parsed for special tokens, the others never. Whitespace at a
// boundary is tokenized on the side the tokenizers attach it to: spaces that end a segment go
// with the next segment ("word" + " Next", not "word " + "Next"), newlines that start a segment
// go with the previous one ("step.\n\n" + "Q", as Llama-3 joins punctuation and newlines).
tokenized_prompt tokenizer_encode_segments(const tokenizer& tok,
                                           const std::vector<text_segment>& segments, bool add_bos);

// Whether the segment-wise encoding equals the encoding of the concatenated text (special tokens
// parsed only inside template segments). Tasks should cut segments where this holds.
struct segment_check {
    bool equal = true;
    int32_t first_mismatch = -1; // first token index where the two differ
    size_t n_whole = 0;          // tokens of the whole-text encoding
    size_t n_segmented = 0;      // tokens of the segment-wise encoding
};
segment_check tokenizer_check_segments(const tokenizer& tok,
                                       const std::vector<text_segment>& segments, bool add_bos);

// ---- vocabulary ---------------------------------------------------------------------------

int32_t tokenizer_n_vocab(const tokenizer& tok);
int32_t tokenizer_bos(const tokenizer& tok);  // -1 when absent
int32_t tokenizer_eos(const tokenizer& tok);  // -1 when absent
int32_t tokenizer_eot(const tokenizer& tok);  // end of turn (<|eot_id|>); -1 when absent
bool tokenizer_add_bos(const tokenizer& tok); // whether the model expects BOS at the start
bool tokenizer_is_eog(const tokenizer& tok,
                      int32_t id); // ends generation: eos, eot, eom, end_of_text
int32_t tokenizer_token_id(const tokenizer& tok,
                           const std::string& text); // exact piece; -1 if none
const std::string& tokenizer_token_text(const tokenizer& tok, int32_t id); // piece as stored
int32_t tokenizer_token_type(const tokenizer& tok, int32_t id);
const char* tokenizer_model_name(const tokenizer& tok); // "spm", "bpe-byte-level", "bpe-metaspace"
