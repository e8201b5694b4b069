#pragma once
// Writing a file so that a reader sees either the old file or the complete new one, never a part,
// even after a crash or a power cut: write a temporary file beside the target, flush it and sync it to
// the disk, rename it over the target, then sync the folder (so that the rename itself is on the disk).
// A failure leaves the target as it was. A process killed mid-write leaves its temporary file
// (TARGET.tmp.PID.N): remove_stray_temporaries clears them.

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

// fsync of a file or a folder: its data (a folder's: its entries) on the disk before this returns.
inline void sync_to_disk(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail<io_error>("cannot open {} to sync it", path.string());
    const int synced = ::fsync(fd);
    ::close(fd);
    if (synced != 0) fail<io_error>("cannot sync {} to the disk (disk full? I/O error?)", path.string());
}

// The folder a path lies in ("." for a bare name).
inline std::filesystem::path folder_of(const std::filesystem::path& path) {
    return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

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
            if (!out) fail<io_error>("cannot write {} (disk full? a file size limit?)", temporary.string());
        }
        sync_to_disk(temporary);
        std::error_code ec;
        std::filesystem::rename(temporary, target, ec);
        if (ec)
            fail<io_error>("cannot rename {} to {}: {}", temporary.string(), target.string(), ec.message());
        sync_to_disk(folder_of(target));
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw;
    }
}

inline void write_text_atomically(const std::filesystem::path& target, const std::string& text) {
    write_file_atomically(target, [&](std::ostream& out) { out << text; });
}

// Removes the temporary files that killed writes left in `folder` (NAME.tmp.PID.N); returns how many.
inline int remove_stray_temporaries(const std::filesystem::path& folder) {
    static const std::regex temporary(R"(.+\.tmp\.[0-9]+\.[0-9]+)");
    int removed = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec))
        if (entry.is_regular_file() && std::regex_match(entry.path().filename().string(), temporary))
            removed += std::filesystem::remove(entry.path(), ec) ? 1 : 0;
    return removed;
}

}  // namespace loramoe::io
