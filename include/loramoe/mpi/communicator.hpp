#pragma once
// The MPI communicator (core/communicator.hpp): the ranks of an MPI communicator, MPI_COMM_WORLD by
// default, summing in place with MPI_Allreduce. Needs <mpi.h> and an MPI library (Open MPI, MPICH),
// hence not in <loramoe/loramoe.hpp>: include <loramoe/mpi.hpp> and link MPI::MPI_CXX.
//
// mpi_session is MPI's lifetime in a program: MPI_Init_thread in the constructor (the threads of a
// rank's OpenMP loops never call MPI: MPI_THREAD_FUNNELED), MPI_Finalize in the destructor.

#include <algorithm>
#include <climits>
#include <cstdint>
#include <span>
#include <string>

#include <mpi.h>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/communicator.hpp>
#include <loramoe/core/error.hpp>

namespace loramoe {

namespace detail {

template <class V>
MPI_Datatype mpi_type() {
    if constexpr (std::is_same_v<V, float>)
        return MPI_FLOAT;
    else if constexpr (std::is_same_v<V, double>)
        return MPI_DOUBLE;
    else if constexpr (std::is_same_v<V, std::int64_t>)
        return MPI_INT64_T;
    else
        static_assert(dependent_false<V>, "MPI sums float, double and std::int64_t");
}

inline void check_mpi(int status, const char* call) {
    if (status == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, text, &length);
    fail<error>("{} failed: {}", call, std::string(text, static_cast<std::size_t>(length)));
}

}  // namespace detail

class mpi_communicator {
public:
    explicit mpi_communicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
        detail::check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        detail::check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    }

    int rank() const { return rank_; }
    int size() const { return size_; }
    MPI_Comm comm() const { return comm_; }

    // In place, in pieces of at most INT_MAX values (MPI's counts are int).
    template <class V>
    void all_reduce_sum(std::span<V> values) const {
        if (size_ == 1) return;
        for (std::size_t first = 0; first < values.size(); first += INT_MAX) {
            const auto count = static_cast<int>(std::min<std::size_t>(values.size() - first, INT_MAX));
            detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, values.data() + first, count, detail::mpi_type<V>(),
                                            MPI_SUM, comm_),
                              "MPI_Allreduce");
        }
    }

    // Ends every rank of the communicator: for an error on one rank while the others wait in a sum.
    [[noreturn]] void abort(int code) const {
        MPI_Abort(comm_, code);
        std::abort();
    }

private:
    MPI_Comm comm_;
    int rank_ = 0, size_ = 1;
};

static_assert(communicator<mpi_communicator>);

class mpi_session {
public:
    mpi_session(int* argc, char*** argv) {
        int provided = 0;
        detail::check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    }
    mpi_session(const mpi_session&) = delete;
    mpi_session& operator=(const mpi_session&) = delete;
    ~mpi_session() { MPI_Finalize(); }
};

}  // namespace loramoe
