// Tokenizer loaders: GGUF metadata (SentencePiece / gpt2), Hugging Face tokenizer.json,
// llama2.c tokenizer.bin, and folders holding one of these.
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "engine/tokenizer_impl.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The Llama-3 Split regex, as stored in tokenizer.json; the only split pattern implemented.
const char* k_llama3_pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{"
                               "1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* k_space_piece = "\xE2\x96\x81"; // "▁"

std::string gunzip(const std::string& data, const std::string& path) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        throw std::runtime_error(path + ": zlib init failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    std::string out;
    char buf[1 << 16];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof(buf);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            inflateEnd(&zs);
            throw std::runtime_error(path + ": corrupt gzip data (zlib error " +
                                     std::to_string(rc) + ")");
        }
        out.append(buf, sizeof(buf) - zs.avail_out);
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            inflateEnd(&zs);
            throw std::runtime_error(path + ": truncated gzip data");
        }
    }
    inflateEnd(&zs);
    return out;
}

// Whole file, gunzipped when it starts with the gzip magic.
std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open file");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (data.size() >= 2 && static_cast<uint8_t>(data[0]) == 0x1f &&
        static_cast<uint8_t>(data[1]) == 0x8b) {
        return gunzip(data, path);
    }
    return data;
}

json parse_json_file(const std::string& path) {
    const std::string text = read_file(path);
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        throw std::runtime_error(path + ": invalid JSON: " + e.what());
    }
}

// "<0xNN>"
bool is_byte_piece(const std::string& s) {
    return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' &&
           std::isxdigit(static_cast<unsigned char>(s[3])) &&
           std::isxdigit(static_cast<unsigned char>(s[4]));
}

// A token named in tokenizer_config.json: a string or {"content": "..."}; "" when absent/null.
std::string config_token(const json& config, const char* key) {
    if (!config.contains(key) || config[key].is_null()) return {};
    const json& v = config[key];
    if (v.is_string()) return v.get<std::string>();
    return v.at("content").get<std::string>();
}

int32_t require_piece(const tokenizer& tok, const std::string& text, const std::string& where) {
    const auto it = tok.piece_ids.find(text);
    if (it == tok.piece_ids.end())
        throw std::runtime_error(where + ": token '" + text + "' is not in the vocabulary");
    return it->second;
}

// Reads the normalizer and pre_tokenizer of tokenizer.json into tok (model kind, prefix rules).
void read_pipeline(tokenizer& tok, const json& j, const std::string& path) {
    bool byte_level = false, llama3_split = false, replace_space = false, metaspace = false;
    std::vector<const json*> pre;
    const json& pt = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json();
    if (pt.is_object()) {
        if (pt.at("type") == "Sequence") {
            for (const json& p : pt.at("pretokenizers"))
                pre.push_back(&p);
        } else {
            pre.push_back(&pt);
        }
    }
    for (const json* p : pre) {
        const std::string type = p->at("type").get<std::string>();
        if (type == "ByteLevel") {
            byte_level = true;
            if (p->value("use_regex", true) && !llama3_split) {
                throw std::runtime_error(
                    path + ": pre_tokenizer ByteLevel with use_regex (the GPT-2 split) is not "
                           "supported; only the Llama-3 Split regex is");
            }
        } else if (type == "Split") {
            const std::string pattern = p->at("pattern").value("Regex", "");
            if (pattern != k_llama3_pattern || p->value("behavior", "") != "Isolated" ||
                p->value("invert", false)) {
                throw std::runtime_error(
                    path + ": pre_tokenizer Split with pattern '" + pattern +
                    "' is not supported; only the Llama-3 regex (Isolated) is");
            }
            llama3_split = true;
        } else if (type == "Metaspace") {
            metaspace = true;
            if (p->value("replacement", k_space_piece) != k_space_piece) {
                throw std::runtime_error(path +
                                         ": pre_tokenizer Metaspace replacement must be U+2581");
            }
            std::string scheme = p->contains("prepend_scheme")
                                     ? p->at("prepend_scheme").get<std::string>()
                                     : (p->value("add_prefix_space", true) ? "always" : "never");
            if (scheme == "always") {
                tok.prefix = PREFIX_ALWAYS;
            } else if (scheme == "first") {
                tok.prefix = PREFIX_FIRST;
            } else if (scheme == "never") {
                tok.prefix = PREFIX_NONE;
            } else {
                throw std::runtime_error(path + ": pre_tokenizer Metaspace prepend_scheme '" +
                                         scheme + "' is unknown");
            }
            tok.prefix_skip_if_space = true;
            tok.metaspace_split = p->value("split", true);
        } else {
            throw std::runtime_error(path + ": pre_tokenizer type '" + type + "' is not supported");
        }
    }

    std::vector<const json*> norms;
    const json& nm = j.contains("normalizer") ? j["normalizer"] : json();
    if (nm.is_object()) {
        if (nm.at("type") == "Sequence") {
            for (const json& n : nm.at("normalizers"))
                norms.push_back(&n);
        } else {
            norms.push_back(&nm);
        }
    }
    for (const json* n : norms) {
        const std::string type = n->at("type").get<std::string>();
        if (type == "Prepend" && n->at("prepend") == k_space_piece) {
            tok.prefix = PREFIX_ALWAYS; // applied to every text piece between added tokens
        } else if (type == "Replace" && n->at("pattern").value("String", "") == " " &&
                   n->at("content") == k_space_piece) {
            replace_space = true;
        } else {
            throw std::runtime_error(path + ": normalizer '" + type + "' is not supported");
        }
    }

    if (byte_level) {
        if (metaspace || replace_space || tok.prefix != PREFIX_NONE) {
            throw std::runtime_error(
                path + ": ByteLevel mixed with Metaspace/Prepend/Replace is not supported");
        }
        tok.model = TOKENIZER_MODEL_BPE_BYTE_LEVEL;
    } else if (metaspace || replace_space) {
        tok.model = TOKENIZER_MODEL_BPE_METASPACE;
    } else {
        throw std::runtime_error(path + ": pre_tokenizer/normalizer is neither ByteLevel nor "
                                        "Metaspace/Replace(' ', U+2581); not supported");
    }
}

