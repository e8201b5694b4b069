#pragma once
// Data parallelism: the processes (ranks) that share one training run, and the one collective they
// need, an in-place sum over the ranks.
//
// A communicator C is a policy type with
//   c.rank(), c.size()               this process's place among the ranks, and their number
//   c.all_reduce_sum(std::span<V>)   every rank's values replaced by their sum over the ranks, for
//                                    V = float, double, std::int64_t (host memory)
// single_process is the default, with nothing to depend on; mpi/communicator.hpp adds MPI's. Code that
// must choose at run time (the LBC's statistics inside a layer, the trainer) holds a communicator_ref.

#include <concepts>
#include <cstdint>
#include <span>

namespace loramoe {

template <class C>
concept communicator = requires(C& c, std::span<float> f, std::span<double> d, std::span<std::int64_t> i) {
    { c.rank() } -> std::convertible_to<int>;
    { c.size() } -> std::convertible_to<int>;
    c.all_reduce_sum(f);
    c.all_reduce_sum(d);
    c.all_reduce_sum(i);
};

// One process: the sum over the ranks is the values themselves.
struct single_process {
    int rank() const { return 0; }
    int size() const { return 1; }
    template <class V>
    void all_reduce_sum(std::span<V>) const {}
};

// Any communicator behind one pointer (not owned: it outlives the reference). The default refers to
// a single process.
class communicator_ref {
public:
    communicator_ref() : communicator_ref(lone_process()) {}

    template <communicator C>
    requires(!std::same_as<C, communicator_ref>)
        communicator_ref(C& ranks)  // NOLINT(google-explicit-constructor): a reference to any communicator
        : self_(const_cast<void*>(static_cast<const void*>(&ranks))),
          rank_(ranks.rank()),
          size_(ranks.size()),
          sum_float_([](void* self, std::span<float> v) { static_cast<C*>(self)->all_reduce_sum(v); }),
          sum_double_([](void* self, std::span<double> v) { static_cast<C*>(self)->all_reduce_sum(v); }),
          sum_integer_(
              [](void* self, std::span<std::int64_t> v) { static_cast<C*>(self)->all_reduce_sum(v); }) {}

    int rank() const { return rank_; }
    int size() const { return size_; }
    void all_reduce_sum(std::span<float> values) const { sum_float_(self_, values); }
    void all_reduce_sum(std::span<double> values) const { sum_double_(self_, values); }
    void all_reduce_sum(std::span<std::int64_t> values) const { sum_integer_(self_, values); }

private:
    static single_process& lone_process() {
        static single_process one;
        return one;
    }

    void* self_;
    int rank_, size_;
    void (*sum_float_)(void*, std::span<float>);
    void (*sum_double_)(void*, std::span<double>);
    void (*sum_integer_)(void*, std::span<std::int64_t>);
};

}  // namespace loramoe
