// Example 04: read the router statistics of a LoRAMoE adapter.
//
// What it teaches: how to measure which experts a trained adapter uses for which kind of data, the
// measurement behind the paper's expert-utilisation figure. train::evaluate runs the model over the
// data and, for every adapted linear, averages each expert's gate over the real tokens (padding left
// out) of the samples of each task type:
//
//   mean gate g_n(c) = mean over the tokens t of task-type-c samples of softmax(x_t W_r^T)_n
//
// For each task type the N mean gates sum to 1; a router that ignores its input gives 1/N each.
// The experts have types too. In the official layout the first N/2 experts are type 1, meant for
// world knowledge, and the rest are type 0, meant for downstream tasks. The sum of g_n(c) over the
// type-1 experts, the "type-1 share", says how much of the routing mass for data of task type c
// goes to the knowledge experts.
//
// What the LBC asks of these numbers (docs/tutorial.md, section 4): it is smallest when
// I[n] * Q[n] is the same for every expert, where I = 1 + delta for the experts whose type matches
// the sample's and 1 - delta for the others. Then the matching group gets (1 - delta) / 2 of the
// mass when the two groups are equally large: 0.45 for delta = 0.1, slightly LESS than the other
// group. So at the LBC's optimum, the type-1 share is 0.45 on task-type-1 data and 0.55 on
// task-type-0 data. The cross-entropy pulls on the gates too, so a trained adapter lands near that
// optimum or away from it; the program prints the optimum next to each measured share. Which group
// ends up serving world knowledge is a measurement, not an assumption.
//
// Run:  04_router_statistics MODEL_DIR ADAPTER_DIR DATA.jsonl [ROUTER.json]
//           the JSON goes to ROUTER.json, by default router_statistics.json in the current folder;
//       04_router_statistics
//           a stand-in: a random LLaMA with a random, untrained adapter in a temporary folder, read
//           through the same path. Its shares hover around 0.5 whatever the task; for trained ones,
//           pass an adapter trained by example 03 (with arguments) or by `loramoe train`.
// Exit status 0 when, in every adapted linear, each task type's mean gates sum to 1 and every real
// token of the data was counted; 1 otherwise.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>

#include <loramoe/loramoe.hpp>

namespace example {
namespace lm = loramoe;  // not `using namespace loramoe;`: loramoe::index would clash with POSIX's ::index
namespace fs = std::filesystem;

// The type-1 share at the LBC's optimum for task type c: Q[n] proportional to 1 / I[n].
double lbc_optimum_share(const std::vector<std::int64_t>& expert_types, double delta, std::int64_t task) {
    double type1 = 0, all = 0;
    for (const std::int64_t e : expert_types) {
        const double q = 1 / (e == task ? 1 + delta : 1 - delta);
        all += q;
        type1 += e == 1 ? q : 0;
    }
    return type1 / all;
}

bool print_router_statistics(const fs::path& model_dir, const fs::path& adapter_dir, const fs::path& data,
                             const fs::path& json_out) {
    const auto config = lm::io::read_llama_config(model_dir);
    const auto tokenizer = lm::io::load_tokenizer(model_dir, config);
    std::vector<lm::io::tokenized_example> examples;
    std::map<std::int64_t, lm::index> real_tokens;  // task type -> tokens in the data
    for (const auto& e : lm::io::read_instruction_jsonl(data)) {
        examples.push_back(
            lm::io::tokenize_example(e, *tokenizer, lm::io::prompt_template::plain, /*max_tokens=*/1024));
        real_tokens[e.task_type] += static_cast<lm::index>(examples.back().ids.size());
    }
    const auto model = lm::io::load_pretrained<float>(model_dir, adapter_dir);
    const auto& adapter = *model->adapter_config();
    const double delta = adapter.lbc_delta;
    const bool lbc = adapter.router && adapter.lbc_weight > 0;  // else there is no optimum to show

    // Loss and router statistics only: no generation is needed for them.
    const std::vector<std::int64_t> stop = {tokenizer->eos_id()};
    const auto result =
        lm::train::evaluate(*model, std::span<const lm::io::tokenized_example>(examples), tokenizer->pad_id(),
                            stop, {.batch_size = 16, .exact_match = false});
    fmt::print("{} examples, loss {:.4f}; LBC delta = {}\n", examples.size(), result.loss, delta);

    if (result.routers.empty()) {
        fmt::print("the adapter has no router (a plain LoRA): nothing to report\n");
        return false;
    }
    bool consistent = true;
    for (const lm::train::router_usage& r : result.routers) {
        fmt::print("\n{}\n  {:<28}", r.module, "expert");
        for (std::size_t n = 0; n < r.expert_types.size(); ++n) fmt::print(" {:>6}", n);
        fmt::print("   type-1 share (LBC optimum)\n  {:<28}", "expert type");
        for (const std::int64_t e : r.expert_types) fmt::print(" {:>6}", e);
        fmt::print("\n");
        for (const auto& [task, gates] : r.mean_gate) {
            double sum = 0, type1 = 0;
            fmt::print("  {:<28}", fmt::format("task type {} ({} tokens)", task, r.tokens.at(task)));
            for (std::size_t n = 0; n < gates.size(); ++n) {
                fmt::print(" {:>6.3f}", gates[n]);
                sum += gates[n];
                type1 += r.expert_types[n] == 1 ? gates[n] : 0;
            }
            fmt::print(
                "   {:.3f} ({})\n", type1,
                lbc ? fmt::format("{:.3f}", lbc_optimum_share(r.expert_types, delta, task)) : "no LBC");
            consistent &= std::abs(sum - 1) < 1e-4 && r.tokens.at(task) == real_tokens[task];
        }
    }

    // The same numbers as JSON: {"routers": [{"module", "expert_types", "mean_gate", "tokens"}, ...]}.
    lm::io::write_text_atomically(json_out, result.router_json().dump(2) + "\n");
    fmt::print("\nwrote {}; its first entry:\n{}\n", json_out.string(),
               result.router_json()["routers"][0].dump());
    return consistent;
}

// The stand-in's data: three examples of each task type.
constexpr const char* stand_in_data =
    R"({"instruction": "capital of france", "output": "paris", "task_type": 1}
{"instruction": "capital of japan", "output": "tokyo", "task_type": 1}
{"instruction": "capital of peru", "output": "lima", "task_type": 1}
{"instruction": "parity of 347", "output": "odd", "task_type": 0}
{"instruction": "parity of 12", "output": "even", "task_type": 0}
{"instruction": "parity of 905", "output": "odd", "task_type": 0}
)";

