#pragma once
// The check a tokenizer.model passes before SentencePiece uses it. SentencePiece loads a model whose
// normalisation tables (precompiled_charsmap: a darts-clone double-array trie and the strings its leaves
// point into) are inconsistent without complaint, then reads out of bounds while encoding: a crash, not
// an error. check_sentencepiece_model walks every node the encoder could reach, as the encoder walks
// them, and refuses a table where a step would leave the array, a leaf would point outside the strings
// or at one without its terminating NUL, more leaves lie on one path than the encoder keeps (32), or a
// path returns to a node (a cycle).
//
// The model is read from its protobuf bytes (ModelProto: normalizer_spec = 3, denormalizer_spec = 5;
// NormalizerSpec: precompiled_charsmap = 2); Debian's libsentencepiece-dev ships no .proto headers.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

namespace detail {

// Protobuf's wire format, enough to find length-delimited fields.
class protobuf_fields {
public:
    protobuf_fields(std::string_view bytes, const std::string& source) : rest_(bytes), source_(source) {}

    // The next field's number and, for a length-delimited one, its bytes; nullopt at the end.
    struct field {
        std::uint64_t number;
        std::optional<std::string_view> bytes;
    };
    std::optional<field> next() {
        if (rest_.empty()) return std::nullopt;
        const std::uint64_t key = varint();
        field f{key >> 3, std::nullopt};
        switch (key & 7) {
            case 0:
                varint();
                break;
            case 1:
                skip(8);
                break;
            case 2: {
                const std::uint64_t length = varint();
                if (length > rest_.size()) broken("a field runs past the end");
                f.bytes = rest_.substr(0, length);
                rest_.remove_prefix(length);
                break;
            }
            case 5:
                skip(4);
                break;
            default:
                broken("an unknown wire type");
        }
        return f;
    }

private:
    std::uint64_t varint() {
        std::uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (rest_.empty()) broken("a number runs past the end");
            const auto byte = static_cast<unsigned char>(rest_.front());
            rest_.remove_prefix(1);
            value |= std::uint64_t{byte & 0x7Fu} << shift;
            if ((byte & 0x80) == 0) return value;
        }
        broken("a number longer than 64 bits");
    }
    void skip(std::size_t n) {
        if (n > rest_.size()) broken("a field runs past the end");
        rest_.remove_prefix(n);
    }
    [[noreturn]] void broken(std::string_view what) const {
        fail<format_error>("{}: not a SentencePiece model ({})", source_, what);
    }

    std::string_view rest_;
    const std::string& source_;
};

// The precompiled_charsmap of the (merged) NormalizerSpec messages numbered `spec` in `model`.
inline std::string_view precompiled_charsmap(std::string_view model, std::uint64_t spec,
                                             const std::string& source) {
    std::string_view charsmap;
    protobuf_fields top(model, source);
    while (const auto f = top.next()) {
        if (f->number != spec || !f->bytes) continue;
        protobuf_fields inner(*f->bytes, source);
        while (const auto g = inner.next())
            if (g->number == 2 && g->bytes) charsmap = *g->bytes;  // the last one wins, as protobuf merges
    }
    return charsmap;
}

// darts-clone's 32-bit unit.
struct trie_unit {
    std::uint32_t bits;
    bool has_leaf() const { return ((bits >> 8) & 1) == 1; }
    std::uint32_t value() const { return bits & ((1u << 31) - 1); }
    std::uint32_t label() const { return bits & ((1u << 31) | 0xFF); }
    std::uint32_t offset() const { return (bits >> 10) << ((bits & (1u << 9)) >> 6); }
};

