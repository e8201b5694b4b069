#pragma once
// The safetensors format (HuggingFace): an 8-byte little-endian header length n, n bytes of JSON
// header { name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string} },
// then the tensors' bytes, little-endian, row-major.
//
// The reader is strict: the header length, every offset, dtype and shape are checked against the
// file with overflow-safe arithmetic; the tensors must tile the data section exactly (no gap, no
// overlap, nothing after), and a name may appear once. Every violation is a format_error naming the file and
// the tensor. Floating-point tensors must be finite: a NaN or an infinity is a value_error naming the tensor.
// The writer writes atomically (io/atomic_file.hpp).

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <loramoe/core/tensor.hpp>
#include <loramoe/cpu/bfloat16.hpp>
#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/mapped_file.hpp>

namespace loramoe::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

enum class dtype { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

struct dtype_info {
    dtype type;
    std::string_view name;
    std::size_t bytes;
    bool floating;
};

inline constexpr dtype_info dtype_table[] = {
    {dtype::f64, "F64", 8, true},       {dtype::f32, "F32", 4, true},  {dtype::f16, "F16", 2, true},
    {dtype::bf16, "BF16", 2, true},     {dtype::i64, "I64", 8, false}, {dtype::i32, "I32", 4, false},
    {dtype::i16, "I16", 2, false},      {dtype::i8, "I8", 1, false},   {dtype::u8, "U8", 1, false},
    {dtype::boolean, "BOOL", 1, false},
};

inline const dtype_info& info(dtype type) {
    return dtype_table[static_cast<int>(type)];
}
inline std::string_view name(dtype type) {
    return info(type).name;
}

inline std::optional<dtype> parse_dtype(std::string_view text) {
    for (const auto& entry : dtype_table)
        if (entry.name == text) return entry.type;
    return std::nullopt;
}

// The dtype a C++ type is stored as.
template <class T>
constexpr dtype dtype_of() {
    if constexpr (std::is_same_v<T, double>)
        return dtype::f64;
    else if constexpr (std::is_same_v<T, float>)
        return dtype::f32;
    else if constexpr (std::is_same_v<T, Eigen::half>)
        return dtype::f16;
    else if constexpr (std::is_same_v<T, Eigen::bfloat16>)
        return dtype::bf16;
    else if constexpr (std::is_same_v<T, std::int64_t>)
        return dtype::i64;
    else if constexpr (std::is_same_v<T, std::int32_t>)
        return dtype::i32;
    else if constexpr (std::is_same_v<T, std::int16_t>)
        return dtype::i16;
    else if constexpr (std::is_same_v<T, std::int8_t>)
        return dtype::i8;
    else if constexpr (std::is_same_v<T, std::uint8_t>)
        return dtype::u8;
    else
        static_assert(dependent_false<T>, "no safetensors dtype for this type");
}

struct tensor_entry {
    std::string name;
    dtype type = dtype::f32;
    shape_type shape;
    std::size_t begin = 0;  // byte offsets in the data section
    std::size_t end = 0;

    index elements() const { return static_cast<index>((end - begin) / info(type).bytes); }
};

namespace detail {

template <class S>
S load(const std::byte* source) {
    S value;
    std::memcpy(&value, source, sizeof(S));
    return value;
}

// One element of `type` at `source`, as T (floating from floating, integer from integer).
template <class T>
T load_element(dtype type, const std::byte* source) {
    switch (type) {
        case dtype::f64:
            return static_cast<T>(load<double>(source));
        case dtype::f32:
            return static_cast<T>(load<float>(source));
        case dtype::f16:
            return static_cast<T>(static_cast<float>(load<Eigen::half>(source)));
        case dtype::bf16:
            return static_cast<T>(static_cast<float>(load<Eigen::bfloat16>(source)));
        case dtype::i64:
            return static_cast<T>(load<std::int64_t>(source));
        case dtype::i32:
            return static_cast<T>(load<std::int32_t>(source));
        case dtype::i16:
            return static_cast<T>(load<std::int16_t>(source));
        case dtype::i8:
            return static_cast<T>(load<std::int8_t>(source));
        case dtype::u8:
        case dtype::boolean:
            return static_cast<T>(load<std::uint8_t>(source));
    }
    return T{};
}

// The index of the first NaN or infinity among `count` values, or -1 (integers: always -1).
template <class T>
index first_non_finite(const T* values, index count) {
    for (index i = 0; i < count; ++i) {
        if constexpr (std::is_floating_point_v<T>) {
            if (!std::isfinite(values[i])) return i;
        } else if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
            if ((std::bit_cast<std::uint16_t>(values[i]) & 0x7F80u) == 0x7F80u) return i;
        }
    }
    return -1;
}

}  // namespace detail

