#pragma once
// The fields of a JSON object, read with one error wording for every JSON file loramoe reads
// (config.json, adapter_config.json, tokenizer_config.json, checkpoint indexes, trainer_state.json,
// safetensors headers, JSONL instruction data):
//
//   SOURCE: 'KEY' is FOUND, expected EXPECTED
//
// FOUND is `missing` for an absent key, else the value as JSON (`null`, `"12"`, `2.5`, shortened when
// long). A missing key or a value of the wrong type is a format_error; a value outside the allowed set
// (one_of) is a value_error. A value that is not an object where one is needed says
// `SOURCE: the top level is FOUND, expected a JSON object`. SOURCE names the file, and the line where
// there are lines ("data.jsonl:3").
//
// Null is the same as absent for an optional field (it takes its default); a required field that is
// null is a wrong type. Types are strict: an integer field takes a JSON integer that fits (not 2.0,
// not true), a number field takes an integer or a float, a bool field takes true or false.

#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

// How a C++ type is read from a JSON value: matches(j), the value (j.get<V>()), and expected(), the
// words of the error ("a string"). Specialized for integers, floating point, bool, std::string, and
// vectors and variants of those.
template <class V>
struct json_kind {
    static_assert(sizeof(V) == 0,
                  "json_kind<V>: loramoe reads no JSON field of this type; read an integer, floating "
                  "point, bool, std::string, or a std::vector or std::variant of those");
};

template <std::signed_integral V>
requires(!std::same_as<V, bool>) struct json_kind<V> {
    static bool matches(const nlohmann::json& j) {
        if (j.is_number_unsigned())
            return j.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<V>::max());
        if (!j.is_number_integer()) return false;
        const auto value = j.get<std::int64_t>();
        return value >= std::numeric_limits<V>::min() && value <= std::numeric_limits<V>::max();
    }
    static std::string expected() { return fmt::format("a signed {}-bit integer", 8 * sizeof(V)); }
};

template <std::unsigned_integral V>
requires(!std::same_as<V, bool>) struct json_kind<V> {
    static bool matches(const nlohmann::json& j) {
        return j.is_number_unsigned() && j.get<std::uint64_t>() <= std::numeric_limits<V>::max();
    }
    static std::string expected() { return fmt::format("an unsigned {}-bit integer", 8 * sizeof(V)); }
};

template <std::floating_point V>
struct json_kind<V> {
    static bool matches(const nlohmann::json& j) { return j.is_number(); }
    static std::string expected() { return "a number"; }
};

template <>
struct json_kind<bool> {
    static bool matches(const nlohmann::json& j) { return j.is_boolean(); }
    static std::string expected() { return "true or false"; }
};

template <>
struct json_kind<std::string> {
    static bool matches(const nlohmann::json& j) { return j.is_string(); }
    static std::string expected() { return "a string"; }
};

template <class E>
struct json_kind<std::vector<E>> {
    static bool matches(const nlohmann::json& j) {
        if (!j.is_array()) return false;
        for (const auto& e : j)
            if (!json_kind<E>::matches(e)) return false;
        return true;
    }
    // "a list of strings", "a list of signed 64-bit integers"
    static std::string expected() {
        std::string one = json_kind<E>::expected();
        if (one.starts_with("a ")) one.erase(0, 2);
        if (one.starts_with("an ")) one.erase(0, 3);
        return "a list of " + one + "s";
    }
};

// The first alternative that matches: std::variant<std::int64_t, std::vector<std::int64_t>> reads
// `2` and `[2, 3]`.
template <class... Alternatives>
struct json_kind<std::variant<Alternatives...>> {
    static bool matches(const nlohmann::json& j) { return (json_kind<Alternatives>::matches(j) || ...); }
    static std::string expected() {
        std::string words;
        ((words += (words.empty() ? "" : " or ") + json_kind<Alternatives>::expected()), ...);
        return words;
    }
};

