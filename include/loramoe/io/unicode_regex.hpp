#pragma once
// A regular expression over UTF-8 text with Unicode classes (\p{L}, \p{N}, \s as Unicode white space,
// look-ahead, (?i:...)), through Debian's Oniguruma (libonig; CMake target loramoe::oniguruma): the
// engine HuggingFace `tokenizers` runs its pre-tokenizer patterns with, so the same pattern splits the
// same text the same way. std::regex knows no Unicode classes.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <oniguruma.h>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

class unicode_regex {
public:
    // Throws value_error naming `source` when the pattern does not compile.
    unicode_regex(std::string_view pattern, const std::string& source) {
        static const bool initialised = [] {
            OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
            return onig_initialize(encodings, 1) == ONIG_NORMAL;
        }();
        if (!initialised) fail<value_error>("{}: Oniguruma could not be initialised", source);
        const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
        OnigRegex compiled = nullptr;
        OnigErrorInfo info{};
        const int status = onig_new(&compiled, begin, begin + pattern.size(), ONIG_OPTION_CAPTURE_GROUP,
                                    ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
        if (status != ONIG_NORMAL) {
            OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
            onig_error_code_to_str(message, status, &info);
            fail<value_error>("{}: the pattern {} does not compile ({})", source, pattern,
                              reinterpret_cast<const char*>(message));
        }
        regex_.reset(compiled);
    }

    // The [begin, end) byte ranges of the successive non-overlapping matches in `text`, left to right;
    // after an empty match the search moves on by one character, as the Rust `onig` crate's find_iter.
    std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const {
        std::vector<std::pair<std::size_t, std::size_t>> found;
        const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
        const auto* end = begin + text.size();
        const std::unique_ptr<OnigRegion, region_free> region(onig_region_new());
        std::size_t from = 0;
        while (from <= text.size()) {
            const int at =
                onig_search(regex_.get(), begin, end, begin + from, end, region.get(), ONIG_OPTION_NONE);
            if (at == ONIG_MISMATCH) break;
            if (at < 0) fail<value_error>("Oniguruma failed to search the text (code {})", at);
            const auto first = static_cast<std::size_t>(region->beg[0]),
                       last = static_cast<std::size_t>(region->end[0]);
            if (last > first) {
                found.emplace_back(first, last);
                from = last;
            } else {
                from = first + (first < text.size() ? character_length(text, first) : 1);
            }
        }
        return found;
    }

    // The bytes of the UTF-8 character that starts at `at`.
    static std::size_t character_length(std::string_view text, std::size_t at) {
        const auto lead = static_cast<unsigned char>(text[at]);
        const std::size_t length = lead < 0x80    ? 1
                                   : lead >= 0xF0 ? 4
                                   : lead >= 0xE0 ? 3
                                   : lead >= 0xC0 ? 2
                                                  : 1;
        return std::min(length, text.size() - at);
    }

private:
    struct regex_free {
        void operator()(OnigRegex r) const { onig_free(r); }
    };
    struct region_free {
        void operator()(OnigRegion* r) const { onig_region_free(r, 1); }
    };
    std::unique_ptr<std::remove_pointer_t<OnigRegex>, regex_free> regex_;
};

}  // namespace loramoe::io
