#pragma once
// Host memory: 64-byte aligned (one AVX-512 register, one cache line), zeroed when allocated.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include <unistd.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/memory.hpp>
#include <loramoe/core/view.hpp>

namespace loramoe {

// The bytes this process may hold: the machine's physical memory, or its memory cgroup's limit when
// lower (cgroup v2 memory.max or v1 memory.limit_in_bytes of the cgroup in /proc/self/cgroup).
inline long double host_memory_limit() {
    long double limit = static_cast<long double>(::sysconf(_SC_PHYS_PAGES)) *
                        static_cast<long double>(::sysconf(_SC_PAGE_SIZE));
    std::ifstream groups("/proc/self/cgroup");
    for (std::string line; std::getline(groups, line);) {
        const auto first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos) continue;
        const std::string controllers = line.substr(first + 1, second - first - 1),
                          path = line.substr(second + 1);
        const std::string file = controllers.empty() ? "/sys/fs/cgroup" + path + "/memory.max"
                                 : controllers.find("memory") != std::string::npos
                                     ? "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes"
                                     : "";
        if (file.empty()) continue;
        std::ifstream value(file);
        long double bytes = 0;
        if (value >> bytes && bytes > 0) limit = std::min(limit, bytes);  // "max" reads as nothing
    }
    return limit;
}

// Refuses work whose memory cannot exist: value_error "WHAT B bytes (G GiB), more than the L GiB WHERE;
// CHECK" when `bytes` (counted in long double: absurd sizes do not overflow) exceed `limit`. WHAT ends
// in "need(s)", WHERE says what the limit is ("of memory here"), CHECK what to look at.
inline void require_memory(long double bytes, long double limit, std::string_view where,
                           std::string_view what, std::string_view check) {
    if (bytes > limit)
        fail<value_error>("{} {:.3g} bytes ({:.1f} GiB), more than the {:.1f} GiB {}; {}", what, bytes,
                          bytes / 0x1p30L, limit / 0x1p30L, where, check);
}

// The same against host_memory_limit().
inline void require_host_memory(long double bytes, std::string_view what, std::string_view check) {
    require_memory(bytes, host_memory_limit(), "of memory here", what, check);
}

namespace detail {

struct host_memory {
    static constexpr std::size_t alignment = 64;

    template <class T>
    static T* allocate(index count) {
        const std::size_t bytes =
            (static_cast<std::size_t>(count) * sizeof(T) + alignment - 1) / alignment * alignment;
        void* memory = std::aligned_alloc(alignment, bytes);
        if (memory == nullptr) throw std::bad_alloc();
        std::memset(memory, 0, bytes);
        return static_cast<T*>(memory);
    }
    static void release(void* memory) { std::free(memory); }
};

}  // namespace detail

template <class T>
class buffer<T, cpu> : public growing_buffer<T, detail::host_memory> {
public:
    using growing_buffer<T, detail::host_memory>::growing_buffer;
};

template <class T>
void fill(cpu, T* destination, index count, T value) {
    std::fill_n(destination, count, value);
}

// Copies within the backend's memory.
template <class T>
void copy(cpu, const T* source, T* destination, index count) {
    if (count > 0) std::memcpy(destination, source, static_cast<std::size_t>(count) * sizeof(T));
}

// The explicit transfers every backend provides; for the host they are plain copies.
template <class T>
void copy_to_host(cpu, const T* source, T* host_destination, index count) {
    copy(cpu{}, source, host_destination, count);
}
template <class T>
void copy_from_host(cpu, const T* host_source, T* destination, index count) {
    copy(cpu{}, host_source, destination, count);
}

// Waits until the calling thread's work on the backend is done; on the host it is when each call
// returns (the CUDA backend's work is queued on a stream: timing it needs this).
inline void synchronize(cpu) {}

// Strided matrix transfers (a LoRA expert's B_i is a column block of B_cat).
template <class T>
void download(cpu, matrix_view<const T> source, matrix_view<T> host_destination) {
    LORAMOE_ASSERT(source.rows == host_destination.rows && source.cols == host_destination.cols);
    for (index i = 0; i < source.rows; ++i) copy(cpu{}, source.row(i), host_destination.row(i), source.cols);
}
template <class T>
void upload(cpu, matrix_view<const T> host_source, matrix_view<T> destination) {
    download(cpu{}, host_source, destination);
}

}  // namespace loramoe
