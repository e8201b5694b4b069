// Fuzz target: safetensors files (base weights, adapters, optimizer state, case files): the header, the
// framing, and reading every tensor it declares as the loaders do.

#include <cstddef>
#include <cstdint>
#include <exception>

#include <loramoe/io/safetensors.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const loramoe::fuzz::input_file file(data, size);
    try {
        const loramoe::io::safetensors_reader reader(file.path());
        for (const auto& e : reader.entries()) {
            try {
                if (loramoe::io::info(e.type).floating) {
                    (void)reader.read<float>(e.name, e.shape);
                    (void)reader.read<double>(e.name);
                    std::vector<loramoe::bfloat16> rounded(static_cast<std::size_t>(e.elements()));
                    reader.read_bfloat16(e.name, e.shape, rounded.data());
                } else {
                    (void)reader.read<std::int64_t>(e.name);
                }
                reader.release(e);
            } catch (const std::exception&) {
            }
        }
    } catch (const std::exception&) {
    }
    return 0;
}
