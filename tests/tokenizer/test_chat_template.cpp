#include <gtest/gtest.h>

#include "engine/chat_template.h"
#include "tests/tokenizer/tokenizer_fixtures.h"

namespace {

std::string joined(const std::vector<text_segment>& segs) {
    std::string s;
    for (const text_segment& seg : segs)
        s += seg.text;
    return s;
}

task_prompt sample_prompt() {
    task_prompt p;
    p.system = {{SEGMENT_SYSTEM, "  You are a careful solver.\n", -1}};
    p.user = {{SEGMENT_SHOT, "\nQ: 1+1?\nA: 2\n\n", 0}, {SEGMENT_QUESTION, "Q: 2+3?\nA:", -1}};
    return p;
}

TEST(chat_template, llama3_golden_string_and_ids) {
    const task_prompt p = sample_prompt();
    const std::vector<text_segment> segs = chat_apply("llama3", p);
    // The Llama-3.2 Jinja template with date_string "26 Jul 2024"; message contents are trimmed.
    EXPECT_EQ(joined(segs), "<|start_header_id|>system<|end_header_id|>\n\n"
                            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                            "You are a careful solver.<|eot_id|>"
                            "<|start_header_id|>user<|end_header_id|>\n\n"
                            "Q: 1+1?\nA: 2\n\nQ: 2+3?\nA:<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n");
    const tokenizer& tok = llama3_tok();
    const tokenized_prompt t = tokenizer_encode_segments(tok, segs, true);
    // <|begin_of_text|> <|start_header_id|> system <|end_header_id|> \n\n
    ASSERT_GE(t.tokens.size(), 5u);
    EXPECT_EQ(std::vector<int32_t>(t.tokens.begin(), t.tokens.begin() + 5),
              (std::vector<int32_t>{128000, 128006, 9125, 128007, 271}));
    // ... <|eot_id|> <|start_header_id|> assistant <|end_header_id|> \n\n
    EXPECT_EQ(std::vector<int32_t>(t.tokens.end() - 5, t.tokens.end()),
              (std::vector<int32_t>{128009, 128006, 78191, 128007, 271}));
    EXPECT_TRUE(tokenizer_check_segments(tok, segs, true).equal);
    // Same ids as encoding the rendered string with specials parsed (what HF does).
    EXPECT_EQ(t.tokens, tokenizer_encode(tok, joined(segs), true, true));
    // Task segments keep their kind and shot id.
    int shots = 0;
    for (const token_span& s : t.spans) {
        if (s.kind == SEGMENT_SHOT) {
            EXPECT_EQ(s.shot_id, 0);
            ++shots;
        }
    }
    EXPECT_EQ(shots, 1);
}

TEST(chat_template, llama3_without_system_keeps_the_date_block) {
    task_prompt p;
    p.user = {{SEGMENT_QUESTION, "Hi", -1}};
    p.assistant_prefix = "def f():";
    const std::vector<text_segment> segs = chat_apply("llama3", p);
    EXPECT_EQ(joined(segs),
              "<|start_header_id|>system<|end_header_id|>\n\n"
              "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\ndef f():");
    EXPECT_EQ(segs.back().kind, SEGMENT_QUESTION);
    EXPECT_EQ(segs.back().text, "def f():");
}

TEST(chat_template, llama3_nodate) {
    task_prompt p;
    p.user = {{SEGMENT_QUESTION, "Hello, my dog is cute", -1}};
    const std::vector<text_segment> segs = chat_apply("llama3-nodate", p);
    EXPECT_EQ(joined(segs),
              "<|start_header_id|>user<|end_header_id|>\n\nHello, my dog is cute<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(tokenizer_encode_segments(llama3_tok(), segs, true).tokens,
              (std::vector<int32_t>{128000, 128006, 882, 128007, 271, 9906, 11, 856, 5679, 374,
                                    19369, 128009, 128006, 78191, 128007, 271}));
    p.system = {{SEGMENT_SYSTEM, "Be brief.", -1}};
    EXPECT_EQ(joined(chat_apply("llama3-nodate", p))
                  .rfind("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>", 0),
              0u);
}

TEST(chat_template, llama2_and_mistral_layouts) {
    const task_prompt p = sample_prompt();
    EXPECT_EQ(joined(chat_apply("llama2", p)),
              "[INST] <<SYS>>\n  You are a careful solver.\n\n<</SYS>>\n\n\nQ: 1+1?\nA: 2\n\nQ: "
              "2+3?\nA: [/INST]");
    EXPECT_EQ(joined(chat_apply("mistral", p)),
              "[INST]   You are a careful solver.\n\n\n\nQ: 1+1?\nA: 2\n\nQ: 2+3?\nA: [/INST]");
    task_prompt q;
    q.user = {{SEGMENT_QUESTION, " Hello ", -1}};
    q.assistant_prefix = "Sure";
    EXPECT_EQ(joined(chat_apply("llama2", q)), "[INST] Hello [/INST] Sure");
    EXPECT_EQ(joined(chat_apply("mistral", q)), "[INST]  Hello  [/INST]Sure");

    // Mistral ids: <s> ▁[ INST ] ▁Hello ▁[ / INST ] (README of the staged tokenizer).
    task_prompt r;
    r.user = {{SEGMENT_QUESTION, "Hello", -1}};
    const std::vector<text_segment> segs = chat_apply("mistral", r);
    const tokenizer& tok = mistral_tok();
    const tokenized_prompt t = tokenizer_encode_segments(tok, segs, true);
    EXPECT_EQ(t.tokens,
              (std::vector<int32_t>{1, 733, 16289, 28793, 22557, 733, 28748, 16289, 28793}));
    EXPECT_EQ(t.tokens, tokenizer_encode(tok, joined(segs), true, false));
    // The user span holds "▁Hello": the template's trailing space moved into it.
    ASSERT_EQ(t.spans.size(), 4u);
    EXPECT_EQ(t.spans[2].kind, SEGMENT_QUESTION);
    EXPECT_EQ(std::vector<int32_t>(t.tokens.begin() + t.spans[2].start,
                                   t.tokens.begin() + t.spans[2].end),
              (std::vector<int32_t>{22557}));
}

TEST(chat_template, deepseek_r1_layout) {
    const task_prompt p = sample_prompt();
    EXPECT_EQ(joined(chat_apply("deepseek-r1", p)),
              "  You are a careful solver.\n<｜User｜>\nQ: 1+1?\nA: 2\n\nQ: 2+3?\nA:"
              "<｜Assistant｜><think>\n");
}

TEST(chat_template, plain_is_the_concatenation) {
    const task_prompt p = sample_prompt();
    const std::vector<text_segment> segs = chat_apply("plain", p);
    EXPECT_EQ(joined(segs), "  You are a careful solver.\n\nQ: 1+1?\nA: 2\n\nQ: 2+3?\nA:");
    for (const text_segment& s : segs)
        EXPECT_NE(s.kind, SEGMENT_TEMPLATE);
    const tokenized_prompt t = tokenizer_encode_segments(tok512(), segs, true);
    EXPECT_EQ(t.tokens.front(), 1); // BOS only
}

TEST(chat_template, plain_separates_system_from_user) {
    task_prompt p;
    p.system = {{SEGMENT_SYSTEM, "Answer with their number.", -1}};
    p.user = {{SEGMENT_QUESTION, "Examples:\n", -1}};
    const std::vector<text_segment> segs = chat_apply("plain", p);
    EXPECT_EQ(joined(segs), "Answer with their number.\n\nExamples:\n");
    ASSERT_EQ(segs.size(), 3u);
    EXPECT_EQ(segs[1].kind, SEGMENT_TEMPLATE);
    EXPECT_TRUE(tokenizer_check_segments(llama3_tok(), segs, true).equal);
}

TEST(chat_template, unknown_name_lists_valid_ones) {
    try {
        chat_apply("chatml", sample_prompt());
        FAIL();
    } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("chatml"), std::string::npos);
        for (const std::string& n : chat_template_names())
            EXPECT_NE(msg.find(n), std::string::npos) << msg;
    }
}

