// Fuzz target: the JSON files of a model and an adapter: the limits of io/json_file.hpp, then the
// same text as config.json and as adapter_config.json (its target_modules matched against a model's
// module names).

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>

#include <loramoe/io/adapter_config_json.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/llama_config_json.hpp>
#include <loramoe/llama/weights.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    nlohmann::json j;
    try {
        j = loramoe::io::parse_json({reinterpret_cast<const char*>(data), size}, "fuzz.json");
    } catch (const std::exception&) {
        return 0;
    }
    try {
        (void)loramoe::io::parse_llama_config(j, "config.json");
    } catch (const std::exception&) {
    }
    try {
        const auto adapter = loramoe::io::parse_adapter_config(j, "adapter_config.json");
        const loramoe::moe::module_targets targets(adapter);
        for (int layer : {0, 31})
            for (auto linear : loramoe::llama::block_linears)
                (void)targets(loramoe::llama::layer_prefix(layer) + loramoe::llama::module_name(linear));
    } catch (const std::exception&) {
    }
    return 0;
}
