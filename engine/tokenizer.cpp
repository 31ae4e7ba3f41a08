// Tokenizer core: special-token splitting, the merge loop shared by the three models, segment
// encoding and decoding. Loaders live in tokenizer_load.cpp, the Llama-3 pre-tokenizer in
// tokenizer_pretok.cpp.
#include <algorithm>
#include <queue>
#include <stdexcept>

#include "engine/tokenizer_impl.h"
#include "engine/tokenizer_unicode.h"

namespace {

const std::string k_space_piece = "\xE2\x96\x81"; // "▁" U+2581

// A piece of input after special-token splitting: either text or one special token.
struct fragment {
    int32_t special = -1; // token id, or -1 for text
    std::string text;
};

// Tracks where the dummy-prefix space goes across fragments (and across segments).
struct encode_state {
    bool input_start = true;   // nothing has been encoded yet
    bool after_special = true; // the previous fragment was a special token (or none yet)
};

// Appends text to `out`, split at special tokens when `parse` is set.
void split_specials(const tokenizer& tok, const std::string& text, bool parse,
                    std::vector<fragment>& out) {
    auto add_text = [&](size_t begin, size_t end) {
        if (begin == end) return;
        if (!out.empty() && out.back().special < 0) {
            out.back().text.append(text, begin, end - begin);
        } else {
            out.push_back({-1, text.substr(begin, end - begin)});
        }
    };
    if (!parse || tok.special_ids.empty()) {
        add_text(0, text.size());
        return;
    }
    size_t text_begin = 0;
    for (size_t i = 0; i < text.size();) {
        int32_t found = -1;
        for (int32_t id : tok.special_ids) { // longest first
            const std::string& s = tok.pieces[id];
            if (s[0] == text[i] && text.compare(i, s.size(), s) == 0) {
                found = id;
                break;
            }
        }
        if (found < 0) {
            ++i;
            continue;
        }
        add_text(text_begin, i);
        out.push_back({found, {}});
        i += tok.pieces[found].size();
        text_begin = i;
    }
    add_text(text_begin, text.size());
}

// ---- the merge loop ---------------------------------------------------------------------

struct symbol {
    int32_t id;
    int32_t prev, next; // neighbours in the word, -1 at the ends
    uint32_t len;       // input bytes covered; 0 once merged into the left neighbour
};

struct merge_candidate {
    double key;        // lower merges first (rank, or minus the score)
    int32_t left;      // symbol index; lower (further left) first on ties
    uint32_t left_len; // lengths when queued: a candidate is stale once either side changed
    uint32_t right_len;
    int32_t result;
    bool operator<(const merge_candidate& o) const { // std::priority_queue pops the largest
        if (key != o.key) return key > o.key;
        return left > o.left;
    }
};

// Whether tokens a and b merge, and into what with which priority.
bool find_merge(const tokenizer& tok, int32_t a, int32_t b, double& key, int32_t& result) {
    if (tok.model == TOKENIZER_MODEL_SPM) {
        const auto it = tok.piece_ids.find(tok.pieces[a] + tok.pieces[b]);
        if (it == tok.piece_ids.end()) return false;
        const int32_t type = tok.types[it->second];
        // As SentencePiece: control, unknown, byte and unused pieces are never merge results.
        if (type != TOKEN_TYPE_NORMAL && type != TOKEN_TYPE_USER_DEFINED &&
            type != TOKEN_TYPE_UNDEFINED)
            return false;
        key = -static_cast<double>(tok.scores[it->second]);
        result = it->second;
        return true;
    }
    const auto it = tok.merges.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) |
                                    static_cast<uint32_t>(b));
    if (it == tok.merges.end()) return false;
    key = it->second.rank;
    result = it->second.result;
    return true;
}

