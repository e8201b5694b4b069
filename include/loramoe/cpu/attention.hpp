#pragma once
// Causal self-attention with grouped-query heads and a key padding mask, on the host, forward and
// backward. One (sample, head) pair at a time, in parallel over pairs.
//
// q (B*S, H*Dh) and k, v (B*S, Hkv*Dh), rotary already applied; query head h reads kv head
// h / (H/Hkv), as HF's repeat_interleave; mask (B*S): 1 real token, 0 padding, or null.
//   forward:   s_ij = q_i . k_j / sqrt(Dh) over the keys j <= i that are real tokens (and, with a
//              sliding window W, j > i - W, as transformers' Mistral masks them)
//              p_i = softmax(s_i) over those keys,  o_i = sum_j p_ij v_j
//              A query that may see no key (left padding; a window of padding) attends uniformly to
//              all S keys, as the masked_fill with the dtype's minimum of HF's LLaMA does; no gradient
//              reaches its scores.
//   backward:  dp_ij = do_i . v_j,   ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij') / sqrt(Dh)
//              dq_i = sum_j ds_ij k_j,   dk_j = sum_i ds_ij q_i,   dv_j = sum_i p_ij do_i
//              (dk, dv summed over the query heads that share a kv head)

#include <cmath>
#include <vector>

#include <loramoe/core/attention_shape.hpp>
#include <loramoe/core/gemm.hpp>
#include <loramoe/core/view.hpp>
#include <loramoe/cpu/gemm.hpp>
#include <loramoe/cpu/parallel.hpp>
#include <loramoe/cpu/softmax.hpp>

