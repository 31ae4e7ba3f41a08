// Truncated and bit-flipped copies of real model files: every load must either succeed or throw
// std::runtime_error, never crash, hang or throw anything else. Run under ASan/valgrind by hand
// to catch reads outside the mapping that happen not to crash.
#include <random>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "engine/gguf.h"
#include "engine/mapped_file.h"
#include "engine/model_file.h"
#include "tests/formats/formats_test_util.h"

using namespace formats_test;

namespace {

struct fuzz_counts {
    int loaded = 0;
    int rejected = 0;
};

// Writes `bytes` to `path` and opens `open_path`; counts the outcome, fails on anything but a
// std::runtime_error.
void load_mutant(const std::string& path, const std::string& bytes, const std::string& open_path,
                 const std::string& what, fuzz_counts& counts) {
    write_bytes(path, bytes);
    try {
        model_file mf = model_file_open(open_path);
        ++counts.loaded;
    } catch (const std::runtime_error&) {
        ++counts.rejected;
    } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": threw a non-runtime_error: " << e.what();
    }
}

// Cut points: every byte of the first `dense` bytes, then `n` spread over [dense, end) of the
// interesting region and `n / 4` over the rest of the file.
std::vector<size_t> cut_points(size_t size, size_t region_end, size_t dense, size_t n) {
    std::vector<size_t> cuts;
    for (size_t i = 0; i < dense && i < size; ++i)
        cuts.push_back(i);
    for (size_t k = 0; k < n; ++k)
        cuts.push_back(dense + (region_end - dense) * k / n);
    for (size_t k = 0; k < n / 4; ++k)
        cuts.push_back(region_end + (size - region_end) * k / (n / 4));
    return cuts;
}

// Flips 1-3 random bits; 3 of 4 mutants flip inside [0, region_end), the rest anywhere.
std::string flip_bits(const std::string& good, size_t region_end, std::mt19937& rng) {
    std::string bytes = good;
    int n_flips = 1 + (int)(rng() % 3);
    bool in_region = rng() % 4 != 0;
    for (int f = 0; f < n_flips; ++f) {
        size_t at = rng() % (in_region ? region_end : bytes.size());
        bytes[at] = (char)(bytes[at] ^ (1 << (rng() % 8)));
    }
    return bytes;
}

class fuzz : public ::testing::Test {
  protected:
    void SetUp() override { spdlog::set_level(spdlog::level::off); }
    void TearDown() override { spdlog::set_level(spdlog::level::info); }
};

} // namespace

TEST_F(fuzz, gguf_truncated_and_bit_flipped) {
    const std::string src = "data/models/aidreams260K.gguf";
    const std::string good = read_bytes(src);
    const size_t header_end = gguf_read(std::make_shared<mapped_file>(src)).data_offset;
    scratch_dir dir;
    const std::string path = dir / "m.gguf";

    fuzz_counts cut;
    for (size_t n : cut_points(good.size(), header_end, 64, 300)) {
        load_mutant(path, good.substr(0, n), path, "cut at " + std::to_string(n), cut);
    }
    EXPECT_EQ(cut.loaded, 0) << "a truncated GGUF loaded";

    fuzz_counts flip;
    std::mt19937 rng(20250203);
    for (int i = 0; i < 600; ++i) {
        load_mutant(path, flip_bits(good, header_end, rng), path, "flip " + std::to_string(i),
                    flip);
    }
    std::printf("gguf: %d cuts rejected; %d flips loaded, %d rejected\n", cut.rejected, flip.loaded,
                flip.rejected);
    EXPECT_GT(flip.rejected, 50);
    EXPECT_GT(flip.loaded, 50); // flips in weights or scores are harmless
}

TEST_F(fuzz, hf_truncated_and_bit_flipped) {
    scratch_dir dir;
    const std::string m = dir / "m";
    make_random_hf_model(m, "--seed 21 --dtype bf16");
    const std::string st = m + "/model.safetensors", cfg = m + "/config.json";
    const std::string good_st = read_bytes(st), good_cfg = read_bytes(cfg);
    uint64_t header_len;
    std::memcpy(&header_len, good_st.data(), 8);
    const size_t header_end = 8 + header_len;

    fuzz_counts cut;
    for (size_t n : cut_points(good_st.size(), header_end, 16, 200)) {
        load_mutant(st, good_st.substr(0, n), m, "safetensors cut at " + std::to_string(n), cut);
    }
    write_bytes(st, good_st);
    for (size_t n = 0; n < good_cfg.size(); n += 3) {
        load_mutant(cfg, good_cfg.substr(0, n), m, "config cut at " + std::to_string(n), cut);
    }
    EXPECT_EQ(cut.loaded, 0) << "a truncated folder loaded";

    fuzz_counts flip;
    std::mt19937 rng(1729);
    write_bytes(cfg, good_cfg);
    for (int i = 0; i < 400; ++i) {
        load_mutant(st, flip_bits(good_st, header_end, rng), m, "st flip " + std::to_string(i),
                    flip);
    }
    write_bytes(st, good_st);
    for (int i = 0; i < 300; ++i) {
        load_mutant(cfg, flip_bits(good_cfg, good_cfg.size(), rng), m,
                    "config flip " + std::to_string(i), flip);
    }
    std::printf("hf: %d cuts rejected; %d flips loaded, %d rejected\n", cut.rejected, flip.loaded,
                flip.rejected);
    EXPECT_GT(flip.rejected, 50);
    EXPECT_GT(flip.loaded, 50);
}