void read_model(tokenizer& tok, const json& j, const std::string& path) {
    const json& model = j.at("model");
    const std::string type = model.value("type", "BPE");
    if (type != "BPE")
        throw std::runtime_error(path + ": model.type '" + type + "' is not supported (BPE only)");
    if (model.contains("dropout") && !model["dropout"].is_null() &&
        model["dropout"].get<double>() != 0.0) {
        throw std::runtime_error(path + ": model.dropout is not supported");
    }
    tok.ignore_merges = model.value("ignore_merges", false);
    const bool byte_fallback = model.value("byte_fallback", false);

    int32_t n = 0;
    for (const auto& [piece, id] : model.at("vocab").items())
        n = std::max(n, id.get<int32_t>() + 1);
    for (const json& a : j.value("added_tokens", json::array()))
        n = std::max(n, a.at("id").get<int32_t>() + 1);
    tok.pieces.assign(n, {});
    tok.types.assign(n, TOKEN_TYPE_UNUSED); // ids missing from both lists stay unused
    for (const auto& [piece, id] : model.at("vocab").items()) {
        const int32_t i = id.get<int32_t>();
        if (i < 0)
            throw std::runtime_error(path + ": model.vocab['" + piece + "'] has negative id");
        tok.pieces[i] = piece;
        tok.types[i] =
            (byte_fallback && is_byte_piece(piece)) ? TOKEN_TYPE_BYTE : TOKEN_TYPE_NORMAL;
    }
    for (const json& a : j.value("added_tokens", json::array())) {
        const int32_t i = a.at("id").get<int32_t>();
        if (i < 0)
            throw std::runtime_error(path + ": added_tokens id " + std::to_string(i) +
                                     " is negative");
        tok.pieces[i] = a.at("content").get<std::string>();
        tok.types[i] = a.value("special", false) ? TOKEN_TYPE_CONTROL : TOKEN_TYPE_USER_DEFINED;
    }
    tokenizer_index_pieces(tok);
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        tok.unk =
            require_piece(tok, model["unk_token"].get<std::string>(), path + ": model.unk_token");
        tok.types[tok.unk] = TOKEN_TYPE_UNKNOWN;
    }

    const json& merges = model.at("merges");
    tok.merges.reserve(merges.size());
    for (size_t r = 0; r < merges.size(); ++r) {
        const json& m = merges[r];
        const std::string where = "model.merges[" + std::to_string(r) + "]";
        std::string left, right;
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const size_t sp = s.find(' ');
            if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
                throw std::runtime_error(path + ": " + where + " '" + s + "' is not 'left right'");
            }
            left = s.substr(0, sp);
            right = s.substr(sp + 1);
        } else if (m.is_array() && m.size() == 2) {
            left = m[0].get<std::string>();
            right = m[1].get<std::string>();
        } else {
            throw std::runtime_error(path + ": " + where +
                                     " is neither 'left right' nor [left, right]");
        }
        tokenizer_add_merge(tok, left, right, static_cast<int32_t>(r), where);
    }
}

