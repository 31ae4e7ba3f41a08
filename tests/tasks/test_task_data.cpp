// Data plumbing: RFC-4180 CSV, JSONL / gzip reading with file:line errors, item subsets, hash.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <zlib.h>

#include "tasks/task_data.h"

namespace {

std::string temp_dir() {
    static const std::string dir = [] {
        std::string t =
            (std::filesystem::temp_directory_path() / "kvsweep-task-test-XXXXXX").string();
        EXPECT_NE(mkdtemp(t.data()), nullptr);
        return t;
    }();
    return dir;
}

std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = temp_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

// Expects `fn` to throw std::runtime_error whose message contains every one of `parts`.
template <typename F> void expect_error(F fn, std::initializer_list<std::string> parts) {
    try {
        fn();
        ADD_FAILURE() << "no exception";
    } catch (const std::exception& e) {
        for (const std::string& p : parts)
            EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
}

} // namespace

TEST(Csv, QuotesCommasNewlinesAndCrlf) {
    const std::string text = "id,text\r\n"
                             "0,\"a, b\"\r\n"
                             "1,\"say \"\"hi\"\"\"\r\n"
                             "2,\"line1\nline2\"\r\n"
                             "\r\n"
                             "3,plain\n"
                             "4,\n"
                             "5,\"\"";
    const std::vector<csv_record> r = csv_parse(text, "x.csv");
    ASSERT_EQ(r.size(), 7u);
    EXPECT_EQ(r[0].fields, (std::vector<std::string>{"id", "text"}));
    EXPECT_EQ(r[1].fields[1], "a, b");
    EXPECT_EQ(r[2].fields[1], "say \"hi\"");
    EXPECT_EQ(r[3].fields[1], "line1\nline2");
    EXPECT_EQ(r[4].line, 7); // record 3 starts after the two-line record and the blank line
    EXPECT_EQ(r[4].fields[1], "plain");
    EXPECT_EQ(r[5].fields, (std::vector<std::string>{"4", ""}));
    EXPECT_EQ(r[6].fields, (std::vector<std::string>{"5", ""}));
}

TEST(Csv, CrInsideQuotedFieldKeptAndLiteralQuoteInUnquotedField) {
    const std::vector<csv_record> r = csv_parse("a\"b,\"x\r\ny\"\n", "x.csv");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].fields[0], "a\"b");
    EXPECT_EQ(r[0].fields[1], "x\r\ny");
}

TEST(Csv, ErrorsNameFileAndLine) {
    expect_error([] { csv_parse("a,b\n\"open,c\n", "bad.csv"); }, {"bad.csv:2", "unterminated"});
    expect_error([] { csv_parse("a,b\n\"x\"y,c\n", "bad.csv"); },
                 {"bad.csv:2", "after closing quote"});
}

TEST(Csv, ColumnLookup) {
    const std::vector<csv_record> r = csv_parse("id,goal\n", "h.csv");
    EXPECT_EQ(csv_column(r[0], "goal", "h.csv"), 1);
    expect_error([&] { csv_column(r[0], "target", "h.csv"); },
                 {"h.csv:1", "missing column 'target'"});
}

TEST(Jsonl, MalformedLineAndMissingField) {
    const std::string path = write_file("bad.jsonl", "{\"a\": 1}\n\n{\"a\": \n");
    expect_error([&] { task_read_jsonl(path); }, {path + ":3", "malformed JSON"});
    const std::vector<jsonl_record> first = task_read_jsonl(path, 1);
    ASSERT_EQ(first.size(), 1u);
    expect_error([&] { json_string(first[0].value, "question", task_where(path, 1)); },
                 {path + ":1", "missing field 'question'"});
    expect_error([&] { json_string(first[0].value, "a", task_where(path, 1)); },
                 {"field 'a' is not a string"});
}

TEST(Files, GzipIsInflatedAndPlainIsRead) {
    const std::string path = temp_dir() + "/z.txt.gz";
    gzFile f = gzopen(path.c_str(), "wb");
    gzputs(f, "hello\nworld\n");
    gzclose(f);
    EXPECT_EQ(task_read_file(path), "hello\nworld\n");
    EXPECT_EQ(task_resolve_file(temp_dir(), "z.txt"), path);
    write_file("p.txt", "plain");
    EXPECT_EQ(task_read_file(task_resolve_file(temp_dir(), "p.txt")), "plain");
    expect_error([] { task_resolve_file("/nonexistent", "q.jsonl"); },
                 {"/nonexistent/q.jsonl", "not found"});
    const std::string corrupt =
        write_file("c.jsonl.gz", std::string("\x1f\x8b\x08\x00garbage", 11));
    expect_error([&] { task_read_file(corrupt); }, {corrupt});
}

TEST(Items, ItemsFileThenLimitKeepDatasetOrder) {
    std::vector<task_item> items(5);
    for (int i = 0; i < 5; ++i)
        items[i].id = "i" + std::to_string(i);
    task_options o;
    o.items_file = write_file("ids.txt", "i3\n# comment\n\ni1\ni4\n");
    o.limit = 2;
    const std::vector<task_item> kept = task_select_items(items, o, "t");
    ASSERT_EQ(kept.size(), 2u);
    EXPECT_EQ(kept[0].id, "i1");
    EXPECT_EQ(kept[1].id, "i3");
    o.items_file = write_file("bad_ids.txt", "i1\nnope\n");
    expect_error([&] { task_select_items(items, o, "t"); },
                 {"bad_ids.txt:2", "unknown item id 'nope'"});
    items[4].id = "i0";
    expect_error([&] { task_select_items(items, task_options{}, "t"); },
                 {"duplicate item id 'i0'"});
}

TEST(Options, ShotsAndParams) {
    task_options o;
    EXPECT_EQ(task_shot_count(o, 5, 5, "mmlu"), 5);
    o.shots = 0;
    EXPECT_EQ(task_shot_count(o, 5, 5, "mmlu"), 0);
    o.shots = 9;
    EXPECT_THROW(task_shot_count(o, 8, 8, "gsm8k"), std::invalid_argument);
    o.params = {{"k", "x"}};
    EXPECT_THROW(task_param_int(o, "k", 1), std::invalid_argument);
    EXPECT_EQ(task_param_int(o, "t", 20), 20);
}

TEST(Hash, Fnv1a64KnownValues) {
    // Published FNV-1a 64 test vectors.
    EXPECT_EQ(task_hash_fnv1a64(""), "cbf29ce484222325");
    EXPECT_EQ(task_hash_fnv1a64("a"), "af63dc4c8601ec8c");
    EXPECT_EQ(task_hash_fnv1a64("foobar"), "85944171f73967e8");
}