TEST(chat_template, real_task_prompts_segment_like_the_whole_text) {
    // GSM8K-style few-shot prompt under every template and tokenizer.
    task_prompt p;
    p.system = {{SEGMENT_SYSTEM, "Answer the math question step by step.", -1}};
    for (int i = 0; i < 3; ++i) {
        p.user.push_back({SEGMENT_SHOT,
                          "Question: Tom has " + std::to_string(3 + i) +
                              " apples and buys 2 more. How many?\n"
                              "Answer: " +
                              std::to_string(3 + i) + " + 2 = " + std::to_string(5 + i) +
                              ". The answer is " + std::to_string(5 + i) + ".\n\n",
                          i});
    }
    p.user.push_back(
        {SEGMENT_QUESTION, "Question: Janet’s ducks lay 16 eggs per day. How many?\nAnswer:", -1});
    // Each template with the tokenizers of its models (a template's text can merge across a
    // segment boundary in a foreign vocabulary, e.g. ".<" in Mistral's).
    const std::vector<std::pair<std::string, const tokenizer*>> pairs = {
        {"llama3", &llama3_tok()},   {"llama3-nodate", &llama3_tok()},
        {"plain", &llama3_tok()},    {"llama2", &mistral_tok()},
        {"mistral", &mistral_tok()}, {"plain", &mistral_tok()},
        {"llama2", &tok512()},       {"plain", &tok512()}};
    for (const auto& [name, tok] : pairs) {
        const segment_check c = tokenizer_check_segments(*tok, chat_apply(name, p), true);
        EXPECT_TRUE(c.equal) << name << " / " << tokenizer_model_name(*tok) << " mismatch at "
                             << c.first_mismatch;
    }
}

} // namespace