class safetensors_reader {
public:
    static constexpr std::uint64_t max_header_bytes = 100u << 20;

    explicit safetensors_reader(const std::filesystem::path& path) : file_(path) { parse(); }

    const std::filesystem::path& path() const { return file_.path(); }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::vector<tensor_entry>& entries() const { return entries_; }
    bool contains(std::string_view name) const { return find(name) != nullptr; }

    const tensor_entry& entry(std::string_view name) const {
        if (const tensor_entry* e = find(name)) return *e;
        fail<format_error>("{}: no tensor '{}'", path().string(), name);
    }

    std::span<const std::byte> bytes(const tensor_entry& e) const {
        return data_.subspan(e.begin, e.end - e.begin);
    }

    // The metadata value under `key`; format_error when absent.
    const std::string& metadata(const std::string& key) const {
        auto it = metadata_.find(key);
        if (it == metadata_.end())
            json_field_error(path().string() + ": '__metadata__'", key, "missing", "a string");
        return it->second;
    }

    // Reads tensor `name` converted to T: floating dtypes to a floating T, integer dtypes to an integer T.
    template <class T>
    tensor<T, cpu> read(std::string_view name) const {
        const tensor_entry& e = entry(name);
        tensor<T, cpu> out(e.shape);
        read_into(e, out.data());
        return out;
    }

    // As read(name), and checks the shape.
    template <class T>
    tensor<T, cpu> read(std::string_view name, const shape_type& expected) const {
        entry(name, expected);
        return read<T>(name);
    }
    // Into `destination`, which holds as many elements as `expected`.
    template <class T>
    void read(std::string_view name, const shape_type& expected, T* destination) const {
        read_into(entry(name, expected), destination);
    }

    // Tensor `name`, of shape `expected`, into `destination` in bfloat16: a BF16 tensor as stored,
    // another floating one rounded (cpu/bfloat16.hpp) a block at a time, never whole in float.
    void read_bfloat16(std::string_view name, const shape_type& expected, bfloat16* destination) const {
        const tensor_entry& e = entry(name, expected);
        if (e.type == dtype::bf16) return read_into(e, destination);
        if (!info(e.type).floating)
            fail<format_error>("{}: tensor '{}' has dtype {}, expected a floating-point dtype",
                               path().string(), e.name, io::name(e.type));
        const std::byte* source = bytes(e).data();
        const std::size_t step = info(e.type).bytes;
        constexpr index block = 1 << 14;
        std::array<float, block> values;
        for (index first = 0; first < e.elements(); first += block) {
            const index count = std::min(block, e.elements() - first);
            for (index i = 0; i < count; ++i)
                values[i] = detail::load_element<float>(e.type, source + (first + i) * step);
            round_to_bfloat16(cpu{}, values.data(), destination + first, count);
        }
        check_finite(e, destination);
    }

    // Tensor e's bytes will not be read again: the memory they hold is given back (io/mapped_file.hpp).
    void release(const tensor_entry& e) const {
        file_.release(static_cast<std::size_t>(data_.data() - file_.bytes().data()) + e.begin,
                      e.end - e.begin);
    }

