#include "engine/gguf.h"

#include <cstring>
#include <stdexcept>

#include "engine/mapped_file.h"

const char* gguf_type_name(gguf_type t) {
    static const char* names[GGUF_TYPE_COUNT] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                 "int32",  "float32", "bool",   "string", "array",
                                                 "uint64", "int64",   "float64"};
    return (uint32_t)t < GGUF_TYPE_COUNT ? names[t] : "invalid";
}

namespace {

// Bounds-checked little-endian cursor over the mapping: every read checks the remaining length
// first, so absurd counts and string lengths fail before anything is allocated or read.
struct gguf_cursor {
    const uint8_t* data;
    uint64_t size;
    uint64_t pos = 0;
    const std::string& path;

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error(path + ": " + what + " (at byte " + std::to_string(pos) + ")");
    }
    void need(uint64_t n, const char* what) const {
        if (n > size - pos) fail(std::string("truncated while reading ") + what);
    }
    void copy(void* out, uint64_t n, const char* what) {
        need(n, what);
        std::memcpy(out, data + pos, n);
        pos += n;
    }
    uint8_t u8(const char* what) {
        uint8_t v;
        copy(&v, 1, what);
        return v;
    }
    uint32_t u32(const char* what) {
        uint32_t v;
        copy(&v, 4, what);
        return v;
    }
    uint64_t u64(const char* what) {
        uint64_t v;
        copy(&v, 8, what);
        return v;
    }
    std::string str(const char* what) {
        uint64_t n = u64(what);
        need(n, what);
        std::string s(reinterpret_cast<const char*>(data + pos), n);
        pos += n;
        return s;
    }
    // Refuses a count of elements that cannot fit in what is left of the file.
    void need_count(uint64_t count, uint64_t min_elem_bytes, const char* what) const {
        if (min_elem_bytes > 0 && count > (size - pos) / min_elem_bytes) {
            fail(std::string(what) + " count " + std::to_string(count) + " exceeds the file size");
        }
    }
};

uint64_t gguf_scalar_bytes(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_BOOL:
        return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16:
        return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_FLOAT32:
        return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64:
    case GGUF_TYPE_FLOAT64:
        return 8;
    case GGUF_TYPE_STRING:
        return 8; // at least the length prefix
    default:
        return 0;
    }
}

bool gguf_type_is_float(gguf_type t) {
    return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64;
}

// Reads one numeric/bool scalar of type t; integers go to *i, floats to *f.
void gguf_read_number(gguf_cursor& c, gguf_type t, const std::string& key, int64_t* i, double* f) {
    const char* what = "metadata value";
    switch (t) {
    case GGUF_TYPE_UINT8:
        *i = c.u8(what);
        break;
    case GGUF_TYPE_INT8:
        *i = (int8_t)c.u8(what);
        break;
    case GGUF_TYPE_BOOL:
        *i = c.u8(what) != 0;
        break;
    case GGUF_TYPE_UINT16: {
        uint16_t v;
        c.copy(&v, 2, what);
        *i = v;
        break;
    }
    case GGUF_TYPE_INT16: {
        int16_t v;
        c.copy(&v, 2, what);
        *i = v;
        break;
    }
    case GGUF_TYPE_UINT32:
        *i = c.u32(what);
        break;
    case GGUF_TYPE_INT32:
        *i = (int32_t)c.u32(what);
        break;
    case GGUF_TYPE_UINT64: {
        uint64_t v = c.u64(what);
        if (v > (uint64_t)INT64_MAX) c.fail("metadata key '" + key + "': uint64 value too large");
        *i = (int64_t)v;
        break;
    }
    case GGUF_TYPE_INT64:
        *i = (int64_t)c.u64(what);
        break;
    case GGUF_TYPE_FLOAT32: {
        float v;
        c.copy(&v, 4, what);
        *f = v;
        break;
    }
    case GGUF_TYPE_FLOAT64:
        c.copy(f, 8, what);
        break;
    default:
        c.fail("metadata key '" + key + "': bad value type " + std::to_string((uint32_t)t));
    }
}

