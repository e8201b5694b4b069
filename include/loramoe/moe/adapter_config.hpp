#pragma once
// The LoRAMoE adapter of a whole model, as the official code's adapter_config.json names it:
// r, lora_alpha, lora_nums, blc_alpha, blc_weight, target_modules, lora_dropout. Extensions, written
// only when they differ from the official behaviour: expert_types, blc_statistic, top_k, placement
// ("linears" or "ffn"), lbc_counts_padding. Without lora_nums the adapter is a plain LoRA per target
// (PEFT's lora_A / lora_B names, no router). io/adapter_config_json.hpp reads and writes the file.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <loramoe/core/error.hpp>
#include <loramoe/core/unicode_regex.hpp>
#include <loramoe/moe/balance/balance.hpp>
#include <loramoe/moe/loramoe_linear.hpp>

namespace loramoe::moe {

enum class adapter_placement {
    linears,  // beside each targeted linear (the official code)
    ffn       // one set of experts (D -> D) beside each whole FFN block (the paper's figure)
};

struct adapter_config {
    bool router = true;       // false: plain LoRA (no lora_nums)
    index experts = 6;        // lora_nums (N)
    index rank = 4;           // r
    double alpha = 32;        // lora_alpha; scaling alpha / r
    double dropout = 0;       // lora_dropout
    double lbc_delta = 0.1;   // blc_alpha in files: the LBC's delta
    double lbc_weight = 0.1;  // blc_weight in files: beta, the LBC's weight in the loss; 0 disables it
    lbc_statistic statistic = lbc_statistic::cv2;
    std::vector<std::int64_t> expert_types;  // empty: official_expert_types(N)
    std::vector<std::string> target_modules = {"gate_proj", "up_proj", "down_proj"};
    std::string target_regex;  // when set (a string target_modules), a full match on the module name
    index top_k = 0;           // 0: dense routing
    adapter_placement placement = adapter_placement::linears;
    bool lbc_counts_padding = false;  // true: the official code's unmasked sum

    // Whether the adapter adapts `module` (the rule of module_targets below).
    bool targets(const std::string& module) const;

    loramoe_config layer_config(index in_features, index out_features, std::uint64_t seed) const {
        return {.in_features = in_features,
                .out_features = out_features,
                .experts = router ? experts : 1,
                .rank = rank,
                .alpha = alpha,
                .router = router,
                .top_k = top_k,
                .dropout = dropout,
                .seed = seed};
    }

    // The LBC when it counts (a router and a non-zero weight), no balancing loss otherwise.
    balance::dynamic balance() const {
        if (!router || lbc_weight == 0) return balance::none{};
        return balance::lbc{lbc_delta, statistic, expert_types};
    }

    void validate(const std::string& source = "adapter_config.json") const {
        if (rank <= 0) fail<value_error>("{}: r must be positive, got {}", source, rank);
        if (router && experts <= 0)
            fail<value_error>("{}: lora_nums must be positive, got {}", source, experts);
        if (!(dropout >= 0 && dropout < 1))
            fail<value_error>("{}: lora_dropout {} is outside [0, 1)", source, dropout);
        if (!expert_types.empty() && static_cast<index>(expert_types.size()) != experts)
            fail<value_error>("{}: {} expert_types for lora_nums = {}", source, expert_types.size(), experts);
        if (top_k < 0 || top_k > experts)
            fail<value_error>("{}: top_k {} is outside [0, {}]", source, top_k, experts);
        if (target_modules.empty() && target_regex.empty() && placement == adapter_placement::linears)
            fail<value_error>("{}: target_modules is empty", source);
        if (placement == adapter_placement::ffn && !router)
            fail<value_error>("{}: the ffn placement needs lora_nums (a router)", source);
        if (!target_regex.empty()) check_target_pattern(source);
    }

private:
    void check_target_pattern(const std::string& source) const;
};

// The official rule (PEFT's): a list matches module names that end with one of its entries; a string
// is a regular expression in Python's syntax that must match the whole name (re.fullmatch), with
// bounded work (core/unicode_regex.hpp). Compiled once, for many names.
class module_targets {
public:
    explicit module_targets(const adapter_config& c, const std::string& source = "adapter_config.json")
        : suffixes_(c.target_modules) {
        if (!c.target_regex.empty())
            pattern_.emplace(c.target_regex, source + ": target_modules", regex_syntax::python);
    }

    bool operator()(std::string_view module) const {
        if (pattern_) return pattern_->full_match(module);
        return std::any_of(suffixes_.begin(), suffixes_.end(),
                           [&](const std::string& t) { return module.ends_with(t); });
    }

private:
    std::vector<std::string> suffixes_;
    std::optional<unicode_regex> pattern_;
};

inline bool adapter_config::targets(const std::string& module) const {
    return module_targets(*this)(module);
}

// A pattern that does not compile is refused with the file's name, not when the model is built.
inline void adapter_config::check_target_pattern(const std::string& source) const {
    module_targets(*this, source);
}

}  // namespace loramoe::moe
