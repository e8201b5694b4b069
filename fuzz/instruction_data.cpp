// Fuzz target: JSONL instruction data, read and tokenized with each prompt template (the byte-level
// tokenizer: no model needed).

#include <cstddef>
#include <cstdint>
#include <exception>

#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/tokenizer.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const loramoe::fuzz::input_file file(data, size);
    try {
        const auto tokens = loramoe::io::make_byte_tokenizer();
        for (const auto& example : loramoe::io::read_instruction_jsonl(file.path()))
            for (auto format : {loramoe::io::prompt_template::plain, loramoe::io::prompt_template::official})
                (void)loramoe::io::tokenize_example(example, *tokens, format, 64);
    } catch (const std::exception&) {
    }
    return 0;
}