// Merges the symbols of one word, best pair first, leftmost on ties, and appends the ids.
void merge_word(const tokenizer& tok, std::vector<symbol>& syms, std::vector<int32_t>& out) {
    std::priority_queue<merge_candidate> queue;
    auto try_pair = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = syms[left].next;
        if (right < 0) return;
        merge_candidate c{0.0, left, syms[left].len, syms[right].len, -1};
        if (find_merge(tok, syms[left].id, syms[right].id, c.key, c.result)) queue.push(c);
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i)
        try_pair(i);

    while (!queue.empty()) {
        const merge_candidate c = queue.top();
        queue.pop();
        symbol& left = syms[c.left];
        if (left.len != c.left_len || left.next < 0) continue;
        symbol& right = syms[left.next];
        if (right.len != c.right_len) continue;
        left.id = c.result;
        left.len += right.len;
        left.next = right.next;
        if (right.next >= 0) syms[right.next].prev = c.left;
        right.len = 0;
        try_pair(left.prev);
        try_pair(c.left);
    }
    for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next)
        out.push_back(syms[i].id);
}

void push_symbol(std::vector<symbol>& syms, int32_t id, uint32_t len) {
    const auto n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, len});
    if (n > 0) syms[n - 1].next = n;
}

// One word in vocabulary space ("▁" for spaces): a symbol per character, or byte-fallback
// tokens (else unk) for characters not in the vocabulary.
void encode_spm_word(const tokenizer& tok, const std::string& word, std::vector<int32_t>& out) {
    std::vector<symbol> syms;
    syms.reserve(word.size());
    for (size_t i = 0; i < word.size();) {
        uint32_t cp = 0;
        const size_t len = utf8_decode(word, i, cp);
        const auto it = tok.piece_ids.find(word.substr(i, len));
        if (it != tok.piece_ids.end()) {
            push_symbol(syms, it->second, static_cast<uint32_t>(len));
        } else {
            const bool have_bytes =
                std::all_of(word.begin() + i, word.begin() + i + len,
                            [&](char b) { return tok.byte_ids[static_cast<uint8_t>(b)] >= 0; });
            if (have_bytes) {
                for (size_t k = i; k < i + len; ++k)
                    push_symbol(syms, tok.byte_ids[static_cast<uint8_t>(word[k])], 1);
            } else if (tok.unk >= 0) {
                push_symbol(syms, tok.unk, static_cast<uint32_t>(len));
            } else {
                throw std::runtime_error(tok.source + ": cannot encode U+" + std::to_string(cp) +
                                         " (not in the vocabulary, no byte fallback, no unk)");
            }
        }
        i += len;
    }
    merge_word(tok, syms, out);
}

void encode_byte_level(const tokenizer& tok, const std::string& text, std::vector<int32_t>& out) {
    std::vector<std::pair<size_t, size_t>> chunks;
    llama3_pretokenize(text, chunks);
    std::vector<symbol> syms;
    std::string mapped;
    for (const auto& [begin, end] : chunks) {
        if (tok.ignore_merges) {
            mapped.clear();
            for (size_t k = begin; k < end; ++k)
                mapped += gpt2_byte_to_char(static_cast<uint8_t>(text[k]));
            const auto it = tok.piece_ids.find(mapped);
            if (it != tok.piece_ids.end()) {
                out.push_back(it->second);
                continue;
            }
        }
        syms.clear();
        for (size_t k = begin; k < end; ++k)
            push_symbol(syms, tok.byte_ids[static_cast<uint8_t>(text[k])], 1);
        merge_word(tok, syms, out);
    }
}

// Text between special tokens.
void encode_text(const tokenizer& tok, const std::string& text, encode_state& state,
                 std::vector<int32_t>& out) {
    if (text.empty()) return;
    const bool prefix = (tok.prefix == PREFIX_ALWAYS && state.after_special) ||
                        (tok.prefix == PREFIX_FIRST && state.input_start);
    state.input_start = false;
    state.after_special = false;
    if (tok.model == TOKENIZER_MODEL_BPE_BYTE_LEVEL) {
        encode_byte_level(tok, text, out);
        return;
    }
    std::string norm;
    norm.reserve(text.size() + 3);
    if (prefix && !(tok.prefix_skip_if_space && text[0] == ' ')) norm = k_space_piece;
    for (char c : text) {
        if (c == ' ') {
            norm += k_space_piece;
        } else {
            norm += c;
        }
    }
    if (!tok.metaspace_split) {
        encode_spm_word(tok, norm, out);
        return;
    }
    // Metaspace split: every "▁" starts a new word.
    size_t begin = 0;
    while (begin < norm.size()) {
        size_t end = norm.find(k_space_piece, begin + 1);
        if (end == std::string::npos) end = norm.size();
        encode_spm_word(tok, norm.substr(begin, end - begin), out);
        begin = end;
    }
}

