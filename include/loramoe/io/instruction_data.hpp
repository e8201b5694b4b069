#pragma once
// Instruction data for training, one JSON object a line (JSONL), and its tokenization.
//
// A line is an instruction example, {"instruction": str, "input": str (optional), "output": str,
// "task_type": int (optional)}, or raw text for pretraining, {"text": str, "task_type": int (optional)}.
// task_type is the LoRAMoE task type (1 = world knowledge by the official convention; missing = 0).
// Other keys (an "id", a "source": datasets carry such fields) are ignored. Blank lines are skipped;
// anything else (invalid JSON, a missing or ill-typed field, text together with instruction fields)
// is a format_error "FILE:LINE: what", in the wording of io/json_fields.hpp for a missing or ill-typed
// field: "data.jsonl:3: 'output' is missing, expected a string".
//
// Tokenized, an instruction example is a prompt, masked out of the loss (label -100), then a target:
//   plain     BOS + tokens(instruction [+ "\n" + input])         then tokens(output) + EOS
//   official  BOS + tokens(instruction [+ "\n" + input]) + EOS   then tokens(output) + EOS
//   chat      the checkpoint's chat template (io/chat_template.hpp) around instruction [+ "\n" + input]
//             as the user's message, then the output and the end of the turn; the whole conversation is
//             tokenized at once, as transformers' apply_chat_template does, and the tokens of the
//             prompt alone are masked (with BOS where the template starts with it).
// "official" is the official code's "{instruction}</s>" prompt, where HF's LLaMA tokenizer turns "</s>"
// into the EOS id. Raw text is BOS + tokens(text) + EOS, every token but BOS counted. Labels line up
// with the ids (the loss shifts them), as in HuggingFace.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/error.hpp>
#include <loramoe/cpu/cross_entropy.hpp>
#include <loramoe/io/chat_template.hpp>
#include <loramoe/io/json_fields.hpp>
#include <loramoe/io/json_file.hpp>
#include <loramoe/io/mapped_file.hpp>
#include <loramoe/io/tokenizer.hpp>

namespace loramoe::io {

struct instruction_example {
    std::string instruction;
    std::string input;
    std::string output;
    std::int64_t task_type = 0;
    std::string text;  // a raw-text line; then instruction, input and output are empty

    bool is_raw_text() const { return !text.empty(); }
};

namespace detail {
// The example on line `line` of `file`, already parsed.
inline instruction_example instruction_from_json(const nlohmann::json& j, const std::string& file,
                                                 std::size_t line) {
    const json_fields fields(j, fmt::format("{}:{}", file, line));
    instruction_example e;
    e.task_type = fields.optional<std::int64_t>("task_type", 0);
    if (fields.contains("text")) {
        for (const char* key : {"instruction", "input", "output"})
            if (fields.contains(key))
                fail<format_error>("{}: both 'text' and '{}'; a line is raw text or an instruction",
                                   fields.source(), key);
        e.text = fields.required<std::string>("text");
        if (e.text.empty()) fields.fail_field("text", "a non-empty string");
        return e;
    }
    if (!fields.contains("instruction") && !fields.contains("output"))
        fail<format_error>("{}: neither an instruction ('instruction', 'output') nor raw text ('text')",
                           fields.source());
    e.instruction = fields.required<std::string>("instruction");
    e.input = fields.optional<std::string>("input", "");
    e.output = fields.required<std::string>("output");
    return e;
}
}  // namespace detail

// The examples of a JSONL file, in file order.
inline std::vector<instruction_example> read_instruction_jsonl(const std::filesystem::path& path) {
    const mapped_file file(path);
    const std::string name = path.string();
    std::vector<instruction_example> examples;
    std::string_view rest = file.text();
    for (std::size_t line = 1; !rest.empty(); ++line) {
        const std::size_t end = std::min(rest.find('\n'), rest.size());
        std::string_view text = rest.substr(0, end);
        rest.remove_prefix(std::min(end + 1, rest.size()));
        if (text.ends_with('\r')) text.remove_suffix(1);  // CRLF files
        if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
        const nlohmann::json j = parse_json(text, fmt::format("{}:{}", name, line), "column");
        examples.push_back(detail::instruction_from_json(j, name, line));
    }
    return examples;
}

enum class prompt_template { plain, official, chat };

struct tokenized_example {
    std::vector<std::int64_t> ids;     // (T)
    std::vector<std::int64_t> labels;  // (T): the id where the loss counts it, -100 elsewhere
    std::int64_t task_type = 0;
};

// The ids and labels of `example` (see the top), cut to the first `max_tokens` like the official
// code's [:max_seq_length]: the prompt's start is kept, so a long prompt may leave no target at all.
// The chat format needs `chat`, the model's template.
inline tokenized_example tokenize_example(const instruction_example& example, const tokenizer& tok,
                                          prompt_template prompt_format, std::int64_t max_tokens,
                                          const chat_template* chat = nullptr) {
    if (max_tokens <= 0)
        fail<value_error>("tokenize_example: max_tokens must be positive, got {}", max_tokens);
    if (example.is_raw_text() &&
        !(example.instruction.empty() && example.input.empty() && example.output.empty()))
        fail<value_error>("tokenize_example: an example has both raw text and an instruction");
    tokenized_example out;
    out.task_type = example.task_type;
    auto append = [&](std::span<const std::int64_t> ids, bool counted) {
        out.ids.insert(out.ids.end(), ids.begin(), ids.end());
        for (const std::int64_t id : ids) out.labels.push_back(counted ? id : ignore_index);
    };
    const std::int64_t bos = tok.bos_id(), eos = tok.eos_id();
    const std::string user =
        example.input.empty() ? example.instruction : example.instruction + "\n" + example.input;
    if (prompt_format == prompt_template::chat && !example.is_raw_text()) {
        if (chat == nullptr)
            fail<value_error>("tokenize_example: the chat format needs the model's chat template");
        std::vector<std::int64_t> prompt, conversation;
        if (chat->starts_with_bos()) prompt = conversation = {bos};
        const std::string prompt_text = chat->prompt(user);
        for (const std::int64_t id : tok.encode(prompt_text)) prompt.push_back(id);
        for (const std::int64_t id : tok.encode(prompt_text + chat->target(example.output)))
            conversation.push_back(id);
        const auto masked = static_cast<std::size_t>(
            std::mismatch(prompt.begin(), prompt.end(), conversation.begin(), conversation.end()).first -
            prompt.begin());
        append(std::span(conversation).first(masked), false);
        append(std::span(conversation).subspan(masked), true);
    } else {
        append({&bos, 1}, false);
        if (example.is_raw_text()) {
            append(tok.encode(example.text), true);
        } else {
            append(tok.encode(user), false);
            if (prompt_format == prompt_template::official) append({&eos, 1}, false);
            append(tok.encode(example.output), true);
        }
        append({&eos, 1}, true);
    }
    if (out.ids.size() > static_cast<std::size_t>(max_tokens)) {
        out.ids.resize(static_cast<std::size_t>(max_tokens));
        out.labels.resize(static_cast<std::size_t>(max_tokens));
    }
    return out;
}

}  // namespace loramoe::io
