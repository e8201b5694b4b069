#pragma once
// `loramoe demo`: world-knowledge forgetting in miniature, as the LoRAMoE paper's motivation and main
// experiment, on a machine with two cores and nothing downloaded.
//
//  1. A synthetic world (demo/world.hpp) and downstream skills (demo/skills.hpp), from a seed.
//  2. A word-level SentencePiece tokenizer and a small LLaMA, pretrained on the facts (two phrasings
//     and a question-answer format) and on the skills in a raw format; saved as a HF folder, and
//     loaded back from it like a user's model.
//  3. Fine-tuning data of growing size: skills as instructions (task_type 0) with 10% knowledge
//     questions about the fine-tuning entities (task_type 1), as the paper's SFT mix.
//  4. Five methods on equal footing, at each size: full fine-tuning; one LoRA with the rank of all the
//     experts together; the same LoRA with its scaling divided by the number of experts (each
//     expert's gate is about 1/N, so LoRAMoE's update is about N times smaller: the control);
//     LoRAMoE without the LBC; LoRAMoE with the LBC.
//  5. Evaluation on held-out data: knowledge questions about the entities never seen in fine-tuning,
//     in the instruction format and in the pretraining format (a probe that needs no format learning),
//     and each skill in the instruction format; the routers' expert utilisation per task type.

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/ranges.h>

#include <loramoe/io/byte_tokenizer.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/tokenizer.hpp>
#include <loramoe/train/evaluation.hpp>
#include <loramoe/train/progress.hpp>
#include <loramoe/train/trainer.hpp>
#include "demo/skills.hpp"
#include "demo/world.hpp"

namespace loramoe::demo {

enum class method { full, lora, lora_scaled, loramoe, loramoe_lbc };

struct method_spec {
    method id;
    const char* key;    // in results.json
    const char* label;  // in the report and figures
};

inline constexpr std::array<method_spec, 5> methods = {{
    {method::full, "full", "full fine-tuning"},
    {method::lora, "lora", "LoRA (rank N*r, scaling alpha/r)"},
    {method::lora_scaled, "lora_scaled", "LoRA, scaling / N (control)"},
    {method::loramoe, "loramoe", "LoRAMoE without LBC"},
    {method::loramoe_lbc, "loramoe_lbc", "LoRAMoE with LBC"},
}};

struct demo_config {
    world_config world;
    // The base model.
    index hidden = 128;
    index layers = 2;
    index heads = 4;
    index ffn = 384;
    index pretrain_steps = 2000;
    index pretrain_batch = 256;
    double pretrain_lr = 3e-3;
    double pretrain_skill_share = 1.0 / 3;  // of the pretraining documents
    // Fine-tuning: unit * size skill instructions plus knowledge_share of that many questions.
    index unit = 1000;
    std::vector<index> sizes = {1, 4, 16, 64};
    double knowledge_share = 0.1;
    index finetune_batch = 32;
    double full_lr = 1e-3;     // full fine-tuning forgets already at 1x with 3e-3 (docs/demo.md)
    double adapter_lr = 2e-3;  // the adapters' best downstream accuracy; 1e-2 diverges
    // The adapters: the paper's defaults on the FFN's gate, up and down projections.
    index experts = 6;
    index rank = 4;
    double alpha = 32;
    double lbc_delta = 0.1;
    double lbc_weight = 0.1;
    // Evaluation.
    index eval_problems = 100;  // held-out problems per skill
    index eval_facts = 0;       // held-out facts asked (0: all)
    std::uint64_t seed = 7;
    bool quick = false;
};

// The whole experiment in at most 10 minutes on two cores.
inline demo_config default_demo() {
    return {};
}

// The same experiment, small, in well under a minute: for tests and a first look.
inline demo_config quick_demo() {
    demo_config c;
    c.world = {.entities = 120, .cities = 30, .numbers = 100, .finetuning_entities = 24, .seed = 1};
    c.hidden = 64;
    c.ffn = 192;
    c.pretrain_steps = 400;
    c.pretrain_batch = 128;
    c.unit = 200;
    c.sizes = {1, 4, 16};
    c.eval_problems = 40;
    c.quick = true;
    return c;
}

struct accuracies {
    double knowledge = 0;                  // held-out facts, instruction format
    double knowledge_probe = 0;            // held-out facts, pretraining format
    std::map<std::string, double> skills;  // held-out problems, instruction format
    double downstream = 0;                 // the mean over the skills
};

struct run_result {
    std::string method;
    index size = 0;      // the multiple of the unit
    index examples = 0;  // fine-tuning examples
    accuracies scores;
    double seconds = 0;
    double final_loss = 0;
    std::vector<train::router_usage> routers;  // routed methods only
};

struct demo_results {
    demo_config config;
    index vocabulary = 0;
    index parameters = 0;
    double pretrain_seconds = 0;
    double pretrain_final_loss = 0;
    accuracies base;
    std::vector<run_result> runs;
    double total_seconds = 0;
};

namespace detail {

// The instruction format of the fine-tuning data and of the main evaluation.
inline std::string instruction(const std::string& body) {
    return "instruction : " + body + " answer :";
}

inline io::instruction_example prompt_answer(std::string prompt, std::string answer, std::int64_t task_type) {
    io::instruction_example e;
    e.instruction = std::move(prompt);
    e.output = std::move(answer);
    e.task_type = task_type;
    return e;
}

inline io::instruction_example raw_text(std::string text) {
    io::instruction_example e;
    e.text = std::move(text);
    return e;
}

inline std::vector<io::tokenized_example> tokenize(const std::vector<io::instruction_example>& examples,
                                                   const io::tokenizer& tokenizer) {
    std::vector<io::tokenized_example> out;
    out.reserve(examples.size());
    for (const auto& e : examples)
        out.push_back(io::tokenize_example(e, tokenizer, io::prompt_template::plain, 64));
    return out;
}

// What every run shares: the world, the tokenizer, and the held-out evaluation sets.
struct demo_data {
    explicit demo_data(const demo_config& config) : w(config.world) {}