namespace detail {
template <class V>
inline constexpr bool is_variant = false;
template <class... Alternatives>
inline constexpr bool is_variant<std::variant<Alternatives...>> = true;

template <class V>
V json_value(const nlohmann::json& j) {
    if constexpr (is_variant<V>) {
        return [&]<std::size_t... I>(std::index_sequence<I...>) {
            std::optional<V> out;
            ((!out && json_kind<std::variant_alternative_t<I, V>>::matches(j)
                  ? void(out.emplace(std::in_place_index<I>, json_value<std::variant_alternative_t<I, V>>(j)))
                  : void()),
             ...);
            return std::move(*out);
        }
        (std::make_index_sequence<std::variant_size_v<V>>{});
    } else {
        return j.get<V>();
    }
}

// A JSON value as the errors quote it: compact, and cut at 60 characters.
inline std::string json_quoted(const nlohmann::json& j) {
    std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > 60) text = text.substr(0, 57) + "...";
    return text;
}
}  // namespace detail

// The one wording: "SOURCE: 'KEY' is FOUND, expected EXPECTED".
template <class Error = format_error>
[[noreturn]] void json_field_error(std::string_view source, const std::string& key, std::string_view found,
                                   std::string_view expected) {
    fail<Error>("{}: '{}' is {}, expected {}", source, key, found, expected);
}

class json_fields {
public:
    // `object` must be a JSON object; it must outlive this reader. `source` names the file (and line).
    json_fields(const nlohmann::json& object, std::string source)
        : json_(&object), source_(std::move(source)) {
        if (!object.is_object())
            fail<format_error>("{}: the top level is {}, expected a JSON object", source_,
                               detail::json_quoted(object));
    }
    json_fields(nlohmann::json&&, std::string) = delete;  // the reader would outlive a temporary

    const std::string& source() const { return source_; }
    const nlohmann::json& json() const { return *json_; }

    // The key is there, null or not.
    bool contains(const std::string& key) const { return json_->contains(key); }
    // The key is there and not null.
    bool is_set(const std::string& key) const {
        const auto it = json_->find(key);
        return it != json_->end() && !it->is_null();
    }
    // The key is there and reads as V.
    template <class V>
    bool holds(const std::string& key) const {
        const auto it = json_->find(key);
        return it != json_->end() && json_kind<V>::matches(*it);
    }

    // The value at `key`, which must be there, not null, and read as V.
    template <class V>
    V required(const std::string& key) const {
        const auto it = json_->find(key);
        if (it == json_->end()) json_field_error(source_, key, "missing", json_kind<V>::expected());
        return checked<V>(key, *it);
    }

    // The value at `key`; nullopt when absent or null.
    template <class V>
    std::optional<V> optional(const std::string& key) const {
        const auto it = json_->find(key);
        if (it == json_->end() || it->is_null()) return std::nullopt;
        return checked<V>(key, *it);
    }

    // The value at `key`; `fallback` when absent or null.
    template <class V>
    V optional(const std::string& key, V fallback) const {
        return optional<V>(key).value_or(std::move(fallback));
    }

    // A string among `allowed` (a value_error otherwise); `fallback` when absent or null.
    std::string one_of(const std::string& key, std::initializer_list<std::string_view> allowed,
                       std::string_view fallback) const {
        std::string value = optional<std::string>(key, std::string(fallback));
        for (const std::string_view a : allowed)
            if (value == a) return value;
        std::string words;
        for (const std::string_view a : allowed)
            words += fmt::format("{}\"{}\"", words.empty() ? "" : ", ", a);
        fail_field<value_error>(key, (allowed.size() == 1 ? "" : "one of ") + words);
    }

    // The object at `key`, whose errors name "SOURCE: 'KEY'".
    json_fields object(const std::string& key) const {
        const auto it = json_->find(key);
        if (it == json_->end() || !it->is_object())
            json_field_error(source_, key, it == json_->end() ? "missing" : detail::json_quoted(*it),
                             "a JSON object");
        return json_fields(*it, fmt::format("{}: '{}'", source_, key));
    }

    // The one wording, for a check the types above do not make: "'KEY' is FOUND, expected EXPECTED".
    template <class Error = format_error>
    [[noreturn]] void fail_field(const std::string& key, std::string_view expected) const {
        const auto it = json_->find(key);
        json_field_error<Error>(source_, key, it == json_->end() ? "missing" : detail::json_quoted(*it),
                                expected);
    }

private:
    template <class V>
    V checked(const std::string& key, const nlohmann::json& value) const {
        if (!json_kind<V>::matches(value))
            json_field_error(source_, key, detail::json_quoted(value), json_kind<V>::expected());
        return detail::json_value<V>(value);
    }

    const nlohmann::json* json_;
    std::string source_;
};

}  // namespace loramoe::io
