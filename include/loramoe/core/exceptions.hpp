#pragma once
// The exceptions the library throws (core/error.hpp formats their messages). No dependency beyond
// the standard library, so that the CUDA kernels, compiled by nvcc, can throw them too.

#include <stdexcept>

namespace loramoe {

// The base of every exception the library throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Tensors whose shapes disagree with each other or with a configuration.
class shape_error : public error {
public:
    using error::error;
};

// A value out of its domain: rank 0, an unknown statistic name, a token id past the vocabulary.
class value_error : public error {
public:
    using error::error;
};

// A file that cannot be read or written.
class io_error : public error {
public:
    using error::error;
};

// A file that can be read but whose contents are malformed (corrupt, truncated, wrong schema).
class format_error : public io_error {
public:
    using io_error::io_error;
};

}  // namespace loramoe
