#include "tasks/multiple_choice.h"

#include <cctype>
#include <regex>

#include "tasks/task_data.h"

std::string choice_format_question(const std::string& prefix, const std::string& question,
                                   const std::vector<std::string>& choices) {
    std::string s = prefix + text_trim(question) + "\n";
    for (size_t i = 0; i < choices.size(); ++i)
        s += std::string(1, static_cast<char>('A' + i)) + ". " + choices[i] + "\n";
    return s + "Answer:";
}

// Index of `letter` among the first n_choices ("A" = 0); -1 when it is not one of them.
static int32_t choice_letter_index(const std::string& letter, int32_t n_choices) {
    if (letter.size() != 1) return -1;
    const int32_t i = std::toupper(static_cast<unsigned char>(letter[0])) - 'A';
    return i >= 0 && i < n_choices ? i : -1;
}

// A second letter right after the first ("A and B", "B, C", "(A)/(B)") makes the answer ambiguous.
static bool choice_followed_by_letter(const std::string& rest) {
    static const std::regex re(R"(^\s*(,|and|or|/|&)\s*[(\[]?[A-Za-z](?![A-Za-z]))",
                               std::regex::icase);
    return std::regex_search(rest, re);
}

std::string choice_extract_letter(const std::string& output, int32_t n_choices) {
    size_t b = 0;
    while (b < output.size() && std::isspace(static_cast<unsigned char>(output[b])))
        ++b;
    const std::string line = text_trim(output.substr(b, output.find('\n', b) - b));

    // The line starts with the letter: "B", "B.", "(B)", "[B] text", "B) text", "B. text".
    static const std::regex start(
        R"(^(?:\(([A-Z])\)|\[([A-Z])\]|([A-Z])[.):]?$|([A-Z])[.):](?=\s)))");
    // A lead-in: "the answer is (c)", "Answer: c", "option B". A lower-case letter must end the
    // phrase ("answer is a bit ..." is no answer).
    static const std::regex lead(
        R"((?:answer\s+is|answer\s*:|option)\s*:?\s*(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])(?![A-Za-z])))",
        std::regex::icase);
    std::smatch m;
    bool found = std::regex_search(line, m, start);
    if (!found) found = std::regex_search(line, m, lead);
    if (!found) return "";
    std::string letter;
    for (size_t g = 1; g < m.size(); ++g)
        if (m[g].matched) letter = m[g].str();
    static const std::regex phrase_end(R"(^($|[.):;,!]))");
    if (m[3].matched && std::islower(static_cast<unsigned char>(letter[0])) &&
        !std::regex_search(m.suffix().str(), phrase_end))
        return "";
    if (choice_followed_by_letter(m.suffix().str())) return "";
    const int32_t idx = choice_letter_index(letter, n_choices);
    return idx < 0 ? "" : std::string(1, static_cast<char>('A' + idx));
}

generation_settings choice_generation(const task_options& options) {
    generation_settings g;
    g.max_new_tokens = task_param_int(options, "max_new_tokens", 32);
    g.stop = {"\n"};
    return g;
}

task_score choice_score(const task_item& item, const std::string& output, int32_t n_choices) {
    task_score s;
    const std::string letter = choice_extract_letter(output, n_choices);
    s.extracted["letter"] = letter;
    s.scores["acc"] = !letter.empty() && letter == item.gold ? 1.0 : 0.0;
    return s;
}
