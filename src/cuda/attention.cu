// Causal grouped-query self-attention with a key padding mask on the device, forward, backward and
// with a KV cache (cuda/attention.hpp; maths and conventions: cpu/attention.hpp).
//
// q (B*S, H*Dh) and k, v (B*S, Hkv*Dh); query head h reads kv head g = h / (H/Hkv); mask (B*S): 1 real
// token, 0 padding, or null; probs (B, H, S, S).
//   forward:   s_ij = q_i . k_j / sqrt(Dh) over the keys j <= i that are real tokens
//              p_i = softmax(s_i) over those keys,  o_i = sum_j p_ij v_j
//              A query that sees no key (left padding) attends uniformly to all S keys; no gradient
//              reaches its scores.
//   backward:  dv = p^T do,  dp = do v^T,  ds = p o (dp - rowsum(p o dp)) / sqrt(Dh),
//              dq = ds k,  dk = ds^T q   (dk, dv summed over the query heads of a group)
//
// The products are cuBLAS strided-batched products, one call per query head with the B samples as
// the batch: every operand of sample b sits a fixed step (S rows of q, k, v, out; H*S*S elements of
// probs) after that of sample b - 1. The calls run in order on the stream, so the query heads of a
// group add into dk and dv one after the other (beta 0 for the group's first head, 1 for the others):
// no races. The masked softmax and its backward are kernels with one warp per row of scores.

#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

#include <loramoe/core/exceptions.hpp>
#include <loramoe/cuda/attention.hpp>
#include <loramoe/cuda/gemm.hpp>
#include "launch.cuh"

namespace loramoe {

namespace cuda_kernels {
namespace {

// The first real key of a sample (tokens if none; 0 without a mask), found by one warp: query i sees a
// key iff i >= first.
template <class T>
__device__ index first_real_key(const T* sample_mask, index tokens) {
    if (sample_mask == nullptr) return 0;
    index first = tokens;
    for (index j = lane(); j < tokens; j += warp_size)
        if (sample_mask[j] != T(0)) {
            first = j;
            break;
        }
    for (int offset = warp_size / 2; offset > 0; offset /= 2) {
        const index other = __shfl_xor_sync(0xffffffffu, first, offset);
        first = other < first ? other : first;
    }
    return first;
}

// probs (B*H*S rows of S), the scaled scores in, the probabilities out. Row (b, h, i):
//   i < first:  1/S for every key (no visible key);
//   otherwise:  the softmax over the keys first..i, padding keys -inf (probability 0); 0 elsewhere.
template <class T>
__global__ void attention_masked_softmax(T* probs, const T* mask, index heads, index tokens, index rows) {
    const index row = warp_row();
    if (row >= rows) return;  // the whole warp: one row per warp
    const index S = tokens, i = row % S, b = row / S / heads;
    const T* sample_mask = mask ? mask + b * S : nullptr;
    const index first = first_real_key(sample_mask, S);
    T* p = probs + row * S;
    if (i < first) {
        for (index j = lane(); j < S; j += warp_size) p[j] = T(1) / static_cast<T>(S);
        return;
    }
    // Every loop gives element j to lane j % 32, so a lane only reads back what it wrote itself.
    auto score = [&](index j) { return sample_mask && sample_mask[j] == T(0) ? T(-INFINITY) : p[j]; };
    T top = -INFINITY;  // finite: key `first` is real
    for (index j = lane(); j <= i; j += warp_size)
        if (j >= first) top = max(top, score(j));
    top = warp_max(top);
    T sum = 0;
    for (index j = lane(); j <= i; j += warp_size)
        if (j >= first) {
            const T e = exp(score(j) - top);
            p[j] = e;
            sum += e;
        }
    const T inverse = T(1) / warp_sum(sum);
    for (index j = lane(); j < S; j += warp_size) p[j] = j >= first && j <= i ? p[j] * inverse : T(0);
}

// For one query head h: ds (B*S rows of S) holds dp = do v^T and becomes
// ds = p o (dp - <p, dp>) / sqrt(Dh), 0 on the rows of the queries that see no key.
template <class T>
__global__ void attention_softmax_backward(const T* probs, const T* mask, index heads, index h, index tokens,
                                           T scale, T* ds, index rows) {
    const index row = warp_row();
    if (row >= rows) return;
    const index S = tokens, b = row / S, i = row % S;
    const index first = first_real_key(mask ? mask + b * S : nullptr, S);
    const T* p = probs + ((b * heads + h) * S + i) * S;
    T* d = ds + row * S;
    if (i < first) {
        for (index j = lane(); j < S; j += warp_size) d[j] = 0;
        return;
    }
    T inner = 0;
    for (index j = lane(); j < S; j += warp_size) inner += p[j] * d[j];
    inner = warp_sum(inner);
    for (index j = lane(); j < S; j += warp_size) d[j] = p[j] * (d[j] - inner) * scale;
}

// p (H*n rows of `length`), the scaled scores in, the probabilities out: query i of the n new ones
// (row h*n + i) sees the keys 0 .. past+i.
template <class T>
__global__ void attention_cached_softmax(T* probs, index n, index past, index length, index rows) {
    const index row = warp_row();
    if (row >= rows) return;
    const index visible = past + row % n + 1;
    T* p = probs + row * length;
    warp_softmax(p, p, visible);
    for (index j = visible + lane(); j < length; j += warp_size) p[j] = T(0);
}

// Device memory for the duration of one call, allocated and freed in stream order.
template <class T>
class stream_scratch {
public:
    stream_scratch(index count, cudaStream_t stream) : stream_(stream) {
        void* memory = nullptr;
        LORAMOE_CUDA_CHECK(cudaMallocAsync(&memory, static_cast<std::size_t>(count) * sizeof(T), stream_));
        data_ = static_cast<T*>(memory);
    }
    ~stream_scratch() { cudaFreeAsync(data_, stream_); }
    stream_scratch(const stream_scratch&) = delete;
    stream_scratch& operator=(const stream_scratch&) = delete;

