#pragma once
// A read-only memory map of a whole file (POSIX): checkpoints of many GiB are read in place, only the
// pages a tensor touches are loaded, and release() gives back those of a part read once (a tensor
// copied into the model), mapped pages and page cache both, so that loading holds the model once.
// Every file loramoe reads goes through here: only a regular file is read (a FIFO, a device or a
// folder named like a checkpoint file is refused, never waited on).

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string_view>
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
        // O_NONBLOCK: opening a FIFO for reading would wait for a writer forever.
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
        fd_ = fd;
    }
    mapped_file(mapped_file&& other) noexcept
        : path_(std::move(other.path_)),
          data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)),
          fd_(std::exchange(other.fd_, -1)) {}
    mapped_file& operator=(mapped_file&& other) noexcept {
        std::swap(path_, other.path_);
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(fd_, other.fd_);
        return *this;
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    ~mapped_file() {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
        if (fd_ >= 0) ::close(fd_);
    }

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    std::string_view text() const { return {reinterpret_cast<const char*>(data_), size_}; }
    std::size_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

    // Bytes [offset, offset + length) will not be read again: their whole pages leave this process
    // and the page cache (advice only: nothing fails if the kernel keeps them).
    void release(std::size_t offset, std::size_t length) const {
        if (data_ == nullptr || length == 0) return;
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t first = (offset + page - 1) / page * page, last = (offset + length) / page * page;
        if (first < last) ::madvise(const_cast<std::byte*>(data_) + first, last - first, MADV_DONTNEED);
        ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_DONTNEED);
    }

private:
    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
    int fd_ = -1;  // kept open for release()
};

}  // namespace loramoe::io