void encode_fragments(const tokenizer& tok, const std::vector<fragment>& frags, encode_state& state,
                      std::vector<int32_t>& out) {
    for (const fragment& f : frags) {
        if (f.special >= 0) {
            out.push_back(f.special);
            state.input_start = false;
            state.after_special = true;
        } else {
            encode_text(tok, f.text, state, out);
        }
    }
}

void check_id(const tokenizer& tok, int32_t id) {
    if (id < 0 || id >= static_cast<int32_t>(tok.pieces.size())) {
        throw std::out_of_range("tokenizer (" + tok.source + "): token id " + std::to_string(id) +
                                " out of range [0, " + std::to_string(tok.pieces.size()) + ")");
    }
}

bool is_special_type(int32_t type) {
    return type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_UNKNOWN;
}

// The texts that are encoded segment by segment. Whitespace at a boundary goes where the
// tokenizers attach it: newlines that start a segment to the previous one (Llama-3 joins
// punctuation with the newlines after it), spaces that end a segment to the next one (both
// families join a space with the word after it).
std::vector<std::string> carried_texts(const std::vector<text_segment>& segments) {
    std::vector<std::string> texts;
    texts.reserve(segments.size());
    for (const text_segment& s : segments)
        texts.push_back(s.text);
    for (size_t i = 1; i < texts.size(); ++i) {
        const size_t n = std::min(texts[i].find_first_not_of("\r\n"), texts[i].size());
        texts[i - 1] += texts[i].substr(0, n);
        texts[i].erase(0, n);
    }
    for (size_t i = 0; i + 1 < texts.size(); ++i) {
        const size_t keep = texts[i].find_last_not_of(' ') + 1; // npos + 1 == 0: all spaces
        texts[i + 1].insert(0, texts[i].substr(keep));
        texts[i].resize(keep);
    }
    return texts;
}

} // namespace

// ---- construction helpers -------------------------------------------------------------------

void tokenizer_add_merge(tokenizer& tok, const std::string& left, const std::string& right,
                         int32_t rank, const std::string& where) {
    const auto l = tok.piece_ids.find(left);
    const auto r = tok.piece_ids.find(right);
    const auto m = tok.piece_ids.find(left + right);
    if (l == tok.piece_ids.end() || r == tok.piece_ids.end() || m == tok.piece_ids.end()) {
        throw std::runtime_error(tok.source + ": " + where + " ('" + left + "' '" + right +
                                 "'): a piece of the merge is not in the vocabulary");
    }
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) |
                         static_cast<uint32_t>(r->second);
    tok.merges.emplace(key, merge_rule{rank, m->second}); // the first (best) rank of a pair wins
}

void tokenizer_index_pieces(tokenizer& tok) {
    tok.piece_ids.clear();
    tok.piece_ids.reserve(tok.pieces.size());
    for (size_t i = 0; i < tok.pieces.size(); ++i)
        tok.piece_ids.emplace(tok.pieces[i], static_cast<int32_t>(i));
}

