// Unicode helpers for the tokenizers: UTF-8 decoding and the character classes the Llama-3
// pre-tokenizer regex uses (\p{L}, \p{N}, \s). The letter/number table is generated
// (engine/tokenizer_unicode.cpp, by tools/tokenizer_fixtures/gen_unicode_ranges.py).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

enum unicode_class : int32_t {
    UNICODE_OTHER = 0,
    UNICODE_LETTER = 1, // general category L*
    UNICODE_NUMBER = 2, // general category N*
};

unicode_class unicode_classify(uint32_t cp);

// White_Space property (what \s matches in Unicode regex engines).
bool unicode_is_whitespace(uint32_t cp);

// Decodes the code point starting at s[i] and returns its byte length. Invalid or truncated
// sequences decode as one byte with cp = 0xFFFD, so every byte of the input is covered once.
size_t utf8_decode(const std::string& s, size_t i, uint32_t& cp);

// Byte length of the UTF-8 sequence that starts with byte c (1 for invalid lead bytes).
size_t utf8_len(unsigned char c);

std::string utf8_encode(uint32_t cp);