gguf_value gguf_read_value(gguf_cursor& c, const std::string& key) {
    gguf_value v;
    uint32_t t = c.u32("metadata value type");
    if (t >= GGUF_TYPE_COUNT) {
        c.fail("metadata key '" + key + "': bad value type " + std::to_string(t));
    }
    v.type = (gguf_type)t;
    if (v.type == GGUF_TYPE_STRING) {
        v.str = c.str("metadata string");
    } else if (v.type == GGUF_TYPE_ARRAY) {
        uint32_t et = c.u32("array element type");
        if (et >= GGUF_TYPE_COUNT || et == GGUF_TYPE_ARRAY) {
            c.fail("metadata key '" + key + "': unsupported array element type " +
                   std::to_string(et));
        }
        v.elem_type = (gguf_type)et;
        uint64_t n = c.u64("array length");
        c.need_count(n, gguf_scalar_bytes(v.elem_type), "array");
        if (v.elem_type == GGUF_TYPE_STRING) {
            v.strs.reserve(n);
            for (uint64_t k = 0; k < n; ++k)
                v.strs.push_back(c.str("array string"));
        } else {
            v.nums.resize(n);
            for (uint64_t k = 0; k < n; ++k) {
                int64_t iv = 0;
                double fv = 0.0;
                gguf_read_number(c, v.elem_type, key, &iv, &fv);
                v.nums[k] = gguf_type_is_float(v.elem_type) ? fv : (double)iv;
            }
        }
    } else {
        gguf_read_number(c, v.type, key, &v.i, &v.f);
    }
    return v;
}

// Maps a ggml type id to our dtype; false when unsupported.
bool gguf_dtype_from_ggml(uint32_t type, tensor_dtype* out) {
    switch (type) {
    case GGML_TYPE_F32:
        *out = DTYPE_F32;
        return true;
    case GGML_TYPE_F16:
        *out = DTYPE_F16;
        return true;
    case GGML_TYPE_BF16:
        *out = DTYPE_BF16;
        return true;
    case GGML_TYPE_Q8_0:
        *out = DTYPE_Q8_0;
        return true;
    default:
        return false;
    }
}

constexpr uint32_t GGML_MAX_DIMS = 4;

} // namespace

gguf_file gguf_read(std::shared_ptr<mapped_file> file) {
    gguf_file g;
    g.file = file;
    const std::string& path = file->path;
    gguf_cursor c{file->data, file->size, 0, path};

    char magic[4];
    c.copy(magic, 4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) c.fail("not a GGUF file (wrong magic)");
    g.version = c.u32("version");
    if (g.version != 2 && g.version != 3) {
        c.fail("unsupported GGUF version " + std::to_string(g.version) + " (want 2 or 3)");
    }
    uint64_t n_tensors = c.u64("tensor count");
    uint64_t n_kv = c.u64("metadata count");
    // key string (8) + type (4) + smallest value (1)
    c.need_count(n_kv, 13, "metadata");

    for (uint64_t k = 0; k < n_kv; ++k) {
        std::string key = c.str("metadata key");
        gguf_value v = gguf_read_value(c, key);
        if (!g.kv.emplace(key, std::move(v)).second) c.fail("duplicate metadata key '" + key + "'");
    }

    if (const gguf_value* a = gguf_find(g, "general.alignment")) {
        if (a->type != GGUF_TYPE_UINT32 || a->i == 0 || (a->i & (a->i - 1)) != 0) {
            c.fail("general.alignment must be a uint32 power of two");
        }
        g.alignment = (uint64_t)a->i;
    }

    // name (8) + n_dims (4) + type (4) + offset (8)
    c.need_count(n_tensors, 24, "tensor");
    g.tensors.reserve(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) {
        gguf_tensor_info t;
        t.name = c.str("tensor name");
        uint32_t n_dims = c.u32("tensor dimension count");
        if (n_dims == 0 || n_dims > GGML_MAX_DIMS) {
            c.fail("tensor '" + t.name + "': bad dimension count " + std::to_string(n_dims));
        }
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t ne = c.u64("tensor dimension");
            if (ne == 0 || ne > ((uint64_t)1 << 40)) {
                c.fail("tensor '" + t.name + "': bad dimension " + std::to_string(ne));
            }
            t.ne.push_back((int64_t)ne);
        }
        t.type = c.u32("tensor type");
        if (!gguf_dtype_from_ggml(t.type, &t.dtype)) {
            c.fail("tensor '" + t.name + "': unsupported ggml type " + std::to_string(t.type) +
                   " (supported: F32=0, F16=1, Q8_0=8, BF16=30)");
        }
        t.offset = c.u64("tensor offset");
        if (t.offset % g.alignment != 0) {
            c.fail("tensor '" + t.name + "': data offset " + std::to_string(t.offset) +
                   " not aligned to " + std::to_string(g.alignment));
        }
        std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
        int64_t bytes = tensor_nbytes(t.dtype, shape);
        if (bytes < 0) {
            c.fail("tensor '" + t.name + "': shape invalid for dtype " +
                   tensor_dtype_name(t.dtype));
        }
        t.bytes = (uint64_t)bytes;
        g.tensors.push_back(std::move(t));
    }

    uint64_t end_of_infos = c.pos;
    g.data_offset = (end_of_infos + g.alignment - 1) / g.alignment * g.alignment;
    for (const gguf_tensor_info& t : g.tensors) {
        if (g.data_offset > file->size || t.offset > file->size - g.data_offset ||
            t.bytes > file->size - g.data_offset - t.offset) {
            throw std::runtime_error(path + ": tensor '" + t.name + "' data [" +
                                     std::to_string(g.data_offset + t.offset) + ", +" +
                                     std::to_string(t.bytes) + ") lies outside the file (" +
                                     std::to_string(file->size) + " bytes)");
        }
    }
    return g;
}

