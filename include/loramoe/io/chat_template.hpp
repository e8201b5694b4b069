#pragma once
// The chat template of a checkpoint (tokenizer_config.json's "chat_template", a Jinja program), for the
// two fixed forms most instruction-tuned LLaMA-family checkpoints use, recognised by their tokens:
//
//   llama3  BOS <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>
//           <|start_header_id|>assistant<|end_header_id|>\n\n  |  {answer}<|eot_id|>
//           (Llama 3 Instruct; user and answer trimmed of surrounding white space, as its `| trim`)
//   chatml  [<|im_start|>system\n{default system prompt}<|im_end|>\n]<|im_start|>user\n{user}<|im_end|>\n
//           <|im_start|>assistant\n  |  {answer}<|im_end|>
//           (Qwen2 and Qwen2.5, with the default system prompt their template writes when a conversation
//           has none; Qwen2.5's tool branch is not used: the data has no tools)
//
// "|" marks where the prompt (not trained on) ends and the target begins; io/instruction_data.hpp
// tokenizes the whole conversation at once, as transformers does, and masks the prompt's tokens. Llama 3.1
// and later templates (a system block with the dates "Cutting Knowledge Date" and "Today Date", tools) and
// every other template are refused by name: loramoe has no Jinja interpreter, and a template it cannot render
// exactly is better refused than approximated.

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>

namespace loramoe::io {

struct chat_template {
    enum class form { llama3, chatml };
    form kind = form::chatml;
    std::string system_prompt;  // chatml: the default system message, empty for none

    // Whether the conversation starts with the BOS id (Llama 3's bos_token).
    bool starts_with_bos() const { return kind == form::llama3; }
    // The text before the answer, for one user message, after the BOS if any.
    std::string prompt(std::string_view user) const {
        if (kind == form::llama3)
            return "<|start_header_id|>user<|end_header_id|>\n\n" + trimmed(user) +
                   "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
        std::string text;
        if (!system_prompt.empty()) text = "<|im_start|>system\n" + system_prompt + "<|im_end|>\n";
        return text + "<|im_start|>user\n" + std::string(user) + "<|im_end|>\n<|im_start|>assistant\n";
    }
    // The answer's text with the end of the turn.
    std::string target(std::string_view answer) const {
        return kind == form::llama3 ? trimmed(answer) + "<|eot_id|>" : std::string(answer) + "<|im_end|>";
    }

    // Jinja's trim: white space off both ends.
    static std::string trimmed(std::string_view text) {
        const auto first = text.find_first_not_of(" \t\n\r\f\v");
        if (first == std::string_view::npos) return {};
        return std::string(text.substr(first, text.find_last_not_of(" \t\n\r\f\v") - first + 1));
    }
};

namespace detail {
// The text after `<|im_start|>system` + a newline (written as one, or as Jinja's "\n") up to <|im_end|>
// inside a string literal of the template: the default system prompt; empty when there is none.
inline std::string chatml_default_system(const std::string& source) {
    const std::string header = "<|im_start|>system";
    for (auto at = source.find(header); at != std::string::npos; at = source.find(header, at + 1)) {
        std::size_t start = at + header.size();
        if (source.compare(start, 1, "\n") == 0)
            start += 1;
        else if (source.compare(start, 2, "\\n") == 0)
            start += 2;
        else
            continue;  // `<|im_start|>system` followed by Jinja code: the conversation's own system message
        const auto end = source.find("<|im_end|>", start);
        if (end == std::string::npos) continue;
        const std::string text = source.substr(start, end - start);
        if (text.find_first_of("{}'\"") == std::string::npos) return text;  // a literal, not an expression
    }
    return {};
}
}  // namespace detail

// The chat template of the model in `model_dir`; value_error when it has none or one of another form.
inline chat_template read_chat_template(const std::filesystem::path& model_dir) {
    const auto path = model_dir / "tokenizer_config.json";
    if (!std::filesystem::exists(path))
        fail<value_error>("{}: --template chat needs tokenizer_config.json with a \"chat_template\"",
                          model_dir.string());
    const nlohmann::json j = read_json_file(path);
    const json_fields fields(j, path.string());
    std::string source;
    if (fields.holds<std::string>("chat_template")) {
        source = fields.required<std::string>("chat_template");
    } else if (fields.is_set("chat_template") && j["chat_template"].is_array()) {  // named templates
        for (const auto& named : j["chat_template"])
            if (named.is_object() && named.value("name", "") == "default")
                source = named.value("template", "");
    }
    if (source.empty()) fields.fail_field<value_error>("chat_template", "a chat template (a string)");
    chat_template t;
    auto has = [&](std::string_view piece) { return source.find(piece) != std::string::npos; };
    // Llama 3 Instruct's: every message as header + trimmed content + <|eot_id|>, BOS first, no system
    // text of its own (3.1 and later write one, with dates).
    const bool llama3 = has("<|start_header_id|>") && has("<|eot_id|>") && has("| trim") &&
                        has("bos_token") && !has("system") && !has("Cutting Knowledge Date");
    const bool chatml = has("<|im_start|>") && has("<|im_end|>") && has("<|im_start|>assistant");
    if (llama3) {
        t.kind = chat_template::form::llama3;
    } else if (chatml) {
        t.kind = chat_template::form::chatml;
        t.system_prompt = detail::chatml_default_system(source);
    } else {
        fail<value_error>(
            "{}: the chat template is not one of the fixed forms loramoe renders (Llama 3 Instruct's, "
            "ChatML as Qwen2's); Llama 3.1's and later (dates, tools) and others are refused: use --template "
            "plain or official, or write the prompts into the data",
            path.string());
    }
    return t;
}

}  // namespace loramoe::io