// bos/eos/add_bos from tokenizer_config.json, else from the post-processor template.
void read_specials(tokenizer& tok, const json& j, const json& config,
                   const std::string& config_path) {
    // Post-processor: the first SpecialToken of the "single" template is what the HF pipeline
    // puts in front (Llama-3 has no add_bos_token in its config).
    std::string template_bos;
    const json pp = j.contains("post_processor") ? j["post_processor"] : json();
    std::vector<json> procs;
    if (pp.is_object()) {
        if (pp.value("type", "") == "Sequence") {
            for (const json& p : pp.at("processors"))
                procs.push_back(p);
        } else {
            procs.push_back(pp);
        }
    }
    for (const json& p : procs) {
        if (p.value("type", "") == "TemplateProcessing" && p.contains("single") &&
            !p["single"].empty() && p["single"][0].contains("SpecialToken")) {
            template_bos = p["single"][0]["SpecialToken"].at("id").get<std::string>();
        }
    }

    const std::string where = config_path.empty() ? tok.source : config_path;
    std::string bos = config_token(config, "bos_token");
    if (bos.empty()) bos = template_bos;
    if (!bos.empty()) tok.bos = require_piece(tok, bos, where + ": bos_token");
    tok.add_bos = config.contains("add_bos_token") ? config["add_bos_token"].get<bool>()
                                                   : !template_bos.empty();
    if (tok.add_bos && tok.bos < 0)
        throw std::runtime_error(where + ": add_bos_token is set but there is no bos_token");

    const std::string eos = config_token(config, "eos_token");
    if (!eos.empty()) {
        tok.eos = require_piece(tok, eos, where + ": eos_token");
    } else {
        for (const char* guess : {"</s>", "<|end_of_text|>", "<|endoftext|>"}) {
            const auto it = tok.piece_ids.find(guess);
            if (it != tok.piece_ids.end()) {
                tok.eos = it->second;
                break;
            }
        }
    }
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first of `names` that exists in dir, or "".
std::string find_in(const fs::path& dir, std::initializer_list<const char*> names) {
    for (const char* n : names) {
        if (fs::exists(dir / n)) return (dir / n).string();
    }
    return {};
}

} // namespace

std::shared_ptr<tokenizer> tokenizer_from_spm(const spm_vocab& v) {
    auto tok = std::make_shared<tokenizer>();
    tok->source = "spm vocabulary";
    const size_t n = v.pieces.size();
    if (v.scores.size() != n || (!v.types.empty() && v.types.size() != n)) {
        throw std::invalid_argument("spm vocabulary: " + std::to_string(n) + " pieces, " +
                                    std::to_string(v.scores.size()) + " scores, " +
                                    std::to_string(v.types.size()) + " types (sizes must agree)");
    }
    tok->model = TOKENIZER_MODEL_SPM;
    tok->pieces = v.pieces;
    tok->scores = v.scores;
    tok->types = v.types;
    if (tok->types.empty()) {
        tok->types.resize(n);
        for (size_t i = 0; i < n; ++i) {
            const auto id = static_cast<int32_t>(i);
            tok->types[i] = id == v.unk                    ? TOKEN_TYPE_UNKNOWN
                            : (id == v.bos || id == v.eos) ? TOKEN_TYPE_CONTROL
                            : is_byte_piece(v.pieces[i])   ? TOKEN_TYPE_BYTE
                                                           : TOKEN_TYPE_NORMAL;
        }
    }
    tok->bos = v.bos;
    tok->eos = v.eos;
    tok->unk = v.unk;
    tok->add_bos = v.add_bos;
    tok->prefix = v.add_space_prefix ? PREFIX_ALWAYS : PREFIX_NONE;
    try {
        tokenizer_finalize(*tok);
    } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what());
    }
    return tok;
}

std::shared_ptr<tokenizer> tokenizer_from_bpe(const std::vector<std::string>& tokens,
                                              const std::vector<std::string>& merges,
                                              const std::vector<int32_t>& types, int32_t bos,
                                              int32_t eos, bool add_bos) {
    auto tok = std::make_shared<tokenizer>();
    tok->source = "gguf gpt2 vocabulary";
    tok->model = TOKENIZER_MODEL_BPE_BYTE_LEVEL;
    tok->ignore_merges = true; // as the Llama-3 tokenizer.json says
    tok->pieces = tokens;
    tok->types = types;
    tok->bos = bos;
    tok->eos = eos;
    tok->add_bos = add_bos;
    try {
        tokenizer_index_pieces(*tok);
        tok->merges.reserve(merges.size());
        for (size_t r = 0; r < merges.size(); ++r) {
            const std::string& s = merges[r];
            const size_t sp = s.find(' ');
            const std::string where = "tokenizer.ggml.merges[" + std::to_string(r) + "]";
            if (sp == std::string::npos)
                throw std::runtime_error(tok->source + ": " + where + " '" + s +
                                         "' is not 'left right'");
            tokenizer_add_merge(*tok, s.substr(0, sp), s.substr(sp + 1), static_cast<int32_t>(r),
                                where);
        }
        tokenizer_finalize(*tok);
    } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what()); // bad caller data, as tokenizer_from_spm reports it
    }
    return tok;
}

