// loramoe generate --model DIR [--adapter DIR] --prompt TEXT [--input TEXT] [--max-new-tokens N]
//                  [--truncate-prompt] [--device cpu|cuda] [--base-dtype auto|float32|bfloat16]
//
// Prints the greedy completion of one prompt, formatted as in training (BOS + instruction [+ "\n" +
// input], EOS after it with --template official, the checkpoint's chat template with --template chat),
// and on stderr how fast it came: the prompt's
// forward, then one token at a time (decoding reads every weight once per token). A prompt longer than
// the model's context (max_position_embeddings) is refused, or with --truncate-prompt cut to its start.

#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>

#include <loramoe/io/generation_config.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/tokenizer.hpp>
#include <loramoe/train/evaluation.hpp>

#include "base_dtype.hpp"
#include "commands.hpp"
#include "device.hpp"
#include "template_option.hpp"

namespace loramoe::cli {

namespace {

struct generate_options {
    std::filesystem::path model;
    std::optional<std::filesystem::path> adapter;
    std::string prompt, input;
    index max_new_tokens = 64;
    bool truncate_prompt = false;
    template_choice prompt_format;
    device where = device::cpu;
    base_dtype base = base_dtype::automatic;
};

template <class Backend>
void run(const generate_options& o) {
    const auto config = io::read_llama_config(o.model);
    const auto tokenizer = io::load_tokenizer(o.model, config);
    io::instruction_example example;
    example.instruction = o.prompt;
    example.input = o.input;
    auto prompt_format = o.prompt_format;
    prompt_format.prepare(o.model);
    const index context = config.max_position_embeddings;
    const auto tokenized = prompt_format.tokenize(example, *tokenizer, std::numeric_limits<index>::max());
    auto prompt = train::prompt_of(tokenized);
    if (std::ssize(prompt) > context) {
        if (!o.truncate_prompt)
            fail<value_error>(
                "the prompt has {} tokens, more than the model's context of {} "
                "(max_position_embeddings); shorten it, or pass --truncate-prompt to keep its first {}",
                prompt.size(), context, context);
        fmt::print(stderr, "warning: the prompt has {} tokens; its first {} (the model's context) are kept\n",
                   prompt.size(), context);
        prompt = prompt.first(static_cast<std::size_t>(context));
    }
    const auto stop = io::generation_stop_ids(o.model, config, *tokenizer);
    const auto model = io::load_pretrained<float, Backend>(
        o.model, o.adapter, {.base_in_bf16 = base_in_bf16<float, Backend>(o.base, o.model, true)});
    const auto start = std::chrono::steady_clock::now();
    const auto generated = model->generate(prompt, o.max_new_tokens, stop);
    const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
    fmt::print("{}\n", tokenizer->decode(generated));
    fmt::print(stderr, "generated {} tokens after a prompt of {} in {:.2f} s: {:.2f} tokens/s\n",
               generated.size(), prompt.size(), seconds.count(),
               static_cast<double>(generated.size()) / seconds.count());
}

}  // namespace

void add_generate_command(CLI::App& app) {
    auto o = std::make_shared<generate_options>();
    CLI::App* c = app.add_subcommand("generate", "Print the greedy completion of a prompt");
    c->add_option("--model", o->model, "HF checkpoint folder")->required()->check(CLI::ExistingDirectory);
    c->add_option("--adapter", o->adapter, "adapter folder")->check(CLI::ExistingDirectory);
    c->add_option("--prompt", o->prompt, "the instruction")->required();
    c->add_option("--input", o->input, "the instruction's input, after a newline");
    c->add_option("--max-new-tokens", o->max_new_tokens)->capture_default_str();
    c->add_flag(
        "--truncate-prompt", o->truncate_prompt,
        "keep the first max_position_embeddings tokens of a longer prompt (with a warning) instead of "
        "refusing it");
    add_template_option(c, o->prompt_format);
    add_device_option(c, o->where);
    add_base_dtype_option(c, o->base);
    c->callback([o] { on_device(o->where, [&]<class Backend>(Backend) { run<Backend>(*o); }); });
}

}  // namespace loramoe::cli