    template <class T>
    void read_into(const tensor_entry& e, T* destination) const {
        const bool want_floating = info(dtype_of<T>()).floating;
        if (info(e.type).floating != want_floating)
            fail<format_error>("{}: tensor '{}' has dtype {}, expected {} dtype", path().string(), e.name,
                               name(e.type), want_floating ? "a floating-point" : "an integer");
        const std::byte* source = bytes(e).data();
        const std::size_t step = info(e.type).bytes;
        if (dtype_of<T>() == e.type) {
            if (e.end > e.begin) std::memcpy(destination, source, e.end - e.begin);
        } else {
            for (index i = 0; i < e.elements(); ++i)
                destination[i] = detail::load_element<T>(e.type, source + i * step);
        }
        check_finite(e, destination);
    }

private:
    // Weights, adapters, optimizer moments and case tensors are finite: a NaN read is refused here,
    // naming the tensor, rather than trained on.
    template <class T>
    void check_finite(const tensor_entry& e, const T* values) const {
        if (const index at = detail::first_non_finite(values, e.elements()); at >= 0)
            fail<value_error>(
                "{}: tensor '{}' holds {} at element {} (of {}); loramoe reads finite values only",
                path().string(), e.name, static_cast<double>(values[at]), at, e.shape);
    }

    const tensor_entry& entry(std::string_view name, const shape_type& expected) const {
        const tensor_entry& e = entry(name);
        if (e.shape != expected)
            fail<shape_error>("{}: tensor '{}' has shape {}, expected {}", path().string(), name, e.shape,
                              expected);
        return e;
    }

    const tensor_entry* find(std::string_view name) const {
        const auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : &entries_[it->second];
    }

    template <class... Args>
    [[noreturn]] void corrupt(fmt::format_string<Args...> message, Args&&... args) const {
        fail<format_error>("{}: {}", path().string(), fmt::format(message, std::forward<Args>(args)...));
    }

    void parse() {
        const auto all = file_.bytes();
        if (all.size() < 8)
            corrupt("{} bytes is too short for a safetensors file (no 8-byte header length)", all.size());
        std::uint64_t header_length = 0;
        std::memcpy(&header_length, all.data(), 8);
        if (header_length > all.size() - 8)
            corrupt("header length {} exceeds the {} bytes after it (truncated or not safetensors)",
                    header_length, all.size() - 8);
        if (header_length > max_header_bytes)
            corrupt("header length {} exceeds the 100 MiB limit", header_length);
        data_ = all.subspan(8 + header_length);

        const auto* text = reinterpret_cast<const char*>(all.data() + 8);
        const nlohmann::json header = parse_json({text, header_length}, path().string() + ": header");
        const json_fields fields(header, path().string());
        for (const auto& [key, value] : header.items()) {
            const json_fields entry = fields.object(key);
            if (key == "__metadata__") {
                for (const auto& [mkey, mvalue] : value.items())
                    metadata_[mkey] = entry.required<std::string>(mkey);
                continue;
            }
            by_name_.emplace(key, entries_.size());
            entries_.push_back(
                parse_entry(key, json_fields(value, fmt::format("{}: tensor '{}'", path().string(), key))));
        }

        std::vector<const tensor_entry*> by_offset;
        for (const auto& e : entries_) by_offset.push_back(&e);
        std::stable_sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
            return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
        });
        std::size_t expected_begin = 0;
        for (const tensor_entry* e : by_offset) {
            if (e->begin != expected_begin)
                corrupt("tensor '{}' data_offsets [{}, {}] {} the previous tensor's end at {}", e->name,
                        e->begin, e->end, e->begin < expected_begin ? "overlap" : "leave a gap after",
                        expected_begin);
            expected_begin = e->end;
        }
        if (expected_begin != data_.size())
            corrupt("the tensors' data end at byte {} but the data section has {} bytes ({})", expected_begin,
                    data_.size(), expected_begin > data_.size() ? "truncated file" : "trailing bytes");
    }

    // One tensor's {dtype, shape, data_offsets}; `fields` name the file and the tensor.
    tensor_entry parse_entry(const std::string& key, const json_fields& fields) const {
        tensor_entry e;
        e.name = key;
        const auto dtype_name = fields.required<std::string>("dtype");
        const auto type = parse_dtype(dtype_name);
        if (!type) {
            std::string names;
            for (const auto& d : dtype_table)
                names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", d.name);
            fields.fail_field("dtype", "one of " + names);
        }
        e.type = *type;

        const auto shape = fields.required<std::vector<std::uint64_t>>("shape");
        const std::string shape_text = fields.json().at("shape").dump();
        std::uint64_t elements = 1;
        for (const std::uint64_t dim : shape) {
            if (dim > static_cast<std::uint64_t>(INT64_MAX) ||
                __builtin_mul_overflow(elements, dim, &elements))
                corrupt("tensor '{}': shape {} overflows", key, shape_text);
            e.shape.push_back(static_cast<index>(dim));
        }
        std::uint64_t bytes = 0;
        if (__builtin_mul_overflow(elements, static_cast<std::uint64_t>(info(e.type).bytes), &bytes))
            corrupt("tensor '{}': shape {} overflows", key, shape_text);

        const auto offsets = fields.required<std::vector<std::uint64_t>>("data_offsets");
        if (offsets.size() != 2) fields.fail_field("data_offsets", "two offsets [begin, end]");
        const std::uint64_t begin = offsets[0], end = offsets[1];
        if (begin > end) corrupt("tensor '{}': data_offsets [{}, {}] end before they begin", key, begin, end);
        if (end > data_.size())
            corrupt("tensor '{}': data_offsets [{}, {}] run past the {} bytes of data (truncated file)", key,
                    begin, end, data_.size());
        if (end - begin != bytes)
            corrupt("tensor '{}': shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", key,
                    shape_text, name(e.type), bytes, begin, end, end - begin);
        e.begin = begin;
        e.end = end;
        return e;
    }

    mapped_file file_;
    std::span<const std::byte> data_;
    std::map<std::string, std::string> metadata_;
    std::vector<tensor_entry> entries_;
    std::map<std::string, std::size_t, std::less<>> by_name_;  // the index of each name in entries_
};

