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

#include <loramoe/core/host_memory.hpp>
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
        fail<format_error>("{}: tensor 'x' is {}; a case computes in F32 or F64", in.path().string(),
                           io::name(type));
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
        fail<shape_error>("{}: tensor '{}' has shape {}, expected {} dimensions", in.path().string(), name,
                          shape, rank);
    return shape[axis];
}

// The tensors of a case, on the host.
template <class T>
struct layer_case_tensors {
    index samples = 0, tokens = 0, d_in = 0, d_out = 0, experts = 0, rank = 0;  // B, S, d_in, d_out, N, r
    tensor<T, cpu> x;                                                           // (B, S, d_in)
    tensor<T, cpu> w0;                                                          // (d_out, d_in)
    tensor<T, cpu> b0;                                                          // (d_out), or empty
    tensor<T, cpu> lora_a;                                                      // (N, r, d_in)
    tensor<T, cpu> lora_b;                                                      // (N, d_out, r)
    tensor<T, cpu> router;                                                      // (N, d_in)
    tensor<T, cpu> grad_y;                                                      // (B, S, d_out)
    tensor<T, cpu> mask;                     // (B, S): 1 real token, 0 padding
    tensor<std::int64_t, cpu> task_types;    // (B)
    tensor<std::int64_t, cpu> expert_types;  // (N)

    index rows() const { return samples * tokens; }
};

template <class T>
layer_case_tensors<T> read_layer_case_tensors(const io::safetensors_reader& in,
                                              const layer_case_settings& settings) {
    const std::string file = in.path().string();
    layer_case_tensors<T> c;
    c.samples = dim_of(in, "x", 3, 0), c.tokens = dim_of(in, "x", 3, 1), c.d_in = dim_of(in, "x", 3, 2);
    c.d_out = dim_of(in, "w0", 2, 0), c.experts = dim_of(in, "lora_A", 3, 0),
    c.rank = dim_of(in, "lora_A", 3, 1);
    if (c.samples == 0 || c.tokens == 0)
        fail<shape_error>("{}: x has shape {}: no tokens", file, in.entry("x").shape);
    if (c.rank != settings.rank)
        fail<shape_error>("{}: metadata r = {} but lora_A has rank {}", file, settings.rank, c.rank);
    // Each tensor is as large as the file, but the layer's outputs and saved state multiply sizes of
    // several: B * S rows of N * r expert activations, of d_out outputs, of d_in input gradients.
    auto n = [](index v) { return static_cast<long double>(v); };
    require_host_memory(
        n(c.samples) * n(c.tokens) *
            (3 * n(c.d_in) + 3 * n(c.d_out) + 4 * n(c.experts) * n(c.rank) + 4 * n(c.experts)) * sizeof(T),
        file + ": the layer's activations need",
        fmt::format("check the shapes of x [{}, {}, {}], w0 (d_out {}) and lora_A (N {}, r {})", c.samples,
                    c.tokens, c.d_in, c.d_out, c.experts, c.rank));

    c.x = in.read<T>("x", {c.samples, c.tokens, c.d_in});
    c.w0 = in.read<T>("w0", {c.d_out, c.d_in});
    c.lora_a = in.read<T>("lora_A", {c.experts, c.rank, c.d_in});
    c.lora_b = in.read<T>("lora_B", {c.experts, c.d_out, c.rank});
    c.router = in.read<T>("router", {c.experts, c.d_in});
    c.grad_y = in.read<T>("grad_y", {c.samples, c.tokens, c.d_out});
    c.task_types = in.read<std::int64_t>("task_type", {c.samples});
    c.expert_types = in.read<std::int64_t>("expert_type", {c.experts});
    if (in.contains("b0")) c.b0 = in.read<T>("b0", {c.d_out});

    const auto mask_ids = in.read<std::int64_t>("mask", {c.samples, c.tokens});
    c.mask = tensor<T, cpu>({c.samples, c.tokens});
    for (index i = 0; i < c.rows(); ++i) {
        if (mask_ids[i] != 0 && mask_ids[i] != 1)
            fail<value_error>("{}: mask holds {} at element {}; a mask is 0 (padding) or 1 (real token)",
                              file, mask_ids[i], i);
        c.mask[i] = static_cast<T>(mask_ids[i]);
    }
    return c;
}

