#pragma once
// The rotation frequencies of RoPE, with the rescalings that stretch a model to longer contexts
// (config.json's rope_scaling), as transformers' modeling_rope_utils defines them, but in double:
//
//   default:  w_i = theta^(-2i/Dh),  i = 0 .. Dh/2 - 1
//   linear:   w_i / factor                  (positions squeezed by `factor`)
//   llama3:   by the wavelength l_i = 2 pi / w_i, against L = original_max_position_embeddings:
//               l_i < L / high_freq_factor   w_i            (fast rotations kept)
//               l_i > L / low_freq_factor    w_i / factor   (slow rotations stretched)
//               otherwise                    (1 - s) w_i / factor + s w_i,
//                                            s = (L / l_i - low_freq_factor) / (high - low_freq_factor)
// Neither scales the cos and sin themselves (transformers' attention_factor is 1 for both).

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include <loramoe/core/backend.hpp>
#include <loramoe/core/error.hpp>

namespace loramoe::nn {

struct rope_scaling {
    enum class kind { none, linear, llama3 };
    kind type = kind::none;
    double factor = 1.0;
    double low_freq_factor = 1.0;                   // llama3
    double high_freq_factor = 4.0;                  // llama3
    index original_max_position_embeddings = 8192;  // llama3

    // Throws value_error naming `source` and the bad field.
    void validate(const std::string& source = "rope_scaling") const {
        if (type == kind::none) return;
        if (!(factor > 0))
            fail<value_error>("{}: rope_scaling.factor must be positive, got {}", source, factor);
        if (type != kind::llama3) return;
        if (!(low_freq_factor > 0) || !(high_freq_factor > low_freq_factor))
            fail<value_error>(
                "{}: rope_scaling needs 0 < low_freq_factor < high_freq_factor, got low_freq_factor = {}, "
                "high_freq_factor = {}",
                source, low_freq_factor, high_freq_factor);
        if (original_max_position_embeddings <= 0)
            fail<value_error>("{}: rope_scaling.original_max_position_embeddings must be positive, got {}",
                              source, original_max_position_embeddings);
    }
};

// w_0 .. w_{Dh/2 - 1} (see the top).
inline std::vector<double> rope_frequencies(index head_dim, double theta, const rope_scaling& scaling = {}) {
    std::vector<double> w(static_cast<std::size_t>(head_dim / 2));
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = 1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(head_dim));
    using kind = rope_scaling::kind;
    if (scaling.type == kind::linear)
        for (double& f : w) f /= scaling.factor;
    if (scaling.type == kind::llama3) {
        const double context = static_cast<double>(scaling.original_max_position_embeddings);
        const double longest_kept = context / scaling.high_freq_factor;       // wavelengths below are kept
        const double shortest_stretched = context / scaling.low_freq_factor;  // and above, stretched
        for (double& f : w) {
            const double wavelength = 2 * std::numbers::pi / f;
            if (wavelength > shortest_stretched) {
                f /= scaling.factor;
            } else if (wavelength >= longest_kept) {
                const double s = (context / wavelength - scaling.low_freq_factor) /
                                 (scaling.high_freq_factor - scaling.low_freq_factor);
                f = (1 - s) * f / scaling.factor + s * f;
            }
        }
    }
    return w;
}

}  // namespace loramoe::nn
