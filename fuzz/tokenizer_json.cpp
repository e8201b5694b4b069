// Fuzz target: tokenizer.json (HuggingFace `tokenizers`' BPE: Llama 3, Qwen2, Mistral): loaded, then
// sample texts encoded and decoded back.

#include <cstddef>
#include <cstdint>

#include <loramoe/io/bpe_tokenizer.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return loramoe::fuzz::fuzz_tokenizer<loramoe::io::bpe_tokenizer>(data, size);
}