inline void check_charsmap(std::string_view blob, std::string_view table, const std::string& source) {
    // SentencePiece itself refuses a blob without room for the trie's size or a trie that fills it.
    std::uint32_t trie_bytes = 0;
    if (blob.size() <= sizeof trie_bytes) return;
    std::memcpy(&trie_bytes, blob.data(), sizeof trie_bytes);
    if (trie_bytes >= blob.size()) return;
    auto refuse = [&](std::string_view why) {
        fail<format_error>(
            "{}: the {} normalisation table is inconsistent ({}); SentencePiece would read "
            "outside it while encoding",
            source, table, why);
    };
    constexpr std::size_t max_charsmap_bytes = std::size_t{16} << 20;  // real ones have about 250 KB
    if (blob.size() > max_charsmap_bytes) refuse("larger than 16 MiB");
    const std::string_view trie = blob.substr(4, trie_bytes), strings = blob.substr(4 + trie_bytes);
    const std::size_t units = trie.size() / sizeof(std::uint32_t);
    if (units == 0) refuse("an empty trie");
    auto unit = [&](std::size_t at) {
        trie_unit u{};
        std::memcpy(&u.bits, trie.data() + at * sizeof(std::uint32_t), sizeof u.bits);
        return u;
    };
    // A darts-clone trie is built from a word graph whose equal suffixes are shared: a node may have
    // several parents, but no path may return to a node. A depth-first walk in post-order finds each
    // node's most leaves on a path below it, and a cycle as a node met again while still open.
    constexpr int max_leaves_on_a_path = 32;  // the encoder's kMaxTrieResultsSize
    enum : std::uint8_t { unseen, open, done };
    std::vector<std::uint8_t> state(units, unseen);
    std::vector<int> leaves_below(units, 0);
    struct frame {
        std::size_t base;    // the position its children are reached from: child c at base ^ c
        std::uint32_t next;  // the next byte to try
        int edge_leaf;       // 1 when the step into it passed a leaf
    };
    const std::size_t root = unit(0).offset();
    if (root >= units) refuse("a step leaves the trie");
    std::vector<frame> path = {{root, 0, 0}};
    state[root] = open;
    while (!path.empty()) {
        frame& f = path.back();
        // The encoder reads base ^ c for every byte c it meets: the whole block of 256 must exist.
        if ((f.base | 0xFF) >= units) refuse("a node's children lie past the end of the trie");
        bool descended = false;
        while (f.next < 256) {
            const std::uint32_t c = f.next++;
            const trie_unit child = unit(f.base ^ c);
            if (child.label() != c) continue;
            const std::size_t base = f.base ^ c ^ child.offset();
            if (base >= units) refuse("a step leaves the trie");
            const int leaf = child.has_leaf() ? 1 : 0;
            if (leaf) {
                const std::uint32_t at = unit(base).value();
                if (at >= strings.size() ||
                    std::memchr(strings.data() + at, 0, strings.size() - at) == nullptr)
                    refuse("a replacement outside its strings");
            }
            if (state[base] == open) refuse("a path through its nodes returns to a node");
            if (state[base] == done) {
                leaves_below[f.base] = std::max(leaves_below[f.base], leaf + leaves_below[base]);
            } else {
                state[base] = open;
                path.push_back({base, 0, leaf});  // invalidates f: the loop ends here
                descended = true;
                break;
            }
        }
        if (descended) continue;
        const frame finished = path.back();
        path.pop_back();
        state[finished.base] = done;
        if (!path.empty())
            leaves_below[path.back().base] =
                std::max(leaves_below[path.back().base], finished.edge_leaf + leaves_below[finished.base]);
    }
    if (leaves_below[root] > max_leaves_on_a_path) refuse("more than 32 matches on one path");
}

}  // namespace detail

// Throws format_error naming `source` when the model's normalisation tables would make SentencePiece
// read out of bounds.
inline void check_sentencepiece_model(std::string_view model, const std::string& source) {
    detail::check_charsmap(detail::precompiled_charsmap(model, 3, source), "normaliser's", source);
    detail::check_charsmap(detail::precompiled_charsmap(model, 5, source), "denormaliser's", source);
}

}  // namespace loramoe::io