    T* data() const { return data_; }

private:
    T* data_ = nullptr;
    cudaStream_t stream_;
};

// c_b = alpha op(a_b) op(b_b) + beta c_b for the batch entries b < batch, where entry b of an operand
// is the view of entry 0 moved by b * its step (in elements). Row-major views mapped to cuBLAS's
// column-major as in cuda/gemm.hpp: b first, a second, m and n swapped.
template <class T>
void gemm_batched(index batch, T alpha, matrix_view<const T> a, index a_step, transpose op_a,
                  matrix_view<const T> b, index b_step, transpose op_b, T beta, matrix_view<T> c,
                  index c_step) {
    const bool ta = op_a == transpose::yes, tb = op_b == transpose::yes;
    const index m = ta ? a.cols : a.rows, k = ta ? a.rows : a.cols, n = tb ? b.rows : b.cols;
    LORAMOE_ASSERT(k == (tb ? b.cols : b.rows) && c.rows == m && c.cols == n);
    if (batch == 0 || c.empty()) return;
    auto ld = [](index stride) { return static_cast<int>(stride > 0 ? stride : 1); };
    const cublasOperation_t first = tb ? CUBLAS_OP_T : CUBLAS_OP_N, second = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasHandle_t handle = cuda_context::current().blas();
    if constexpr (std::is_same_v<T, float>)
        LORAMOE_CUBLAS_CHECK(cublasSgemmStridedBatched(
            handle, first, second, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha,
            b.data, ld(b.stride), b_step, a.data, ld(a.stride), a_step, &beta, c.data, ld(c.stride), c_step,
            static_cast<int>(batch)));
    else
        LORAMOE_CUBLAS_CHECK(cublasDgemmStridedBatched(
            handle, first, second, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &alpha,
            b.data, ld(b.stride), b_step, a.data, ld(a.stride), a_step, &beta, c.data, ld(c.stride), c_step,
            static_cast<int>(batch)));
}

inline void check_heads(const attention_shape& a, const char* what) {
    if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.head_dim <= 0)
        throw value_error(
            std::string(what) + ": " + std::to_string(a.heads) + " heads, " + std::to_string(a.kv_heads) +
            " kv heads of dimension " + std::to_string(a.head_dim) +
            ": the kv heads must be positive and divide the heads, the head dimension positive");
}

// The kernels here see every earlier key: a sliding window shorter than the keys is the CPU's alone.
inline void check_window(const attention_shape& a, index keys, const char* what) {
    if (a.window > 0 && a.window < keys)
        throw value_error(std::string(what) + ": a sliding window of " + std::to_string(a.window) +
                          " keys over " + std::to_string(keys) +
                          " positions is computed on the CPU only (--device cpu), or use sequences no "
                          "longer than the window");
}

}  // namespace
}  // namespace cuda_kernels