// The case's lora_A, lora_B and router into the layer's parameters (in the backend's memory).
template <class T, class Layer>
void upload_layer_case_parameters(const layer_case_tensors<T>& c, Layer& layer) {
    using Backend = typename Layer::backend_type;
    for (index i = 0; i < c.experts; ++i) {
        upload(Backend{}, c.lora_a.as_matrix(c.experts * c.rank, c.d_in).row_block(i * c.rank, c.rank),
               moe::expert_a(layer.a(), i, c.rank));
        upload(Backend{}, matrix_view<const T>(c.lora_b.data() + i * c.d_out * c.rank, c.d_out, c.rank),
               moe::expert_b(layer.b(), i, c.rank));
    }
    upload(Backend{}, c.router.matrix(), layer.router());
}

// y, gates, lbc and the gradients, back on the host, into OUT.safetensors.
template <class T, class Layer>
void write_layer_case_results(const layer_case_tensors<T>& c, const Layer& layer,
                              const typename Layer::saved& saved,
                              const tensor<T, typename Layer::backend_type>& y,
                              const tensor<T, typename Layer::backend_type>& grad_x,
                              const std::filesystem::path& out_path) {
    using Backend = typename Layer::backend_type;
    tensor<T, cpu> grad_a({c.experts, c.rank, c.d_in}), grad_b({c.experts, c.d_out, c.rank}),
        grad_router({c.experts, c.d_in});
    download(Backend{}, as_const(layer.a_grad()), grad_a.as_matrix(c.experts * c.rank, c.d_in));
    for (index i = 0; i < c.experts; ++i)
        download(Backend{}, as_const(moe::expert_b(layer.b_grad(), i, c.rank)),
                 matrix_view<T>(grad_b.data() + i * c.d_out * c.rank, c.d_out, c.rank));
    download(Backend{}, as_const(layer.router_grad()), grad_router.matrix());
    tensor<T, cpu> lbc_value(shape_type{});
    lbc_value[0] = saved.balance_loss;
    tensor<T, cpu> gates({c.samples, c.tokens, c.experts});
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

// The case on Backend: the inputs and parameters are copied into the backend's memory, the results
// back to the host to be written (on the CPU both are plain copies).
template <class T, class Backend>
void run_layer_case_as(const io::safetensors_reader& in, const layer_case_settings& settings,
                       const std::filesystem::path& out_path, moe::execution_path path) {
    const auto c = read_layer_case_tensors<T>(in, settings);
    const index m = c.rows();
    moe::loramoe_config config{.in_features = c.d_in,
                               .out_features = c.d_out,
                               .experts = c.experts,
                               .rank = c.rank,
                               .alpha = settings.alpha,
                               .path = path};
    moe::balance::lbc lbc{
        settings.delta, settings.statistic,
        std::vector<std::int64_t>(c.expert_types.span().begin(), c.expert_types.span().end())};
    moe::loramoe_linear<T, Backend, dynamic, dynamic, moe::balance::dynamic> layer(config, lbc);
    parameter_buffer<T, Backend> parameters(layer.parameter_count());
    layer.bind(parameters.all());
    upload_layer_case_parameters(c, layer);
    // The inputs in the backend's memory (on the CPU, copies of the host tensors).
    const auto x = to_backend<Backend>(c.x), w0 = to_backend<Backend>(c.w0), b0 = to_backend<Backend>(c.b0),
               grad_y = to_backend<Backend>(c.grad_y), mask = to_backend<Backend>(c.mask);
    layer.set_base({w0.matrix(), c.b0.empty() ? nullptr : b0.data()});

    const moe::routing_batch<T> batch{c.samples, c.tokens, mask.data(), c.task_types.span()};
    typename decltype(layer)::saved saved;
    typename decltype(layer)::workspace workspace;
    tensor<T, Backend> y({c.samples, c.tokens, c.d_out}), grad_x({c.samples, c.tokens, c.d_in});
    layer.forward(x.as_matrix(m, c.d_in), batch, y.as_matrix(m, c.d_out), saved, workspace);
    layer.backward(x.as_matrix(m, c.d_in), grad_y.as_matrix(m, c.d_out), batch,
                   static_cast<T>(settings.weight), saved, workspace, grad_x.as_matrix(m, c.d_in));
    write_layer_case_results(c, layer, saved, y, grad_x, out_path);
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
