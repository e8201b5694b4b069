#pragma once
// The `loramoe layer` cross-check contract: one LoRAMoE linear, forward and backward, on a case file,
// so that anyone can check their own implementation against this one.
//
// CASE.safetensors holds x [B,S,d_in], w0 [d_out,d_in], optional b0 [d_out], lora_A [N,r,d_in],
// lora_B [N,d_out,r], router [N,d_in], grad_y [B,S,d_out] (all F32 or all F64), mask [B,S],
// task_type [B], expert_type [N] (integers), and metadata alpha, r, blc_alpha (delta), blc_weight
// (beta), blc_statistic (cv2 | var_over_mean). The objective is
//   L = sum(y * grad_y) + blc_weight * lbc(gates)
// and OUT.safetensors receives y, gates, lbc (scalar, unweighted), grad_x, grad_lora_A, grad_lora_B and
// grad_router, in the case's precision.

#include <filesystem>
#include <string>

#include <loramoe/core/parameters.hpp>
#include <loramoe/io/metadata.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/moe/loramoe_linear.hpp>

namespace loramoe::check {

namespace detail {

struct layer_case_settings {
    double alpha = 0;
    index rank = 0;
    double delta = 0;
    double weight = 0;
    moe::lbc_statistic statistic = moe::lbc_statistic::cv2;
};

inline layer_case_settings read_layer_case_settings(const io::safetensors_reader& in) {
    const std::string file = in.path().string();
    layer_case_settings s;
    s.alpha = io::parse_number(in.metadata("alpha"), file + ": metadata alpha");
    s.rank = static_cast<index>(io::parse_integer(in.metadata("r"), file + ": metadata r"));
    s.delta = io::parse_number(in.metadata("blc_alpha"), file + ": metadata blc_alpha");
    s.weight = io::parse_number(in.metadata("blc_weight"), file + ": metadata blc_weight");
    s.statistic = moe::parse_lbc_statistic(in.metadata("blc_statistic"));
    if (s.rank <= 0) fail<value_error>("{}: metadata r = {}: the LoRA rank must be positive", file, s.rank);
    return s;
}

// The case's floating tensors share one dtype, F32 or F64.
inline io::dtype layer_case_precision(const io::safetensors_reader& in) {
    const io::dtype type = in.entry("x").type;
    if (type != io::dtype::f32 && type != io::dtype::f64)
        fail<format_error>("{}: tensor 'x' is {}; a case computes in F32 or F64", in.path().string(), io::name(type));
    for (const char* name : {"w0", "b0", "lora_A", "lora_B", "router", "grad_y"}) {
        if (std::string(name) == "b0" && !in.contains(name)) continue;
        if (in.entry(name).type != type)
            fail<format_error>("{}: tensor '{}' is {} but 'x' is {}: a case is all F32 or all F64",
                               in.path().string(), name, io::name(in.entry(name).type), io::name(type));
    }
    return type;
}

inline index dim_of(const io::safetensors_reader& in, const char* name, std::size_t rank, std::size_t axis) {
    const auto& shape = in.entry(name).shape;
    if (shape.size() != rank)
        fail<shape_error>("{}: tensor '{}' has shape {}, expected {} dimensions", in.path().string(), name, shape, rank);
    return shape[axis];
}

// The case on Backend: the inputs and parameters are copied into the backend's memory, the results
// back to the host to be written (on the CPU both are plain copies).
template <class T, class Backend>
void run_layer_case_as(const io::safetensors_reader& in, const layer_case_settings& settings,
                       const std::filesystem::path& out_path, moe::execution_path path) {
    const std::string file = in.path().string();
    const index samples = dim_of(in, "x", 3, 0), tokens = dim_of(in, "x", 3, 1), d_in = dim_of(in, "x", 3, 2);
    const index d_out = dim_of(in, "w0", 2, 0), experts = dim_of(in, "lora_A", 3, 0), rank = dim_of(in, "lora_A", 3, 1);
    if (samples == 0 || tokens == 0) fail<shape_error>("{}: x has shape {}: no tokens", file, in.entry("x").shape);
    if (rank != settings.rank)
        fail<shape_error>("{}: metadata r = {} but lora_A has rank {}", file, settings.rank, rank);
    const index m = samples * tokens;

    const auto x = in.read<T>("x", {samples, tokens, d_in});
    const auto w0 = in.read<T>("w0", {d_out, d_in});
    const auto lora_a = in.read<T>("lora_A", {experts, rank, d_in});
    const auto lora_b = in.read<T>("lora_B", {experts, d_out, rank});
    const auto router = in.read<T>("router", {experts, d_in});
    const auto grad_y = in.read<T>("grad_y", {samples, tokens, d_out});
    const auto mask_ids = in.read<std::int64_t>("mask", {samples, tokens});
    const auto task_types = in.read<std::int64_t>("task_type", {samples});
    const auto expert_types = in.read<std::int64_t>("expert_type", {experts});
    tensor<T, cpu> b0;
    if (in.contains("b0")) b0 = in.read<T>("b0", {d_out});

    tensor<T, cpu> mask({samples, tokens});
    for (index i = 0; i < m; ++i) {
        if (mask_ids[i] != 0 && mask_ids[i] != 1)
            fail<value_error>("{}: mask holds {} at element {}; a mask is 0 (padding) or 1 (real token)", file,
                              mask_ids[i], i);
        mask[i] = static_cast<T>(mask_ids[i]);
    }

    moe::loramoe_config config{.in_features = d_in, .out_features = d_out, .experts = experts, .rank = rank,
                               .alpha = settings.alpha, .path = path};
    moe::balance::lbc lbc{settings.delta, settings.statistic,
                          std::vector<std::int64_t>(expert_types.span().begin(), expert_types.span().end())};
    moe::loramoe_linear<T, Backend, dynamic, dynamic, moe::balance::dynamic> layer(config, lbc);
    parameter_buffer<T, Backend> parameters(layer.parameter_count());
    layer.bind(parameters.all());
    // The inputs in the backend's memory (on the CPU, copies of the host tensors).
    const auto device_x = to_backend<Backend>(x), device_w0 = to_backend<Backend>(w0),
               device_b0 = to_backend<Backend>(b0), device_grad_y = to_backend<Backend>(grad_y),
               device_mask = to_backend<Backend>(mask);
    layer.set_base({device_w0.matrix(), b0.empty() ? nullptr : device_b0.data()});
    for (index i = 0; i < experts; ++i) {
        upload(Backend{}, lora_a.as_matrix(experts * rank, d_in).row_block(i * rank, rank),
               moe::expert_a(layer.a(), i, rank));
        upload(Backend{}, matrix_view<const T>(lora_b.data() + i * d_out * rank, d_out, rank),
               moe::expert_b(layer.b(), i, rank));
    }
    upload(Backend{}, router.matrix(), layer.router());

    const moe::routing_batch<T> batch{samples, tokens, device_mask.data(), task_types.span()};
    typename decltype(layer)::saved saved;
    tensor<T, Backend> y({samples, tokens, d_out}), grad_x({samples, tokens, d_in});
    layer.forward(device_x.as_matrix(m, d_in), batch, y.as_matrix(m, d_out), saved);
    layer.backward(device_x.as_matrix(m, d_in), device_grad_y.as_matrix(m, d_out), batch,
                   static_cast<T>(settings.weight), saved, grad_x.as_matrix(m, d_in));

    tensor<T, cpu> grad_a({experts, rank, d_in}), grad_b({experts, d_out, rank}), grad_router({experts, d_in});
    download(Backend{}, as_const(layer.a_grad()), grad_a.as_matrix(experts * rank, d_in));
    for (index i = 0; i < experts; ++i)
        download(Backend{}, as_const(moe::expert_b(layer.b_grad(), i, rank)),
                 matrix_view<T>(grad_b.data() + i * d_out * rank, d_out, rank));
    download(Backend{}, as_const(layer.router_grad()), grad_router.matrix());
    tensor<T, cpu> lbc_value(shape_type{});
    lbc_value[0] = saved.balance_loss;
    tensor<T, cpu> gates({samples, tokens, experts});
    copy_to_host(Backend{}, saved.gates.data(), gates.data(), gates.size());

    io::safetensors_writer out;
    out.add("y", to_host(y));
    out.add("gates", gates);
    out.add("lbc", lbc_value);
    out.add("grad_x", to_host(grad_x));
    out.add("grad_lora_A", grad_a);
    out.add("grad_lora_B", grad_b);
    out.add("grad_router", grad_router);
    out.write(out_path);
}

}  // namespace detail

// Reads the case, runs it in its own precision on Backend (the CUDA backend needs <loramoe/cuda.hpp>),
// writes the results atomically (nothing is written when anything fails).
template <backend Backend = cpu>
void run_layer_case(const std::filesystem::path& case_path, const std::filesystem::path& out_path,
                    moe::execution_path path = moe::execution_path::fused) {
    const io::safetensors_reader in(case_path);
    const auto settings = detail::read_layer_case_settings(in);
    if (detail::layer_case_precision(in) == io::dtype::f64)
        detail::run_layer_case_as<double, Backend>(in, settings, out_path, path);
    else
        detail::run_layer_case_as<float, Backend>(in, settings, out_path, path);
}

}  // namespace loramoe::check
