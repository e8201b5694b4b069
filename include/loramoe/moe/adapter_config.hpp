#pragma once
// The LoRAMoE adapter of a whole model, as the official code's adapter_config.json names it:
// r, lora_alpha, lora_nums, blc_alpha, blc_weight, target_modules, lora_dropout. Extensions, written
// only when they differ from the official behaviour: expert_types, blc_statistic, top_k, placement
// ("linears" or "ffn"), lbc_counts_padding. Without lora_nums the adapter is a plain LoRA per target
// (PEFT's lora_A / lora_B names, no router).

#include <algorithm>
#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/moe/balance/balance.hpp>
#include <loramoe/moe/loramoe_linear.hpp>

namespace loramoe::moe {

enum class adapter_placement {
    linears,   // beside each targeted linear (the official code)
    ffn        // one set of experts (D -> D) beside each whole FFN block (the paper's figure)
};

namespace detail {
// j[key] as V; `fallback` when absent or null, or format_error when there is no fallback.
template <class V>
V json_field(const nlohmann::json& j, const char* key, const std::string& source, std::optional<V> fallback = {}) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (!fallback) fail<format_error>("{}: missing key '{}'", source, key);
        return *fallback;
    }
    try {
        return it->template get<V>();
    } catch (const nlohmann::json::exception&) {
        fail<format_error>("{}: '{}' has the wrong type ({})", source, key, it->dump());
    }
}
}  // namespace detail

struct adapter_config {
    bool router = true;               // false: plain LoRA (no lora_nums)
    index experts = 6;                // lora_nums (N)
    index rank = 4;                   // r
    double alpha = 32;                // lora_alpha; scaling alpha / r
    double dropout = 0;               // lora_dropout
    double blc_alpha = 0.1;           // delta of the LBC
    double blc_weight = 0.1;          // beta: weight of the LBC in the loss; 0 disables it
    lbc_statistic statistic = lbc_statistic::cv2;
    std::vector<std::int64_t> expert_types;   // empty: official_expert_types(N)
    std::vector<std::string> target_modules = {"gate_proj", "up_proj", "down_proj"};
    std::string target_regex;         // when set (a string target_modules), a full match on the module name
    index top_k = 0;                  // 0: dense routing
    adapter_placement placement = adapter_placement::linears;
    bool lbc_counts_padding = false;  // true: the official code's unmasked sum

    // The official rule: a list matches module names that end with one of its entries; a string is
    // a regular expression that must match the whole name.
    bool targets(const std::string& module) const {
        if (!target_regex.empty()) return std::regex_match(module, std::regex(target_regex));
        return std::any_of(target_modules.begin(), target_modules.end(), [&](const std::string& t) {
            return module.size() >= t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0;
        });
    }

    loramoe_config layer_config(index in_features, index out_features, std::uint64_t seed) const {
        return {.in_features = in_features, .out_features = out_features, .experts = router ? experts : 1,
                .rank = rank, .alpha = alpha, .router = router, .top_k = top_k, .dropout = dropout, .seed = seed};
    }

    // The LBC when it counts (a router and a non-zero weight), no balancing loss otherwise.
    balance::dynamic balance() const {
        if (!router || blc_weight == 0) return balance::none{};
        return balance::lbc{blc_alpha, statistic, expert_types};
    }

    void validate(const std::string& source = "adapter_config.json") const {
        if (rank <= 0) fail<value_error>("{}: r must be positive, got {}", source, rank);
        if (router && experts <= 0) fail<value_error>("{}: lora_nums must be positive, got {}", source, experts);
        if (!(dropout >= 0 && dropout < 1)) fail<value_error>("{}: lora_dropout {} is outside [0, 1)", source, dropout);
        if (!expert_types.empty() && static_cast<index>(expert_types.size()) != experts)
            fail<value_error>("{}: {} expert_types for lora_nums = {}", source, expert_types.size(), experts);
        if (top_k < 0 || top_k > experts) fail<value_error>("{}: top_k {} is outside [0, {}]", source, top_k, experts);
        if (target_modules.empty() && target_regex.empty() && placement == adapter_placement::linears)
            fail<value_error>("{}: target_modules is empty", source);
        if (placement == adapter_placement::ffn && !router)
            fail<value_error>("{}: the ffn placement needs lora_nums (a router)", source);
    }

    static adapter_config from_json(const nlohmann::json& j, const std::string& source = "adapter_config.json") {
        if (!j.is_object()) fail<format_error>("{}: not a JSON object", source);
        adapter_config c;
        c.router = j.contains("lora_nums") && !j["lora_nums"].is_null();
        c.experts = c.router ? detail::json_field<index>(j, "lora_nums", source) : 1;
        c.rank = detail::json_field<index>(j, "r", source);
        c.alpha = detail::json_field<double>(j, "lora_alpha", source);
        c.dropout = detail::json_field<double>(j, "lora_dropout", source, 0.0);
        c.blc_alpha = detail::json_field<double>(j, "blc_alpha", source, 0.0);
        c.blc_weight = detail::json_field<double>(j, "blc_weight", source, 0.0);
        c.statistic = parse_lbc_statistic(detail::json_field<std::string>(j, "blc_statistic", source, "cv2"));
        c.expert_types = detail::json_field<std::vector<std::int64_t>>(j, "expert_types", source, std::vector<std::int64_t>{});
        c.top_k = detail::json_field<index>(j, "top_k", source, 0);
        c.lbc_counts_padding = detail::json_field<bool>(j, "lbc_counts_padding", source, false);
        const std::string placement = detail::json_field<std::string>(j, "placement", source, "linears");
        if (placement == "ffn")
            c.placement = adapter_placement::ffn;
        else if (placement != "linears")
            fail<value_error>("{}: placement '{}' is neither 'linears' nor 'ffn'", source, placement);
        const auto targets = j.find("target_modules");
        if (targets != j.end() && targets->is_string()) {
            c.target_modules.clear();
            c.target_regex = targets->get<std::string>();
        } else if (targets != j.end() && !targets->is_null()) {
            c.target_modules = detail::json_field<std::vector<std::string>>(j, "target_modules", source);
        } else if (c.placement == adapter_placement::linears) {
            fail<format_error>("{}: missing key 'target_modules'", source);
        }
        c.validate(source);
        return c;
    }

    nlohmann::json to_json() const {
        nlohmann::json j = {{"peft_type", "LORA"},     {"task_type", "CAUSAL_LM"}, {"r", rank},
                            {"lora_alpha", alpha},     {"lora_dropout", dropout},  {"bias", "none"},
                            {"inference_mode", false}, {"fan_in_fan_out", false}};
        if (target_regex.empty())
            j["target_modules"] = target_modules;
        else
            j["target_modules"] = target_regex;
        if (router) {
            j["lora_nums"] = experts;
            j["blc_alpha"] = blc_alpha;
            j["blc_weight"] = blc_weight;
            if (statistic != lbc_statistic::cv2) j["blc_statistic"] = to_string(statistic);
            if (!expert_types.empty()) j["expert_types"] = expert_types;
            if (top_k != 0) j["top_k"] = top_k;
            if (placement == adapter_placement::ffn) j["placement"] = "ffn";
            if (lbc_counts_padding) j["lbc_counts_padding"] = true;
        }
        return j;
    }
};

}  // namespace loramoe::moe