std::shared_ptr<tokenizer> tokenizer_from_hf(const std::string& tokenizer_json,
                                             const std::string& tokenizer_config_json) {
    auto tok = std::make_shared<tokenizer>();
    tok->source = tokenizer_json;
    const json j = parse_json_file(tokenizer_json);
    const json config =
        tokenizer_config_json.empty() ? json::object() : parse_json_file(tokenizer_config_json);
    try {
        read_pipeline(*tok, j, tokenizer_json);
        read_model(*tok, j, tokenizer_json);
        read_specials(*tok, j, config, tokenizer_config_json);
    } catch (const json::exception& e) {
        // Missing fields and wrong types: nlohmann names the field or type in e.what().
        throw std::runtime_error(
            tokenizer_json + (tokenizer_config_json.empty() ? "" : " / " + tokenizer_config_json) +
            ": malformed tokenizer: " + e.what());
    }
    tokenizer_finalize(*tok);
    return tok;
}

spm_vocab spm_vocab_from_llama2c(const std::string& path) {
    const std::string data = read_file(path);
    size_t pos = 0;
    auto read = [&](void* dst, size_t n, const std::string& what) {
        if (pos + n > data.size()) {
            throw std::runtime_error(path + ": truncated at byte " + std::to_string(pos) +
                                     " (reading " + what + ")");
        }
        std::memcpy(dst, data.data() + pos, n);
        pos += n;
    };
    int32_t max_len = 0;
    read(&max_len, 4, "max_token_length");
    if (max_len <= 0 || max_len > 4096) {
        throw std::runtime_error(path + ": max_token_length " + std::to_string(max_len) +
                                 " is not a llama2.c tokenizer header");
    }
    spm_vocab v;
    while (pos < data.size()) {
        const std::string what = "token " + std::to_string(v.pieces.size());
        float score = 0;
        int32_t len = 0;
        read(&score, 4, what + " score");
        read(&len, 4, what + " length");
        if (len < 0 || len > max_len) {
            throw std::runtime_error(path + ": " + what + " has length " + std::to_string(len) +
                                     " (max_token_length " + std::to_string(max_len) + ")");
        }
        std::string piece(static_cast<size_t>(len), '\0');
        read(piece.data(), static_cast<size_t>(len), what + " bytes");
        // llama2.c exports spaces as ' '; the SentencePiece form is "▁".
        std::string spm;
        for (char c : piece) {
            if (c == ' ') {
                spm += k_space_piece;
            } else {
                spm += c;
            }
        }
        v.pieces.push_back(std::move(spm));
        v.scores.push_back(score);
    }
    if (v.pieces.size() < 3)
        throw std::runtime_error(path + ": only " + std::to_string(v.pieces.size()) + " tokens");
    v.unk = 0;
    v.bos = 1;
    v.eos = 2;
    return v;
}

std::shared_ptr<tokenizer> tokenizer_load(const std::string& path) {
    const fs::path p(path);
    if (fs::is_directory(p)) {
        const std::string json_path = find_in(p, {"tokenizer.json", "tokenizer.json.gz"});
        if (!json_path.empty()) {
            return tokenizer_from_hf(
                json_path, find_in(p, {"tokenizer_config.json", "tokenizer_config.json.gz"}));
        }
        const std::string bin = find_in(p, {"tokenizer.bin", "tok512.bin"});
        if (!bin.empty()) return tokenizer_from_spm(spm_vocab_from_llama2c(bin));
        throw std::runtime_error(
            path + ": folder has no tokenizer.json(.gz), tokenizer.bin or tok512.bin");
    }
    if (!fs::exists(p)) throw std::runtime_error(path + ": no such file or folder");
    if (ends_with(path, ".json") || ends_with(path, ".json.gz")) {
        return tokenizer_from_hf(
            path, find_in(p.parent_path(), {"tokenizer_config.json", "tokenizer_config.json.gz"}));
    }
    if (ends_with(path, ".bin")) return tokenizer_from_spm(spm_vocab_from_llama2c(path));
    throw std::runtime_error(
        path +
        ": not a tokenizer file (expected a folder, tokenizer.json(.gz) or a llama2.c .bin)");
}