void tokenizer_finalize(tokenizer& tok) {
    const size_t n = tok.pieces.size();
    if (n == 0) throw std::runtime_error(tok.source + ": empty vocabulary");
    if (tok.types.empty()) tok.types.assign(n, TOKEN_TYPE_NORMAL);
    if (tok.types.size() != n) {
        throw std::runtime_error(tok.source + ": " + std::to_string(tok.types.size()) +
                                 " token types for " + std::to_string(n) + " tokens");
    }
    if (tok.model == TOKENIZER_MODEL_SPM && tok.scores.size() != n) {
        throw std::runtime_error(tok.source + ": " + std::to_string(tok.scores.size()) +
                                 " scores for " + std::to_string(n) + " tokens");
    }
    for (const auto& [name, id] :
         {std::pair<const char*, int32_t>{"bos", tok.bos}, {"eos", tok.eos}, {"unk", tok.unk}}) {
        if (id < -1 || id >= static_cast<int32_t>(n)) {
            throw std::runtime_error(tok.source + ": " + name + " id " + std::to_string(id) +
                                     " out of range [0, " + std::to_string(n) + ")");
        }
    }
    if (tok.piece_ids.empty()) tokenizer_index_pieces(tok);

    tok.byte_ids.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
        std::string key;
        if (tok.model == TOKENIZER_MODEL_BPE_BYTE_LEVEL) {
            key = gpt2_byte_to_char(static_cast<uint8_t>(b));
        } else {
            static const char hex[] = "0123456789ABCDEF";
            key = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
        }
        const auto it = tok.piece_ids.find(key);
        if (it != tok.piece_ids.end()) tok.byte_ids[b] = it->second;
        if (tok.model == TOKENIZER_MODEL_BPE_BYTE_LEVEL && tok.byte_ids[b] < 0) {
            throw std::runtime_error(tok.source +
                                     ": byte-level vocabulary lacks the token for byte " +
                                     std::to_string(b));
        }
    }

    tok.special_ids.clear();
    for (size_t i = 0; i < n; ++i) {
        const int32_t type = tok.types[i];
        if ((type == TOKEN_TYPE_CONTROL || type == TOKEN_TYPE_USER_DEFINED) &&
            !tok.pieces[i].empty()) {
            tok.special_ids.push_back(static_cast<int32_t>(i));
        }
    }
    std::stable_sort(tok.special_ids.begin(), tok.special_ids.end(), [&](int32_t a, int32_t b) {
        return tok.pieces[a].size() > tok.pieces[b].size();
    });

    auto lookup = [&](const char* text) {
        const auto it = tok.piece_ids.find(text);
        return it == tok.piece_ids.end() ? -1 : it->second;
    };
    tok.eot = lookup("<|eot_id|>");
    if (tok.eot < 0) tok.eot = lookup("<|im_end|>");
    tok.eog_ids.clear();
    for (int32_t id : {tok.eos, tok.eot, lookup("<|eom_id|>"), lookup("<|end_of_text|>")}) {
        if (id >= 0 && std::find(tok.eog_ids.begin(), tok.eog_ids.end(), id) == tok.eog_ids.end())
            tok.eog_ids.push_back(id);
    }
}

// ---- encoding ---------------------------------------------------------------------------------

std::vector<int32_t> tokenizer_encode(const tokenizer& tok, const std::string& text, bool add_bos,
                                      bool parse_special) {
    std::vector<int32_t> out;
    if (add_bos && tok.bos >= 0) out.push_back(tok.bos);
    std::vector<fragment> frags;
    split_specials(tok, text, parse_special, frags);
    encode_state state;
    encode_fragments(tok, frags, state, out);
    return out;
}

tokenized_prompt tokenizer_encode_segments(const tokenizer& tok,
                                           const std::vector<text_segment>& segments,
                                           bool add_bos) {
    tokenized_prompt p;
    if (add_bos && tok.bos >= 0) {
        p.tokens.push_back(tok.bos);
        p.spans.push_back({SEGMENT_TEMPLATE, 0, 1, -1});
    }
    const std::vector<std::string> texts = carried_texts(segments);
    encode_state state;
    std::vector<fragment> frags;
    for (size_t i = 0; i < segments.size(); ++i) {
        frags.clear();
        split_specials(tok, texts[i], segments[i].kind == SEGMENT_TEMPLATE, frags);
        const auto start = static_cast<int32_t>(p.tokens.size());
        encode_fragments(tok, frags, state, p.tokens);
        p.spans.push_back(
            {segments[i].kind, start, static_cast<int32_t>(p.tokens.size()), segments[i].shot_id});
    }
    return p;
}