// probs (B, H, S, S) is saved for backward; out (B*S, H*Dh) is overwritten.
template <class T>
void attention_forward(cuda, const attention_shape& a, matrix_view<const T> q, matrix_view<const T> k,
                       matrix_view<const T> v, const T* mask, T* probs, matrix_view<T> out) {
    using cuda_kernels::gemm_batched;
    cuda_kernels::check_heads(a, "attention_forward");
    cuda_kernels::check_window(a, a.tokens, "attention_forward");
    const index B = a.samples, S = a.tokens, H = a.heads, Dh = a.head_dim, group = a.group();
    LORAMOE_ASSERT(q.rows == B * S && q.cols == H * Dh && k.rows == B * S && k.cols == a.kv_heads * Dh);
    LORAMOE_ASSERT(v.rows == B * S && v.cols == a.kv_heads * Dh && out.rows == B * S && out.cols == H * Dh);
    if (B == 0 || S == 0 || H == 0) return;
    const T scale = T(1) / std::sqrt(static_cast<T>(Dh));
    const index pair_step = H * S * S;  // probs from sample b to b + 1, same head
    // Sample 0's block of S rows; the batch steps to the next sample's S rows.
    auto first_sample = [S, Dh](auto view, index head) {
        return view.row_block(0, S).col_block(head * Dh, Dh);
    };
    for (index h = 0; h < H; ++h) {  // s = q_h k_g^T / sqrt(Dh)   (S, S) per sample
        const index g = h / group;
        gemm_batched(B, scale, first_sample(q, h), S * q.stride, transpose::no, first_sample(k, g),
                     S * k.stride, transpose::yes, T(0), matrix_view<T>(probs + h * S * S, S, S), pair_step);
    }
    const index rows = B * H * S;
    cuda_kernels::attention_masked_softmax<<<cuda_kernels::blocks_for_rows(rows), cuda_kernels::block_threads,
                                             0, cuda_kernels::stream()>>>(probs, mask, H, S, rows);
    LORAMOE_CUDA_LAUNCHED();
    for (index h = 0; h < H; ++h) {  // o_h = p v_g   (S, Dh) per sample
        const index g = h / group;
        gemm_batched(B, T(1), matrix_view<const T>(probs + h * S * S, S, S), pair_step, transpose::no,
                     first_sample(v, g), S * v.stride, transpose::no, T(0), first_sample(out, h),
                     S * out.stride);
    }
}

// Overwrites dq, dk and dv.
template <class T>
void attention_backward(cuda, const attention_shape& a, matrix_view<const T> q, matrix_view<const T> k,
                        matrix_view<const T> v, const T* mask, const T* probs, matrix_view<const T> dout,
                        matrix_view<T> dq, matrix_view<T> dk, matrix_view<T> dv) {
    using cuda_kernels::gemm_batched;
    cuda_kernels::check_heads(a, "attention_backward");
    cuda_kernels::check_window(a, a.tokens, "attention_backward");
    const index B = a.samples, S = a.tokens, H = a.heads, Dh = a.head_dim, group = a.group();
    LORAMOE_ASSERT(q.rows == B * S && dout.rows == B * S && dq.rows == B * S && dk.rows == B * S &&
                   dv.rows == B * S);
    if (B == 0 || S == 0 || H == 0) return;
    const T scale = T(1) / std::sqrt(static_cast<T>(Dh));
    const index pair_step = H * S * S;
    auto first_sample = [S, Dh](auto view, index head) {
        return view.row_block(0, S).col_block(head * Dh, Dh);
    };
    const cudaStream_t stream = cuda_kernels::stream();
    const cuda_kernels::stream_scratch<T> scratch(B * S * S, stream);  // dp, then ds, of one head: (B, S, S)
    const matrix_view<T> ds(scratch.data(), S, S);
    const index rows = B * S;
    for (index h = 0; h < H; ++h) {
        const index g = h / group;
        const T beta = h % group == 0 ? T(0) : T(1);  // the group's first head overwrites dk, dv
        const matrix_view<const T> p(probs + h * S * S, S, S);
        gemm_batched(B, T(1), p, pair_step, transpose::yes, first_sample(dout, h), S * dout.stride,
                     transpose::no, beta, first_sample(dv, g), S * dv.stride);  // dv += p^T do
        gemm_batched(B, T(1), first_sample(dout, h), S * dout.stride, transpose::no, first_sample(v, g),
                     S * v.stride, transpose::yes, T(0), ds, S * S);  // dp = do v^T
        cuda_kernels::attention_softmax_backward<<<cuda_kernels::blocks_for_rows(rows),
                                                   cuda_kernels::block_threads, 0, stream>>>(
            probs, mask, H, h, S, scale, ds.data, rows);
        LORAMOE_CUDA_LAUNCHED();
        gemm_batched(B, T(1), as_const(ds), S * S, transpose::no, first_sample(k, g), S * k.stride,
                     transpose::no, T(0), first_sample(dq, h), S * dq.stride);  // dq = ds k
        gemm_batched(B, T(1), as_const(ds), S * S, transpose::yes, first_sample(q, h), S * q.stride,
                     transpose::no, beta, first_sample(dk, g), S * dk.stride);  // dk += ds^T q
    }
}