class safetensors_writer {
public:
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    void add(const std::string& name, dtype type, const shape_type& shape, std::span<const std::byte> data) {
        if (name == "__metadata__")
            fail<value_error>("safetensors: '__metadata__' is not a valid tensor name");
        for (const auto& t : tensors_)
            if (t.name == name) fail<value_error>("safetensors: tensor '{}' added twice", name);
        const auto expected = static_cast<std::size_t>(element_count(shape)) * info(type).bytes;
        if (data.size() != expected)
            fail<shape_error>("safetensors: tensor '{}' of shape {} and dtype {} needs {} bytes, got {}",
                              name, shape, io::name(type), expected, data.size());
        tensors_.push_back(pending{name, type, shape, std::vector<std::byte>(data.begin(), data.end())});
    }

    template <class T>
    void add(const std::string& name, const T* values, const shape_type& shape) {
        add(name, dtype_of<T>(), shape,
            std::as_bytes(std::span<const T>(values, static_cast<std::size_t>(element_count(shape)))));
    }

    template <class T>
    void add(const std::string& name, const tensor<T, cpu>& t) {
        add(name, t.data(), t.shape());
    }

    void write(const std::filesystem::path& path) const {
        nlohmann::json header = nlohmann::json::object();
        if (!metadata_.empty()) header["__metadata__"] = metadata_;
        std::size_t offset = 0;
        for (const auto& t : tensors_) {
            header[t.name] = {{"dtype", std::string(io::name(t.type))},
                              {"shape", t.shape},
                              {"data_offsets", {offset, offset + t.bytes.size()}}};
            offset += t.bytes.size();
        }
        std::string text = header.dump();
        text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
        write_file_atomically(path, [&](std::ostream& out) {
            const std::uint64_t length = text.size();
            out.write(reinterpret_cast<const char*>(&length), 8);
            out.write(text.data(), static_cast<std::streamsize>(text.size()));
            for (const auto& t : tensors_)
                out.write(reinterpret_cast<const char*>(t.bytes.data()),
                          static_cast<std::streamsize>(t.bytes.size()));
        });
    }

private:
    struct pending {
        std::string name;
        dtype type;
        shape_type shape;
        std::vector<std::byte> bytes;
    };
    std::map<std::string, std::string> metadata_;
    std::vector<pending> tensors_;
};

}  // namespace loramoe::io
