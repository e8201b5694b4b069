#pragma once
// moe::adapter_config to and from adapter_config.json, with the official LoRAMoE key names.
//
// Required keys: r, lora_alpha, and target_modules (a list of name suffixes, or a string: a regular
// expression) unless placement is "ffn". Optional keys (absent or null): lora_nums (absent: a plain
// LoRA, no router), lora_dropout (0), blc_alpha and blc_weight (0), blc_statistic ("cv2" or
// "var_over_mean"), expert_types (empty: the official layout), top_k (0), placement ("linears" or
// "ffn"), lbc_counts_padding (false). Errors name the file and the key in the wording of
// io/json_fields.hpp; the values are then checked by adapter_config::validate. Writing puts the
// extensions only where they differ from the official behaviour.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/json_fields.hpp>
#include <loramoe/moe/adapter_config.hpp>

namespace loramoe::io {

inline moe::adapter_config parse_adapter_config(const nlohmann::json& j, const std::string& source) {
    const json_fields fields(j, source);
    moe::adapter_config c;
    const auto experts = fields.optional<index>("lora_nums");
    c.router = experts.has_value();
    c.experts = experts.value_or(1);
    c.rank = fields.required<index>("r");
    c.alpha = fields.required<double>("lora_alpha");
    c.dropout = fields.optional<double>("lora_dropout", 0.0);
    c.lbc_delta = fields.optional<double>("blc_alpha", 0.0);
    c.lbc_weight = fields.optional<double>("blc_weight", 0.0);
    c.statistic = moe::parse_lbc_statistic(fields.one_of("blc_statistic", {"cv2", "var_over_mean"}, "cv2"));
    c.expert_types = fields.optional<std::vector<std::int64_t>>("expert_types", {});
    c.top_k = fields.optional<index>("top_k", 0);
    c.lbc_counts_padding = fields.optional<bool>("lbc_counts_padding", false);
    if (fields.one_of("placement", {"linears", "ffn"}, "linears") == "ffn")
        c.placement = moe::adapter_placement::ffn;
    // Without target_modules the ffn placement keeps the default list (unused there).
    using targets = std::variant<std::string, std::vector<std::string>>;
    const auto modules = c.placement == moe::adapter_placement::linears
                             ? std::optional(fields.required<targets>("target_modules"))
                             : fields.optional<targets>("target_modules");
    if (modules) {
        if (const auto* regex = std::get_if<std::string>(&*modules)) {
            c.target_modules.clear();
            c.target_regex = *regex;
        } else {
            c.target_modules = std::get<std::vector<std::string>>(*modules);
        }
    }
    c.validate(source);
    return c;
}

inline nlohmann::json to_json(const moe::adapter_config& c) {
    nlohmann::json j = {{"peft_type", "LORA"},     {"task_type", "CAUSAL_LM"},  {"r", c.rank},
                        {"lora_alpha", c.alpha},   {"lora_dropout", c.dropout}, {"bias", "none"},
                        {"inference_mode", false}, {"fan_in_fan_out", false}};
    if (c.target_regex.empty())
        j["target_modules"] = c.target_modules;
    else
        j["target_modules"] = c.target_regex;
    if (c.router) {
        j["lora_nums"] = c.experts;
        j["blc_alpha"] = c.lbc_delta;
        j["blc_weight"] = c.lbc_weight;
        if (c.statistic != moe::lbc_statistic::cv2) j["blc_statistic"] = moe::to_string(c.statistic);
        if (!c.expert_types.empty()) j["expert_types"] = c.expert_types;
        if (c.top_k != 0) j["top_k"] = c.top_k;
        if (c.placement == moe::adapter_placement::ffn) j["placement"] = "ffn";
        if (c.lbc_counts_padding) j["lbc_counts_padding"] = true;
    }
    return j;
}

}  // namespace loramoe::io
