#pragma once
// A read-only memory map of a whole file (POSIX): checkpoints of many GiB are read in place, and
// only the pages a tensor touches are loaded.

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loramoe/core/error.hpp>

namespace loramoe::io {

class mapped_file {
public:
    explicit mapped_file(const std::filesystem::path& path) : path_(path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail<io_error>("cannot open {}: {}", path.string(), std::strerror(errno));
        struct stat status {};
        if (::fstat(fd, &status) != 0) {
            const int code = errno;
            ::close(fd);
            fail<io_error>("cannot read {}: {}", path.string(), std::strerror(code));
        }
        if (!S_ISREG(status.st_mode)) {
            ::close(fd);
            fail<io_error>("cannot read {}: not a regular file", path.string());
        }
        size_ = static_cast<std::size_t>(status.st_size);
        if (size_ > 0) {
            void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (data == MAP_FAILED) {
                const int code = errno;
                ::close(fd);
                fail<io_error>("cannot map {}: {}", path.string(), std::strerror(code));
            }
            data_ = static_cast<const std::byte*>(data);
        }
        ::close(fd);
    }
    mapped_file(mapped_file&& other) noexcept
        : path_(std::move(other.path_)),
          data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)) {}
    mapped_file& operator=(mapped_file&& other) noexcept {
        std::swap(path_, other.path_);
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        return *this;
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    }

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    std::size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace loramoe::io