namespace loramoe {

namespace detail {
// The keys query i of a sample sees: [first, i] less the padding, or none (first > i).
template <class T>
index first_visible_key(const attention_shape& a, const T* sample_mask, index i) {
    index first = a.first_key(i);
    if (sample_mask != nullptr)
        while (first <= i && sample_mask[first] == T(0)) ++first;
    return first;
}

// p (S, S) = the probabilities of one (sample, head) pair: the scaled scores softmaxed over the keys
// each query sees, 0 elsewhere (1/S everywhere for a query that sees none). Forward and a backward
// that did not keep them run this same code: the same values, bit for bit.
template <class T>
void attention_probabilities(const attention_shape& a, matrix_view<const T> qh, matrix_view<const T> kh,
                             const T* sample_mask, T scale, matrix_view<T> p) {
    const index S = p.rows;
    gemm(cpu{}, scale, qh, transpose::no, kh, transpose::yes, T(0), p);
    for (index i = 0; i < S; ++i) {
        T* row = p.row(i);
        const index first = first_visible_key(a, sample_mask, i);
        if (first > i) {  // no visible key
            for (index j = 0; j < S; ++j) row[j] = T(1) / static_cast<T>(S);
            continue;
        }
        // Masked keys get -inf, i.e. probability 0; keys after i are not computed at all.
        for (index j = first; j <= i; ++j)
            if (sample_mask && sample_mask[j] == T(0)) row[j] = -INFINITY;
        softmax_row(row + first, row + first, i - first + 1);
        for (index j = 0; j < first; ++j) row[j] = 0;
        for (index j = i + 1; j < S; ++j) row[j] = 0;
    }
}

}  // namespace detail

// probs (B, H, S, S) is saved for backward, or null: nothing is kept (S*S per pair at a time instead of
// B*H*S*S), and backward computes the probabilities again. out (B*S, H*Dh) is overwritten.
template <class T>
void attention_forward(cpu, const attention_shape& a, matrix_view<const T> q, matrix_view<const T> k,
                       matrix_view<const T> v, const T* mask, T* probs, matrix_view<T> out) {
    const index S = a.tokens, Dh = a.head_dim;
    const T scale = T(1) / std::sqrt(static_cast<T>(Dh));
    parallel_for(cpu{}, a.samples * a.heads, S * S * Dh, [&](index pair) {
        const index b = pair / a.heads, h = pair % a.heads, g = h / a.group();
        std::vector<T> local(probs ? 0 : static_cast<std::size_t>(S * S));
        const matrix_view<T> p(probs ? probs + pair * S * S : local.data(), S, S);
        detail::attention_probabilities(a, q.row_block(b * S, S).col_block(h * Dh, Dh),
                                        k.row_block(b * S, S).col_block(g * Dh, Dh),
                                        mask ? mask + b * S : nullptr, scale, p);
        gemm(cpu{}, T(1), as_const(p), transpose::no, v.row_block(b * S, S).col_block(g * Dh, Dh),
             transpose::no, T(0), out.row_block(b * S, S).col_block(h * Dh, Dh));
    });
}

// probs as forward kept them, or null: computed again here, one head at a time. Overwrites dq, dk and dv.
template <class T>
void attention_backward(cpu, const attention_shape& a, matrix_view<const T> q, matrix_view<const T> k,
                        matrix_view<const T> v, const T* mask, const T* probs, matrix_view<const T> dout,
                        matrix_view<T> dq, matrix_view<T> dk, matrix_view<T> dv) {
    const index S = a.tokens, Dh = a.head_dim;
    const T scale = T(1) / std::sqrt(static_cast<T>(Dh));
    // In parallel over (sample, kv head): the query heads of a group add into the same dk, dv.
    parallel_for(cpu{}, a.samples * a.kv_heads, a.group() * S * S * Dh, [&](index pair) {
        const index b = pair / a.kv_heads, g = pair % a.kv_heads;
        const T* sample_mask = mask ? mask + b * S : nullptr;
        const matrix_view<const T> kh = k.row_block(b * S, S).col_block(g * Dh, Dh);
        const matrix_view<const T> vh = v.row_block(b * S, S).col_block(g * Dh, Dh);
        const matrix_view<T> dkh = dk.row_block(b * S, S).col_block(g * Dh, Dh);
        const matrix_view<T> dvh = dv.row_block(b * S, S).col_block(g * Dh, Dh);
        std::vector<T> ds_memory(static_cast<std::size_t>(S * S)),
            local(probs ? 0 : static_cast<std::size_t>(S * S));
        const matrix_view<T> ds(ds_memory.data(), S, S);
        for (index r = 0; r < a.group(); ++r) {
            const index h = g * a.group() + r;
            const matrix_view<const T> qh = q.row_block(b * S, S).col_block(h * Dh, Dh);
            const matrix_view<const T> doh = dout.row_block(b * S, S).col_block(h * Dh, Dh);
            if (!probs)
                detail::attention_probabilities(a, qh, kh, sample_mask, scale,
                                                matrix_view<T>(local.data(), S, S));
            const matrix_view<const T> p(probs ? probs + (b * a.heads + h) * S * S : local.data(), S, S);
            const T beta = r == 0 ? T(0) : T(1);  // the group's first head overwrites dk, dv
            gemm(cpu{}, T(1), p, transpose::yes, doh, transpose::no, beta, dvh);  // dv = p^T do
            gemm(cpu{}, T(1), doh, transpose::no, vh, transpose::yes, T(0), ds);  // dp = do v^T
            for (index i = 0; i < S; ++i) {
                T* row = ds.row(i);
                if (detail::first_visible_key(a, sample_mask, i) > i) {
                    for (index j = 0; j < S; ++j) row[j] = 0;
                    continue;
                }
                softmax_row_backward(p.row(i), row, row, S);
                for (index j = 0; j < S; ++j) row[j] *= scale;
            }
            gemm(cpu{}, T(1), as_const(ds), transpose::no, kh, transpose::no, T(0),
                 dq.row_block(b * S, S).col_block(h * Dh, Dh));                             // dq = ds k
            gemm(cpu{}, T(1), as_const(ds), transpose::yes, qh, transpose::no, beta, dkh);  // dk = ds^T q
        }
    });
}

// Inference with a KV cache, one sequence: n new queries (n, H*Dh) at positions past .. past+n-1
// attend to the cached keys and values (past + n, Hkv*Dh) up to their own position (and within the
// window). No padding, nothing saved: generation only.
template <class T>
void attention_cached(cpu, const attention_shape& a, index past, matrix_view<const T> q,
                      matrix_view<const T> k, matrix_view<const T> v, matrix_view<T> out) {
    const index n = q.rows, length = past + n, Dh = a.head_dim;
    LORAMOE_ASSERT(k.rows >= length && v.rows >= length);
    const T scale = T(1) / std::sqrt(static_cast<T>(Dh));
    parallel_for(cpu{}, a.heads, n * length * Dh, [&](index h) {
        const index g = h / a.group();
        std::vector<T> memory(static_cast<std::size_t>(n * length));
        const matrix_view<T> p(memory.data(), n, length);
        const matrix_view<const T> kh = k.row_block(0, length).col_block(g * Dh, Dh);
        gemm(cpu{}, scale, q.col_block(h * Dh, Dh), transpose::no, kh, transpose::yes, T(0), p);
        for (index i = 0; i < n; ++i) {
            const index first = a.first_key(past + i), end = past + i + 1;
            softmax_row(p.row(i) + first, p.row(i) + first, end - first);
            for (index j = 0; j < first; ++j) p(i, j) = 0;
            for (index j = end; j < length; ++j) p(i, j) = 0;
        }
        gemm(cpu{}, T(1), as_const(p), transpose::no, v.row_block(0, length).col_block(g * Dh, Dh),
             transpose::no, T(0), out.col_block(h * Dh, Dh));
    });
}

}  // namespace loramoe
