// Fuzz target: tokenizer.model (SentencePiece): checked (io/sentencepiece_model_check.hpp), loaded by
// the SentencePiece library, then sample texts encoded and decoded back. A crash here inside
// SentencePiece is a model the check should have refused.

#include <cstddef>
#include <cstdint>

#include <loramoe/io/sentencepiece_tokenizer.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return loramoe::fuzz::fuzz_tokenizer<loramoe::io::sentencepiece_tokenizer>(data, size);
}