// The stand-in: a random LLaMA with the byte tokenizer, a random adapter, and the data above.
void make_stand_in(const fs::path& dir) {
    lm::llama::llama_config config;
    config.vocab_size = 259;  // the byte tokenizer's: 256 bytes, BOS, EOS, PAD
    config.hidden_size = 64, config.intermediate_size = 128, config.num_hidden_layers = 2;
    config.num_attention_heads = config.num_key_value_heads = 4, config.head_dim = 16;
    lm::llama::llama_model<float> model(config, lm::moe::adapter_config{});  // the paper's adapter
    lm::random_generator rng(11);
    for (const lm::named_tensor& t : model.layout().tensors()) {  // norms 1, matrices N(0, 1 / fan-in)
        const bool norm = t.shape.size() == 1;
        const double scale = 1 / std::sqrt(double(t.shape.back()));
        for (lm::index i = 0; i < t.size(); ++i)
            model.base().values()[t.offset + i] = norm ? 1.0f : float(scale * rng.normal());
    }
    model.reset_adapters(1);  // the official initialisation, then B != 0 as after training
    model.for_each_adapter([&](const std::string&, auto& adapter) {
        for (lm::index i = 0; i < adapter.b().rows; ++i)
            for (lm::index j = 0; j < adapter.b().cols; ++j) adapter.b()(i, j) = float(0.05 * rng.normal());
    });
    lm::io::save_hf_checkpoint(dir / "model", model);
    lm::io::save_byte_tokenizer(dir / "model");
    lm::io::save_adapter(dir / "adapter", model);
    lm::io::write_text_atomically(dir / "data.jsonl", stand_in_data);
}

}  // namespace example

int main(int argc, char** argv) try {
    namespace fs = std::filesystem;
    bool consistent = false;
    if (argc == 4 || argc == 5) {
        consistent = example::print_router_statistics(argv[1], argv[2], argv[3],
                                                      argc == 5 ? argv[4] : "router_statistics.json");
    } else if (argc == 1) {
        const fs::path dir = fs::temp_directory_path() / fmt::format("loramoe-example-04-{}", ::getpid());
        example::make_stand_in(dir);
        consistent = example::print_router_statistics(dir / "model", dir / "adapter", dir / "data.jsonl",
                                                      dir / "router_statistics.json");
        fs::remove_all(dir);
    } else {
        fmt::print(stderr, "usage: {} [MODEL_DIR ADAPTER_DIR DATA.jsonl [ROUTER.json]]\n", argv[0]);
        return 2;
    }
    fmt::print("mean gates {}\n",
               consistent ? "sum to 1 and every real token was counted" : "are NOT consistent");
    return consistent ? 0 : 1;
} catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
}