    world w;
    std::unique_ptr<io::tokenizer> tokenizer;
    llama::llama_config model_config;
    std::set<std::string> held_out_problems;  // never in pretraining or fine-tuning text
    // The held-out facts (task 1), then the held-out problems (task 0), in the instruction format.
    std::vector<io::tokenized_example> instructions;
    std::vector<std::string> instruction_kind;  // "knowledge" or the problem's skill
    std::vector<io::tokenized_example> probe;   // the held-out facts in the pretraining format
};

inline std::vector<io::instruction_example> held_out_sets(const demo_config& config, demo_data& d,
                                                          std::vector<io::instruction_example>& probe) {
    std::vector<io::instruction_example> instructions;
    std::vector<fact> facts = d.w.facts_where(true);
    if (config.eval_facts > 0 && static_cast<index>(facts.size()) > config.eval_facts)
        facts.resize(static_cast<std::size_t>(config.eval_facts));
    for (const fact& f : facts) {
        instructions.push_back(prompt_answer(instruction(world::question(f)), world::value_word(f), 1));
        probe.push_back(prompt_answer(world::question(f) + " answer :", world::value_word(f), 1));
        d.instruction_kind.push_back("knowledge");
    }
    random_generator rng(config.seed, 4);
    for (skill s : skills)
        for (index i = 0; i < config.eval_problems;) {
            const skill_problem p = draw_problem(s, rng);
            if (!d.held_out_problems.insert(p.body).second) continue;
            instructions.push_back(prompt_answer(instruction(p.body), p.answer, 0));
            d.instruction_kind.push_back(skill_word(s));
            ++i;
        }
    return instructions;
}

// A word-level SentencePiece model (one piece per word of the world and the skills) in `folder`, and
// the config of a LLaMA over it.
inline llama::llama_config make_tokenizer(const demo_config& config, const world& w,
                                          const std::filesystem::path& folder) {
    std::vector<std::string> words = w.vocabulary();
    for (const auto& word : skill_vocabulary()) words.push_back(word);
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    io::train_sentencepiece({fmt::format("{}", fmt::join(words, " "))}, folder / "tokenizer.model",
                            {.vocab_size = static_cast<int>(words.size()) + 16,
                             .type = io::sentencepiece_model_type::word,
                             .byte_fallback = false,
                             .split_digits = false});
    llama::llama_config c;
    c.vocab_size = io::sentencepiece_tokenizer(folder / "tokenizer.model").vocab_size();
    c.hidden_size = config.hidden;
    c.intermediate_size = config.ffn;
    c.num_hidden_layers = config.layers;
    c.num_attention_heads = config.heads;
    c.num_key_value_heads = config.heads;
    c.head_dim = config.hidden / config.heads;
    c.rms_norm_eps = 1e-5;
    c.max_position_embeddings = 64;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    return c;
}

// Pretraining documents: every fact in three forms, cycled, and fresh skill problems in the raw format.
inline std::vector<io::instruction_example> pretraining_corpus(const demo_config& config,
                                                               const demo_data& d) {
    const std::vector<fact>& facts = d.w.facts();
    const index documents = config.pretrain_steps * config.pretrain_batch;
    const auto problems = static_cast<index>(config.pretrain_skill_share * static_cast<double>(documents));
    std::vector<io::instruction_example> corpus;
    corpus.reserve(static_cast<std::size_t>(documents));
    for (index i = 0; i < documents - problems; ++i) {
        const fact& f = facts[static_cast<std::size_t>(i / 3 % static_cast<index>(facts.size()))];
        corpus.push_back(raw_text(i % 3 == 0   ? world::statement(f)
                                  : i % 3 == 1 ? world::possessive(f)
                                               : world::question(f) + " answer : " + world::value_word(f)));
    }
    problem_source source(config.seed, d.held_out_problems);
    for (index i = 0; i < problems; ++i) corpus.push_back(raw_text(source.next().raw_text()));
    return corpus;
}

// Fine-tuning data of `size` units: skill instructions, and knowledge_share as many questions about
// the fine-tuning entities.
inline std::vector<io::instruction_example> finetuning_data(const demo_config& config, const demo_data& d,
                                                            index size) {
    std::vector<io::instruction_example> data;
    const index problems = config.unit * size;
    problem_source source(config.seed + 100 + static_cast<std::uint64_t>(size), d.held_out_problems);
    for (index i = 0; i < problems; ++i) {
        const skill_problem p = source.next();
        data.push_back(prompt_answer(instruction(p.body), p.answer, 0));
    }
    const std::vector<fact> known = d.w.facts_where(false);
    random_generator rng(config.seed + 200 + static_cast<std::uint64_t>(size), 6);
    const auto questions = static_cast<index>(config.knowledge_share * static_cast<double>(problems) + 0.5);
    for (index i = 0; i < questions && !known.empty(); ++i) {
        const fact& f = known[rng.below(known.size())];
        data.push_back(prompt_answer(instruction(world::question(f)), world::value_word(f), 1));
    }
    return data;
}

inline std::optional<moe::adapter_config> adapter_for(method m, const demo_config& config) {
    if (m == method::full) return std::nullopt;
    moe::adapter_config a;
    a.target_modules = {"gate_proj", "up_proj", "down_proj"};
    a.lbc_delta = config.lbc_delta;
    a.lbc_weight = m == method::loramoe_lbc ? config.lbc_weight : 0.0;
    if (m == method::loramoe || m == method::loramoe_lbc) {
        a.experts = config.experts;
        a.rank = config.rank;
        a.alpha = config.alpha;
        return a;
    }
    // One LoRA as large as all the experts together, at the experts' scaling alpha / r, or at 1/N of it.
    const double scaling = config.alpha / static_cast<double>(config.rank) /
                           (m == method::lora_scaled ? static_cast<double>(config.experts) : 1.0);
    a.router = false;
    a.experts = 1;
    a.rank = config.experts * config.rank;
    a.alpha = scaling * static_cast<double>(a.rank);
    return a;
}

template <class T>
std::pair<accuracies, std::vector<train::router_usage>> score(llama::llama_model<T>& model,
                                                              const demo_data& d) {
    const std::vector<std::int64_t> stop = {d.tokenizer->eos_id()};
    const auto main =
        train::evaluate(model, std::span<const io::tokenized_example>(d.instructions), d.tokenizer->pad_id(),
                        stop, {.batch_size = 64, .max_new_tokens = 8, .require_stop = true});
    const auto probe =
        train::evaluate(model, std::span<const io::tokenized_example>(d.probe), d.tokenizer->pad_id(), stop,
                        {.batch_size = 64, .max_new_tokens = 1, .require_stop = false});
    accuracies a;
    std::map<std::string, std::pair<index, index>> counts;  // kind -> (correct, total)
    for (std::size_t i = 0; i < d.instructions.size(); ++i) {
        auto& [correct, total] = counts[d.instruction_kind[i]];
        correct += main.correct[i] == 1;
        total += 1;
    }
    for (const auto& [kind, c] : counts) {
        const double accuracy = static_cast<double>(c.first) / static_cast<double>(c.second);
        if (kind == "knowledge")
            a.knowledge = accuracy;
        else
            a.skills[kind] = accuracy;
    }
    for (const auto& [kind, accuracy] : a.skills)
        a.downstream += accuracy / static_cast<double>(a.skills.size());
    a.knowledge_probe = probe.exact_match.accuracy();
    return {a, main.routers};
}

inline void check_sizes(const demo_config& config) {
    if (config.sizes.empty() || !std::ranges::is_sorted(config.sizes, std::ranges::less_equal{}) ||
        config.sizes.front() < 1)
        fail<value_error>("demo: the fine-tuning sizes must be positive and strictly increasing, got [{}]",
                          fmt::join(config.sizes, ", "));
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Trains until the trainer's epochs are done, showing progress; returns the last step's loss (0 when
// there was no step).
template <class T>
double train_to_end(train::trainer<T>& trainer, train::progress_display& progress) {
    double final_loss = 0;
    while (!trainer.finished()) {
        const auto report = trainer.train_step();
        progress.update(report);
        final_loss = report.loss;
    }
    return final_loss;
}

// A seeded HF-style initialisation: the norms' weights 1, every other weight drawn from N(0, 0.02^2).
template <class T>
void initialise_weights(llama::llama_model<T>& model, std::uint64_t seed) {
    random_generator init(seed, 5);
    for (const auto& t : model.layout().tensors()) {
        const bool norm = t.name.find("norm") != std::string::npos;
        for (index i = 0; i < t.size(); ++i)
            model.base().values()[t.offset + i] = norm ? T(1) : static_cast<T>(0.02 * init.normal());
    }
}

// The experiment's stages, in the order run_demo calls them, and what they share: the settings, the
// output folder, the log, the data, and the results they fill in.
template <scalar T>
class experiment {
public:
    experiment(const demo_config& config, const std::filesystem::path& out,
               const std::function<void(const std::string&)>& log)
        : config_(config), out_(out), base_dir_(out / "base-model"), log_(log), d_(config) {
        results_.config = config;
    }

    // The tokenizer, written to the base model's folder, and the held-out evaluation sets, tokenized.
    void prepare_data() {
        std::vector<io::instruction_example> probe;
        const auto instructions = held_out_sets(config_, d_, probe);
        std::filesystem::create_directories(base_dir_);
        d_.model_config = make_tokenizer(config_, d_.w, base_dir_);
        d_.tokenizer = io::load_tokenizer(base_dir_, d_.model_config);
        d_.instructions = tokenize(instructions, *d_.tokenizer);
        d_.probe = tokenize(probe, *d_.tokenizer);
        results_.vocabulary = d_.model_config.vocab_size;
    }

    // Pretraining, from a seeded HF-style initialisation; the result is saved as a HF folder.
    void pretrain() {
        llama::llama_model<T> model(d_.model_config, std::nullopt, {.train_base = true});
        initialise_weights(model, config_.seed);
        results_.parameters = model.layout().total();
        const auto corpus = pretraining_corpus(config_, d_);
        log_(fmt::format(
            "pretraining a LLaMA (d {}, {} layers, {} heads, ffn {}, vocabulary {}: {} parameters) on {} "
            "documents: the {} facts in three forms, and skill problems in a raw format",
            config_.hidden, config_.layers, config_.heads, config_.ffn, results_.vocabulary,
            results_.parameters, corpus.size(), d_.w.facts().size()));
        const auto t0 = std::chrono::steady_clock::now();
        train::trainer<T> trainer(model, tokenize(corpus, *d_.tokenizer), d_.tokenizer->pad_id(),
                                  {.epochs = 1,
                                   .batch_size = config_.pretrain_batch,
                                   .learning_rate = config_.pretrain_lr,
                                   .seed = config_.seed});
        train::progress_display progress("pretrain", 100);
        results_.pretrain_final_loss = train_to_end(trainer, progress);
        results_.pretrain_seconds = seconds_since(t0);
        io::save_hf_checkpoint(base_dir_, model);
    }

    // The base model, loaded back as a user's model would be.
    void score_base_model() {
        const auto base = io::load_pretrained<T>(base_dir_);
        results_.base = score(*base, d_).first;
        log_(
            fmt::format("base model: held-out knowledge {:.2f} (instruction format), {:.2f} (pretraining "
                        "format); skills in the instruction format {:.2f}",
                        results_.base.knowledge, results_.base.knowledge_probe, results_.base.downstream));
    }

    // Every method, each from the base model, on `size` units of fine-tuning data.
    void finetune_every_method(index size) {
        const auto data = tokenize(finetuning_data(config_, d_, size), *d_.tokenizer);
        for (const method_spec& m : methods) results_.runs.push_back(finetune(m, size, data));
    }

    // The results, with the time since the experiment began.
    demo_results finish() {
        results_.total_seconds = seconds_since(started_);
        return std::move(results_);
    }

private:
    // Fine-tunes the base model by `m` and scores it; keeps the LoRAMoE + LBC adapter of the largest
    // size.
    run_result finetune(const method_spec& m, index size, const std::vector<io::tokenized_example>& data) {
        ++run_number_;
        const auto adapter = adapter_for(m.id, config_);
        llama::llama_model<T> model(io::read_llama_config(base_dir_), adapter,
                                    {.train_base = m.id == method::full, .seed = config_.seed});
        io::load_base_weights(base_dir_, model);
        model.reset_adapters(config_.seed);
        const auto t0 = std::chrono::steady_clock::now();
        train::trainer<T> trainer(
            model, data, d_.tokenizer->pad_id(),
            {.epochs = 1,
             .batch_size = config_.finetune_batch,
             .learning_rate = m.id == method::full ? config_.full_lr : config_.adapter_lr,
             .seed = config_.seed});
        const index total_runs = static_cast<index>(config_.sizes.size() * methods.size());
        train::progress_display progress(fmt::format("[{}/{}] {} {}x", run_number_, total_runs, m.key, size),
                                         200);
        run_result r;
        r.method = m.key;
        r.size = size;
        r.examples = static_cast<index>(data.size());
        r.final_loss = train_to_end(trainer, progress);
        r.seconds = seconds_since(t0);
        auto [scores, routers] = score(model, d_);
        r.scores = scores;
        r.routers = std::move(routers);
        log_(fmt::format("{} {}x ({} examples, {:.0f}s): knowledge {:.2f}, probe {:.2f}, skills {:.2f}",
                         m.key, size, data.size(), r.seconds, r.scores.knowledge, r.scores.knowledge_probe,
                         r.scores.downstream));
        if (m.id == method::loramoe_lbc && size == config_.sizes.back())
            io::save_adapter(out_ / "adapter-loramoe-lbc", model);
        return r;
    }

    const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    const demo_config& config_;
    const std::filesystem::path out_, base_dir_;
    const std::function<void(const std::string&)>& log_;
    demo_data d_;
    demo_results results_;
    index run_number_ = 0;  // in [1, sizes x methods]: the progress display's count
};

}  // namespace detail

// Runs the experiment in `out` (the base model goes to out/base-model, the LoRAMoE + LBC adapter of the
// largest size to out/adapter-loramoe-lbc); `log` receives a line per stage.
template <scalar T = float>
demo_results run_demo(const demo_config& config, const std::filesystem::path& out,
                      const std::function<void(const std::string&)>& log) {
    detail::check_sizes(config);
    detail::experiment<T> experiment(config, out, log);
    experiment.prepare_data();
    experiment.pretrain();
    experiment.score_base_model();
    for (index size : config.sizes) experiment.finetune_every_method(size);
    return experiment.finish();
}

}  // namespace loramoe::demo