const gguf_value* gguf_find(const gguf_file& g, const std::string& key) {
    auto it = g.kv.find(key);
    return it == g.kv.end() ? nullptr : &it->second;
}

namespace {

[[noreturn]] void gguf_fail_type(const gguf_file& g, const std::string& key, const gguf_value& v,
                                 const char* want) {
    throw std::runtime_error(g.file->path + ": metadata key '" + key + "' has type " +
                             gguf_type_name(v.type) + ", expected " + want);
}

bool gguf_type_is_int(gguf_type t) {
    return t != GGUF_TYPE_STRING && t != GGUF_TYPE_ARRAY && t != GGUF_TYPE_BOOL &&
           !gguf_type_is_float(t);
}

} // namespace

int64_t gguf_get_int(const gguf_file& g, const std::string& key) {
    const gguf_value* v = gguf_find(g, key);
    if (!v) throw std::runtime_error(g.file->path + ": metadata key '" + key + "' missing");
    if (!gguf_type_is_int(v->type)) gguf_fail_type(g, key, *v, "an integer");
    return v->i;
}

int64_t gguf_get_int(const gguf_file& g, const std::string& key, int64_t fallback) {
    return gguf_find(g, key) ? gguf_get_int(g, key) : fallback;
}

double gguf_get_float(const gguf_file& g, const std::string& key, double fallback) {
    const gguf_value* v = gguf_find(g, key);
    if (!v) return fallback;
    if (gguf_type_is_float(v->type)) return v->f;
    if (gguf_type_is_int(v->type)) return (double)v->i;
    gguf_fail_type(g, key, *v, "a number");
}

std::string gguf_get_string(const gguf_file& g, const std::string& key) {
    const gguf_value* v = gguf_find(g, key);
    if (!v) throw std::runtime_error(g.file->path + ": metadata key '" + key + "' missing");
    if (v->type != GGUF_TYPE_STRING) gguf_fail_type(g, key, *v, "a string");
    return v->str;
}

bool gguf_get_bool(const gguf_file& g, const std::string& key, bool fallback) {
    const gguf_value* v = gguf_find(g, key);
    if (!v) return fallback;
    if (v->type != GGUF_TYPE_BOOL) gguf_fail_type(g, key, *v, "a bool");
    return v->i != 0;
}