// One sequence with a KV cache: n new queries (n, H*Dh) at positions past .. past+n-1 against the first
// past + n rows of k, v (>= past + n, Hkv*Dh); out (n, H*Dh) is overwritten.
template <class T>
void attention_cached(cuda, const attention_shape& a, index past, matrix_view<const T> q,
                      matrix_view<const T> k, matrix_view<const T> v, matrix_view<T> out) {
    cuda_kernels::check_heads(a, "attention_cached");
    const index n = q.rows, length = past + n, H = a.heads, Dh = a.head_dim, group = a.group();
    if (past < 0 || k.rows < length || v.rows < length)
        throw value_error("attention_cached: " + std::to_string(n) + " new queries after " +
                          std::to_string(past) + " cached positions need " + std::to_string(length) +
                          " cached keys and values, found " + std::to_string(k.rows) + " and " +
                          std::to_string(v.rows));
    cuda_kernels::check_window(a, length, "attention_cached");
    LORAMOE_ASSERT(q.cols == H * Dh && out.rows == n && out.cols == H * Dh);
    if (n == 0 || H == 0) return;
    const T scale = T(1) / std::sqrt(static_cast<T>(Dh));
    const cudaStream_t stream = cuda_kernels::stream();
    const cuda_kernels::stream_scratch<T> scratch(H * n * length, stream);  // p (H, n, length)
    auto p = [&](index h) { return matrix_view<T>(scratch.data() + h * n * length, n, length); };
    for (index h = 0; h < H; ++h) {  // s = q_h k_g^T / sqrt(Dh)   (n, length)
        const index g = h / group;
        gemm(cuda{}, scale, q.col_block(h * Dh, Dh), transpose::no,
             k.row_block(0, length).col_block(g * Dh, Dh), transpose::yes, T(0), p(h));
    }
    const index rows = H * n;
    cuda_kernels::attention_cached_softmax<<<cuda_kernels::blocks_for_rows(rows), cuda_kernels::block_threads,
                                             0, stream>>>(scratch.data(), n, past, length, rows);
    LORAMOE_CUDA_LAUNCHED();
    for (index h = 0; h < H; ++h) {  // o_h = p v_g   (n, Dh)
        const index g = h / group;
        gemm(cuda{}, T(1), as_const(p(h)), transpose::no, v.row_block(0, length).col_block(g * Dh, Dh),
             transpose::no, T(0), out.col_block(h * Dh, Dh));
    }
}

#define LORAMOE_INSTANTIATE(T)                                                                          \
    template void attention_forward<T>(cuda, const attention_shape&, matrix_view<const T>,              \
                                       matrix_view<const T>, matrix_view<const T>, const T*, T*,        \
                                       matrix_view<T>);                                                 \
    template void attention_backward<T>(                                                                \
        cuda, const attention_shape&, matrix_view<const T>, matrix_view<const T>, matrix_view<const T>, \
        const T*, const T*, matrix_view<const T>, matrix_view<T>, matrix_view<T>, matrix_view<T>);      \
    template void attention_cached<T>(cuda, const attention_shape&, index, matrix_view<const T>,        \
                                      matrix_view<const T>, matrix_view<const T>, matrix_view<T>);
LORAMOE_CUDA_FOR_FLOATS(LORAMOE_INSTANTIATE)
#undef LORAMOE_INSTANTIATE

}  // namespace loramoe
