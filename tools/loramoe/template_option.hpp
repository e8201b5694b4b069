#pragma once
// --template plain|official|chat, the prompt format of train, eval and generate (io/instruction_data.hpp),
// and the tokenization it means for a model folder.

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include <loramoe/io/chat_template.hpp>
#include <loramoe/io/instruction_data.hpp>

namespace loramoe::cli {

struct template_choice {
    io::prompt_template format = io::prompt_template::plain;
    std::optional<io::chat_template> chat;  // read from the model folder for --template chat

    // Reads the model's chat template when the format needs it (a value_error when it has none loramoe
    // renders).
    void prepare(const std::filesystem::path& model_dir) {
        if (format == io::prompt_template::chat) chat = io::read_chat_template(model_dir);
    }
    io::tokenized_example tokenize(const io::instruction_example& e, const io::tokenizer& tok,
                                   std::int64_t max_tokens) const {
        return io::tokenize_example(e, tok, format, max_tokens, chat ? &*chat : nullptr);
    }
};

inline void add_template_option(CLI::App* command, template_choice& target) {
    command
        ->add_option("--template", target.format,
                     "plain (default), official ({instruction}</s> before the output) or chat (the "
                     "checkpoint's chat template: Llama 3 Instruct's or ChatML)")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, io::prompt_template>{{"plain", io::prompt_template::plain},
                                                       {"official", io::prompt_template::official},
                                                       {"chat", io::prompt_template::chat}}));
}

}  // namespace loramoe::cli