segment_check tokenizer_check_segments(const tokenizer& tok,
                                       const std::vector<text_segment>& segments, bool add_bos) {
    std::vector<fragment> frags; // split_specials joins adjacent text across segments
    for (const text_segment& s : segments)
        split_specials(tok, s.text, s.kind == SEGMENT_TEMPLATE, frags);
    std::vector<int32_t> whole;
    if (add_bos && tok.bos >= 0) whole.push_back(tok.bos);
    encode_state state;
    encode_fragments(tok, frags, state, whole);

    const std::vector<int32_t> segmented = tokenizer_encode_segments(tok, segments, add_bos).tokens;
    segment_check r;
    r.n_whole = whole.size();
    r.n_segmented = segmented.size();
    const size_t common = std::min(whole.size(), segmented.size());
    for (size_t i = 0; i < common && r.equal; ++i) {
        if (whole[i] != segmented[i]) {
            r.equal = false;
            r.first_mismatch = static_cast<int32_t>(i);
        }
    }
    if (r.equal && whole.size() != segmented.size()) {
        r.equal = false;
        r.first_mismatch = static_cast<int32_t>(common);
    }
    return r;
}

// ---- decoding ---------------------------------------------------------------------------------

std::string tokenizer_piece(const tokenizer& tok, int32_t id) {
    check_id(tok, id);
    const int32_t type = tok.types[id];
    const std::string& piece = tok.pieces[id];
    if (is_special_type(type)) return {};
    if (type == TOKEN_TYPE_USER_DEFINED) return piece;
    if (tok.model == TOKENIZER_MODEL_BPE_BYTE_LEVEL) {
        std::string out;
        for (size_t i = 0; i < piece.size();) {
            uint32_t cp = 0;
            i += utf8_decode(piece, i, cp);
            const int32_t b = gpt2_char_to_byte(cp);
            if (b >= 0) out += static_cast<char>(b);
        }
        return out;
    }
    if (type == TOKEN_TYPE_BYTE && piece.size() == 6) {
        return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
    }
    std::string out;
    for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, k_space_piece.size(), k_space_piece) == 0) {
            out += ' ';
            i += k_space_piece.size();
        } else {
            out += piece[i++];
        }
    }
    return out;
}

std::string tokenizer_decode(const tokenizer& tok, const std::vector<int32_t>& ids,
                             bool render_special) {
    std::string out;
    encode_state state; // mirrors the encoder: where it put a prefix space, remove one
    for (int32_t id : ids) {
        check_id(tok, id);
        if (is_special_type(tok.types[id])) {
            if (render_special) out += tok.pieces[id];
            state.input_start = false;
            state.after_special = true;
            continue;
        }
        std::string piece = tokenizer_piece(tok, id);
        const bool prefixed = (tok.prefix == PREFIX_ALWAYS && state.after_special) ||
                              (tok.prefix == PREFIX_FIRST && state.input_start);
        if (prefixed && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
        state.after_special =
            tok.types[id] == TOKEN_TYPE_USER_DEFINED; // matched like a special token
        state.input_start = false;
        out += piece;
    }
    return out;
}

// ---- vocabulary -------------------------------------------------------------------------------

int32_t tokenizer_n_vocab(const tokenizer& tok) {
    return static_cast<int32_t>(tok.pieces.size());
}
int32_t tokenizer_bos(const tokenizer& tok) {
    return tok.bos;
}
int32_t tokenizer_eos(const tokenizer& tok) {
    return tok.eos;
}
int32_t tokenizer_eot(const tokenizer& tok) {
    return tok.eot;
}
bool tokenizer_add_bos(const tokenizer& tok) {
    return tok.add_bos;
}

bool tokenizer_is_eog(const tokenizer& tok, int32_t id) {
    return std::find(tok.eog_ids.begin(), tok.eog_ids.end(), id) != tok.eog_ids.end();
}

int32_t tokenizer_token_id(const tokenizer& tok, const std::string& text) {
    const auto it = tok.piece_ids.find(text);
    return it == tok.piece_ids.end() ? -1 : it->second;
}

const std::string& tokenizer_token_text(const tokenizer& tok, int32_t id) {
    check_id(tok, id);
    return tok.pieces[id];
}

int32_t tokenizer_token_type(const tokenizer& tok, int32_t id) {
    check_id(tok, id);
    return tok.types[id];
}

const char* tokenizer_model_name(const tokenizer& tok) {
    switch (tok.model) {
    case TOKENIZER_MODEL_SPM:
        return "spm";
    case TOKENIZER_MODEL_BPE_BYTE_LEVEL:
        return "bpe-byte-level";
    case TOKENIZER_MODEL_BPE_METASPACE:
        return "bpe-metaspace";
    }
    return "unknown";
}
