#pragma once
// Unicode normalization form C of UTF-8 text, through Debian's ICU (libicu; CMake target ICU::uc): the
// "NFC" normalizer of a tokenizer.json (Qwen2's). Text that is not valid UTF-8 is a value_error.

#include <string>
#include <string_view>

#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

inline std::string nfc(std::string_view text) {
    bool ascii = true;
    for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) return std::string(text);  // already NFC
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2* normalizer = unorm2_getNFCInstance(&status);
    auto check = [&](const char* step) {
        if (U_FAILURE(status))
            fail<value_error>("NFC normalization: {} failed ({})", step, u_errorName(status));
    };
    check("loading ICU's NFC data");
    const auto length = static_cast<int32_t>(text.size());
    std::u16string utf16(text.size(), u'\0');  // UTF-16 never needs more units than UTF-8 has bytes
    int32_t units = 0;
    u_strFromUTF8(reinterpret_cast<UChar*>(utf16.data()), static_cast<int32_t>(utf16.size()), &units,
                  text.data(), length, &status);
    check("reading the text as UTF-8");
    std::u16string normalized(static_cast<std::size_t>(units) * 3 + 1, u'\0');  // NFC grows by at most 3x
    const int32_t normalized_units = unorm2_normalize(
        normalizer, reinterpret_cast<const UChar*>(utf16.data()), units,
        reinterpret_cast<UChar*>(normalized.data()), static_cast<int32_t>(normalized.size()), &status);
    check("normalizing");
    std::string out(static_cast<std::size_t>(normalized_units) * 3, '\0');
    int32_t bytes = 0;
    u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &bytes,
                reinterpret_cast<const UChar*>(normalized.data()), normalized_units, &status);
    check("writing UTF-8");
    out.resize(static_cast<std::size_t>(bytes));
    return out;
}

}  // namespace loramoe::io
