// Sharding helpers: slices tile the dimension exactly, in rank order, and bad splits throw with
// the field named.
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "engine/tp.h"

namespace {

model_config config_8_4() {
    model_config c;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 2;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.head_dim = 8;
    c.vocab_size = 103;
    return c;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST(tp_slices, kv_heads_split_in_rank_order) {
    EXPECT_EQ(slice_kv_heads(8, 1, 0).begin, 0);
    EXPECT_EQ(slice_kv_heads(8, 1, 0).count, 8);
    EXPECT_EQ(slice_kv_heads(8, 4, 3).begin, 6);
    EXPECT_EQ(slice_kv_heads(8, 4, 3).count, 2);
    EXPECT_EQ(slice_kv_heads(8, 2, 1).begin, 4);
}

TEST(tp_slices, rows_and_cols_in_blocks) {
    // q of 8 heads of 8: rank 1 of 4 holds heads 2..3 = rows 16..31.
    const tp_slice r = slice_rows(64, 8, 4, 1);
    EXPECT_EQ(r.begin, 16);
    EXPECT_EQ(r.count, 16);
    const tp_slice c = slice_cols(96, 1, 2, 1);
    EXPECT_EQ(c.begin, 48);
    EXPECT_EQ(c.count, 48);
}

TEST(tp_slices, vocab_covers_every_row_once) {
    for (int tp : {1, 2, 3, 4, 8}) {
        int64_t next = 0;
        for (int r = 0; r < tp; ++r) {
            const tp_slice s = slice_vocab(103, tp, r);
            EXPECT_EQ(s.begin, next) << "tp " << tp << " rank " << r;
            EXPECT_LE(s.count, vocab_stride(103, tp));
            next = s.begin + s.count;
        }
        EXPECT_EQ(next, 103) << "tp " << tp;
    }
    EXPECT_EQ(vocab_stride(103, 4), 26);
    EXPECT_EQ(slice_vocab(103, 4, 3).count, 25);
}

TEST(tp_slices, bad_splits_name_the_field) {
    EXPECT_NE(message_of([] {
                  slice_kv_heads(6, 4, 0);
              }).find("n_kv_heads: 6 is not divisible by tp = 4"),
              std::string::npos);
    EXPECT_NE(message_of([] { slice_rows(64, 8, 3, 0); }).find("rows"), std::string::npos);
    EXPECT_NE(
        message_of([] { slice_cols(60, 8, 2, 0); }).find("not a multiple of the block size 8"),
        std::string::npos);
    EXPECT_NE(message_of([] { slice_kv_heads(8, 2, 2); }).find("rank 2 outside [0, 2)"),
              std::string::npos);
    EXPECT_NE(message_of([] { slice_kv_heads(8, 0, 0); }).find("tp must be >= 1"),
              std::string::npos);
    EXPECT_NE(message_of([] { slice_vocab(3, 4, 0); }).find("vocab_size: 3 is smaller than tp = 4"),
              std::string::npos);
}

TEST(tp_slices, check_and_local_config) {
    const model_config c = config_8_4();
    EXPECT_NO_THROW(tp_check(c, 4, "m"));
    EXPECT_NE(message_of([&] {
                  tp_check(c, 8, "m.gguf");
              }).find("m.gguf: tp = 8 must divide n_kv_heads = 4"),
              std::string::npos);
    model_config odd_ffn = c;
    odd_ffn.hidden_dim = 90;
    EXPECT_NE(message_of([&] { tp_check(odd_ffn, 4, "m"); }).find("hidden_dim = 90"),
              std::string::npos);
    const model_config l = tp_local_config(c, 4, 2);
    EXPECT_EQ(l.n_heads, 2);
    EXPECT_EQ(l.n_kv_heads, 1);
    EXPECT_EQ(l.hidden_dim, 24);
    EXPECT_EQ(l.vocab_size, 103);
    EXPECT_EQ(l.dim, 64);
}
