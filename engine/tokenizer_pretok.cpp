// Byte-level BPE pre-tokenization: the Llama-3 split regex, written out as a scanner (std::regex
// has no Unicode classes), and the GPT-2 byte-to-unicode mapping.
#include <array>
#include <unordered_map>

#include "engine/tokenizer_impl.h"
#include "engine/tokenizer_unicode.h"

namespace {

// One decoded character of the input.
struct pretok_char {
    uint32_t cp;
    size_t offset; // byte offset in the text
};

bool is_newline(uint32_t cp) {
    return cp == '\r' || cp == '\n';
}
bool is_letter(uint32_t cp) {
    return unicode_classify(cp) == UNICODE_LETTER;
}
bool is_number(uint32_t cp) {
    return unicode_classify(cp) == UNICODE_NUMBER;
}
// [^\s\p{L}\p{N}]
bool is_symbol(uint32_t cp) {
    return !unicode_is_whitespace(cp) && unicode_classify(cp) == UNICODE_OTHER;
}

// Case-insensitive ASCII letter of a contraction; U+017F (long s) folds to 's' as in Unicode
// case folding.
uint32_t fold(uint32_t cp) {
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (cp == 0x17F) return 's';
    return cp;
}

// Length in characters of the match at position i, trying the alternatives in regex order.
size_t match_at(const std::vector<pretok_char>& c, size_t i) {
    const size_t n = c.size();
    auto at = [&](size_t k) { return k < n ? c[k].cp : 0u; };

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (at(i) == '\'' && i + 1 < n) {
        const uint32_t a = fold(at(i + 1));
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if (i + 2 < n) {
            const uint32_t b = fold(at(i + 2));
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return 3;
        }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    {
        size_t j = i;
        if (!is_letter(at(i)) && !is_number(at(i)) && !is_newline(at(i))) j = i + 1;
        if (j < n && is_letter(at(j))) {
            while (j < n && is_letter(at(j)))
                ++j;
            return j - i;
        }
    }
    // \p{N}{1,3}
    if (is_number(at(i))) {
        size_t j = i;
        while (j < n && j - i < 3 && is_number(at(j)))
            ++j;
        return j - i;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    {
        size_t j = (at(i) == ' ' && i + 1 < n && is_symbol(at(i + 1))) ? i + 1 : i;
        if (j < n && is_symbol(at(j))) {
            while (j < n && is_symbol(at(j)))
                ++j;
            while (j < n && is_newline(at(j)))
                ++j;
            return j - i;
        }
    }
    // Whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+
    size_t end = i;
    while (end < n && unicode_is_whitespace(at(end)))
        ++end;
    if (end > i) {
        // \s*[\r\n]+ backtracks to the last newline of the run.
        for (size_t k = end; k > i; --k) {
            if (is_newline(at(k - 1))) return k - i;
        }
        // \s+(?!\S): the whole run at the end of the text, else all but the last whitespace,
        // which then leads the next word.
        if (end == n) return end - i;
        if (end - i >= 2) return end - 1 - i;
        return end - i;
    }
    return 1; // unreachable for valid classes; keeps the scan moving
}

struct gpt2_tables {
    std::array<std::string, 256> byte_to_char;
    std::unordered_map<uint32_t, int32_t> char_to_byte;
    gpt2_tables() {
        // Printable bytes stand for themselves; the others map to U+0100.. in byte order.
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            const uint32_t cp = printable ? b : next++;
            byte_to_char[b] = utf8_encode(cp);
            char_to_byte[cp] = static_cast<int32_t>(b);
        }
    }
};

const gpt2_tables& gpt2() {
    static const gpt2_tables tables;
    return tables;
}

} // namespace

void llama3_pretokenize(const std::string& text, std::vector<std::pair<size_t, size_t>>& chunks) {
    std::vector<pretok_char> chars;
    chars.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        uint32_t cp = 0;
        const size_t len = utf8_decode(text, i, cp);
        chars.push_back({cp, i});
        i += len;
    }
    for (size_t i = 0; i < chars.size();) {
        const size_t len = match_at(chars, i);
        const size_t end = i + len;
        chunks.emplace_back(chars[i].offset, end < chars.size() ? chars[end].offset : text.size());
        i = end;
    }
}

const std::string& gpt2_byte_to_char(uint8_t b) {
    return gpt2().byte_to_char[b];
}

int32_t gpt2_char_to_byte(uint32_t cp) {
    const auto it = gpt2().char_to_byte.find(cp);
    return it == gpt2().char_to_byte.end() ? -1 : it->second;
}
