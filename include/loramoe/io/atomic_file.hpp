#pragma once
// Writing a file so that a reader sees either the old file or the complete new one, never a part:
// write a temporary file beside the target, flush it, then rename it over the target. A failure
// leaves the target as it was.

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <unistd.h>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

inline void write_file_atomically(const std::filesystem::path& target,
                                  const std::function<void(std::ostream&)>& write) {
    static std::atomic<unsigned> counter{0};
    const std::filesystem::path temporary =
        target.string() + fmt::format(".tmp.{}.{}", static_cast<long>(::getpid()), counter++);
    try {
        {
            std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
            if (!out) fail<io_error>("cannot create {}", temporary.string());
            write(out);
            out.flush();
            if (!out) fail<io_error>("cannot write {} (disk full?)", temporary.string());
        }
        std::error_code ec;
        std::filesystem::rename(temporary, target, ec);
        if (ec)
            fail<io_error>("cannot rename {} to {}: {}", temporary.string(), target.string(), ec.message());
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
}

inline void write_text_atomically(const std::filesystem::path& target, const std::string& text) {
    write_file_atomically(target, [&](std::ostream& out) { out << text; });
}

}  // namespace loramoe::io
