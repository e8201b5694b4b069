#pragma once
// A regular expression over UTF-8 text with Unicode classes (\p{L}, \p{N}, \s as Unicode white space,
// look-ahead, (?i:...)), through Debian's Oniguruma (libonig; CMake target loramoe::oniguruma): the
// engine HuggingFace `tokenizers` runs its pre-tokenizer patterns with, so the same pattern splits the
// same text the same way; with Python's syntax it also reads PEFT's target_modules patterns.
// std::regex knows no Unicode classes, and overflows the stack on some patterns.
//
// Patterns come from files (tokenizer.json, adapter_config.json), so a hostile one must cost bounded
// time and memory: nesting deeper than max_regex_nesting does not compile, and a match that backtracks
// more than max_regex_steps times (a pattern like (a+)+b) stops with a value_error naming the pattern,
// where a backtracking engine would run for ages.

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Without this, oniguruma.h defines UChar, which ICU (io/unicode_normalization.hpp) declares too.
#ifndef ONIG_ESCAPE_UCHAR_COLLISION
#define ONIG_ESCAPE_UCHAR_COLLISION
#endif
#include <oniguruma.h>

#include <loramoe/core/error.hpp>

namespace loramoe {

// The pattern's syntax: Oniguruma's own (Ruby's), as `tokenizers` compiles it, or Python's `re`.
enum class regex_syntax { oniguruma, python };

inline constexpr unsigned max_regex_nesting = 256;
inline constexpr unsigned long max_regex_steps = 10'000'000;  // tens of milliseconds

class unicode_regex {
public:
    // Throws value_error naming `source` when the pattern does not compile.
    unicode_regex(std::string_view pattern, std::string source, regex_syntax syntax = regex_syntax::oniguruma)
        : pattern_(pattern), source_(std::move(source)) {
        static const bool initialised = [] {
            OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
            onig_set_parse_depth_limit(max_regex_nesting);
            return onig_initialize(encodings, 1) == ONIG_NORMAL;
        }();
        if (!initialised) fail<value_error>("{}: Oniguruma could not be initialised", source_);
        OnigSyntaxType* grammar = syntax == regex_syntax::python ? ONIG_SYNTAX_PYTHON : ONIG_SYNTAX_DEFAULT;
        regex_ = compile(pattern, grammar);
        // The whole text: \Z in Python's syntax is \z in Oniguruma's, the end of the string.
        whole_ = compile(fmt::format("(?:{}){}", pattern, syntax == regex_syntax::python ? "\\Z" : "\\z"),
                         grammar);
    }

    // The [begin, end) byte ranges of the successive non-overlapping matches in `text`, left to right;
    // after an empty match the search moves on by one character, as the Rust `onig` crate's find_iter.
    std::vector<std::pair<std::size_t, std::size_t>> matches(std::string_view text) const {
        std::vector<std::pair<std::size_t, std::size_t>> found;
        const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
        const auto* end = begin + text.size();
        const std::unique_ptr<OnigRegion, region_free> region(onig_region_new());
        const limits bounds;
        std::size_t from = 0;
        while (from <= text.size()) {
            const int at = onig_search_with_param(regex_.get(), begin, end, begin + from, end, region.get(),
                                                  ONIG_OPTION_NONE, bounds.get());
            if (at == ONIG_MISMATCH) break;
            if (at < 0) failed(at, text);
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

    // Whether the pattern matches all of `text` (Python's re.fullmatch).
    bool full_match(std::string_view text) const {
        const auto* begin = reinterpret_cast<const OnigUChar*>(text.data());
        const limits bounds;
        const int length = onig_match_with_param(whole_.get(), begin, begin + text.size(), begin, nullptr,
                                                 ONIG_OPTION_NONE, bounds.get());
        if (length == ONIG_MISMATCH) return false;
        if (length < 0) failed(length, text);
        return true;
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
    using compiled = std::unique_ptr<std::remove_pointer_t<OnigRegex>, regex_free>;

    // The step and backtracking-stack bounds of one search or match.
    class limits {
    public:
        limits() : param_(onig_new_match_param()) {
            onig_initialize_match_param(param_);
            onig_set_retry_limit_in_match_of_match_param(param_, max_regex_steps);
            onig_set_retry_limit_in_search_of_match_param(param_, max_regex_steps);
            onig_set_match_stack_limit_size_of_match_param(param_, 1u << 20);
        }
        limits(const limits&) = delete;
        limits& operator=(const limits&) = delete;
        ~limits() { onig_free_match_param(param_); }
        OnigMatchParam* get() const { return param_; }

    private:
        OnigMatchParam* param_;
    };

    // The pattern as errors quote it: cut at 80 characters.
    std::string quoted() const { return pattern_.size() > 80 ? pattern_.substr(0, 77) + "..." : pattern_; }

    compiled compile(std::string_view pattern, OnigSyntaxType* grammar) const {
        const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
        OnigRegex regex = nullptr;
        OnigErrorInfo info{};
        const int status = onig_new(&regex, begin, begin + pattern.size(), ONIG_OPTION_CAPTURE_GROUP,
                                    ONIG_ENCODING_UTF8, grammar, &info);
        if (status != ONIG_NORMAL) {
            OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
            onig_error_code_to_str(message, status, &info);
            fail<value_error>("{}: the pattern {} does not compile ({})", source_, quoted(),
                              reinterpret_cast<const char*>(message));
        }
        return compiled(regex);
    }

    [[noreturn]] void failed(int code, std::string_view text) const {
        if (code == ONIGERR_RETRY_LIMIT_IN_MATCH_OVER || code == ONIGERR_RETRY_LIMIT_IN_SEARCH_OVER ||
            code == ONIGERR_MATCH_STACK_LIMIT_OVER)
            fail<value_error>(
                "{}: the pattern {} backtracks more than {} times on a text of {} bytes; a pattern like "
                "(a+)+ has no bound on its work: write it without nested repetition",
                source_, quoted(), max_regex_steps, text.size());
        OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(message, code);
        fail<value_error>("{}: the pattern {} failed to match ({})", source_, quoted(),
                          reinterpret_cast<const char*>(message));
    }

    std::string pattern_, source_;
    compiled regex_, whole_;
};

}  // namespace loramoe
