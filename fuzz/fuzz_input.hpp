#pragma once
// What every fuzz target shares: the input as a file (the parsers read paths), held in memory (memfd)
// and named through /proc/self/fd, so that a run makes no disk traffic; and the rule that a loramoe
// error is an answer, not a finding: only a crash, a hang, a leak or runaway memory is.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace loramoe::fuzz {

class input_file {
public:
    input_file(const std::uint8_t* data, std::size_t size) : fd_(::memfd_create("fuzz-input", MFD_CLOEXEC)) {
        if (fd_ < 0 || ::write(fd_, data, size) != static_cast<ssize_t>(size)) std::abort();
    }
    input_file(const input_file&) = delete;
    input_file& operator=(const input_file&) = delete;
    ~input_file() { ::close(fd_); }

    std::filesystem::path path() const { return "/proc/self/fd/" + std::to_string(fd_); }

private:
    int fd_;
};

// Texts the tokenizers encode: ASCII, whitespace runs, composed and decomposed accents, full-width
// forms, an emoji, bytes that are not UTF-8.
inline const char* const sample_texts[] = {
    "Hello, world!",
    "  two  spaces\tand\ttabs\n",
    "caf\xC3\xA9 cafe\xCC\x81",
    "\xEF\xBC\xA6\xEF\xBD\x95ll",
    "\xF0\x9F\x98\x80 x",
    "\xFF\xFE\x80 broken",
    "",
};

// The input as a Tokenizer (constructed from a path), then every sample text encoded and decoded back.
template <class Tokenizer>
int fuzz_tokenizer(const std::uint8_t* data, std::size_t size) {
    const input_file file(data, size);
    try {
        const Tokenizer tokenizer(file.path());
        for (const char* text : sample_texts) {
            try {
                (void)tokenizer.decode(tokenizer.encode(text));
            } catch (const std::exception&) {
            }
        }
    } catch (const std::exception&) {
    }
    return 0;
}

}  // namespace loramoe::fuzz
