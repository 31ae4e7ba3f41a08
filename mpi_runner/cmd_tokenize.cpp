// kvsweep tokenize --model PATH --text TEXT [--special] [--no-bos]
// Prints the token ids of TEXT on one line, space separated. PATH is a folder with tokenizer
// files only (tokenizer.json(.gz) [+ tokenizer_config.json], tokenizer.bin / tok512.bin), one
// of those files, or a model (GGUF file or Hugging Face folder), whose tokenizer is used.
// --special parses special tokens (e.g. <|eot_id|>) in TEXT; BOS is added when the tokenizer
// asks for it, unless --no-bos.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include "engine/model_file.h"
#include "engine/tokenizer.h"
#include "mpi_runner/commands.h"

namespace {

// Tokenizer files are loaded directly; anything else is opened as a model.
std::shared_ptr<tokenizer> load_tokenizer(const std::string& path) {
    namespace fs = std::filesystem;
    const bool tokenizer_folder =
        fs::is_directory(path) && !fs::exists(fs::path(path) / "config.json");
    const std::string name = fs::path(path).filename().string();
    const bool tokenizer_file =
        name.ends_with(".json") || name.ends_with(".json.gz") || name.ends_with(".bin");
    if (tokenizer_folder || tokenizer_file) return tokenizer_load(path);
    model_file mf = model_file_open(path);
    if (!mf.tok) throw std::runtime_error(path + ": the model carries no tokenizer");
    return mf.tok;
}

} // namespace

int cmd_tokenize(int argc, char** argv) {
    const char* usage = "usage: kvsweep tokenize --model PATH --text TEXT [--special] [--no-bos]";
    std::string model_path, text;
    bool have_text = false, special = false, no_bos = false;
    for (int i = 0; i < argc; ++i) {
        const std::string a = argv[i];
        if ((a == "--model" || a == "--text") && i + 1 >= argc) {
            std::fprintf(stderr, "kvsweep tokenize: %s: missing value\n%s\n", a.c_str(), usage);
            return 2;
        }
        if (a == "--model") {
            model_path = argv[++i];
        } else if (a == "--text") {
            text = argv[++i];
            have_text = true;
        } else if (a == "--special") {
            special = true;
        } else if (a == "--no-bos") {
            no_bos = true;
        } else {
            std::fprintf(stderr, "kvsweep tokenize: unknown option %s\n%s\n", a.c_str(), usage);
            return 2;
        }
    }
    if (model_path.empty() || !have_text) {
        std::fprintf(stderr, "%s\n", usage);
        return 2;
    }
    try {
        const std::shared_ptr<tokenizer> tok = load_tokenizer(model_path);
        const std::vector<int32_t> ids =
            tokenizer_encode(*tok, text, tokenizer_add_bos(*tok) && !no_bos, special);
        std::string line;
        for (size_t i = 0; i < ids.size(); ++i)
            line += (i ? " " : "") + std::to_string(ids[i]);
        std::printf("%s\n", line.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kvsweep tokenize: %s\n", e.what());
        return 1;
    }
    return 0;
}
