// Training at the library level, on a tiny HF folder with a SentencePiece tokenizer (training_fixture.hpp):
//  - LoRAMoE adapters (paper defaults) lower the evaluation loss below a stated fraction of the base
//    model's, and the same run at learning rate 0 does not (so the margin can fail);
//  - save_trained, then load_pretrained from the folders, evaluates bit-identically (loss, router
//    statistics, generated tokens);
//  - a run stopped after k steps, checkpointed, and resumed into a new model and trainer ends with the
//    same bytes as an uninterrupted run: with gradient accumulation, with lora_dropout (the masks are
//    those of the micro-batch), and in full fine-tuning (the checkpoint holds the base weights);
//  - read_checkpoint refuses other data, options, adapters, precision or dropout seed (value_error)
//    and a missing checkpoint (io_error);
//  - a plain LoRA trains and round-trips with PEFT's tensor names;
//  - warmup_cosine and adamw against HuggingFace's and PyTorch's numbers.

#include "test_support.hpp"
#include "train/training_fixture.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <loramoe/io/adapter.hpp>
#include <loramoe/io/pretrained.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/train/adamw.hpp>
#include <loramoe/train/checkpoint.hpp>
#include <loramoe/train/evaluation.hpp>
#include <loramoe/train/schedule.hpp>
#include <loramoe/train/trainer.hpp>

namespace test_training {

namespace fs = std::filesystem;
using namespace loramoe;
using loramoe::index;  // not strings.h's index()
using training_fixture::task_fixture;

// The paper's adapter: N = 6 experts of rank 4, alpha 32, on gate/up/down_proj, LBC weight 0.1.
moe::adapter_config paper_adapter(double dropout = 0) {
    moe::adapter_config a;
    a.experts = 6;
    a.rank = 4;
    a.alpha = 32;
    a.lbc_delta = 0.1;
    a.lbc_weight = 0.1;
    a.dropout = dropout;
    return a;
}

moe::adapter_config plain_lora() {
    moe::adapter_config a = paper_adapter();
    a.router = false;
    a.experts = 1;
    return a;
}

// A model as the train command builds it: the fixture's base weights, adapters initialised from `init_seed`.
template <class T>
std::unique_ptr<llama::llama_model<T>> fresh_model(const task_fixture& f,
                                                   const std::optional<moe::adapter_config>& adapter,
                                                   llama::model_options options = {},
                                                   std::uint64_t init_seed = 1) {
    auto model = std::make_unique<llama::llama_model<T>>(f.config, adapter, options);
    io::load_base_weights(f.model_dir, *model);
    model->reset_adapters(init_seed);
    return model;
}

// Runs the trainer to its end; returns the last step's report.
template <class T>
train::step_report train_to_end(train::trainer<T>& run) {
    train::step_report last;
    while (!run.finished()) last = run.train_step();
    return last;
}

template <class T>
train::evaluation_result evaluate(llama::llama_model<T>& model, const task_fixture& f, bool generate) {
    const std::vector<std::int64_t> stop = {f.tokenizer->eos_id()};
    return train::evaluate(model, std::span<const io::tokenized_example>(f.examples), f.pad_id(), stop,
                           {.batch_size = 16, .max_new_tokens = 8, .exact_match = generate});
}

// The bytes of two buffers are the same (no tolerance: a resumed run must be exact).
template <class T>
bool same_bytes(const tensor<T, cpu>& a, const tensor<T, cpu>& b) {
    return a.size() == b.size() &&
           (a.size() == 0 ||
            std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(T)) == 0);
}

// The options of the learning runs: 20 epochs of 8 batches of 8 (160 updates), warm-up then cosine
// decay. At lr 1e-2 the evaluation loss falls from about 4.3 to about 1.1 (a quarter of the base's).
train::training_options learning_options(double lr) {
    return {.epochs = 20,
            .batch_size = 8,
            .learning_rate = lr,
            .warmup_ratio = 0.1,
            .max_grad_norm = 1.0,
            .seed = 3};
}

// The options of the resume runs, with gradient accumulation: 64 examples in batches of 6 are 11
// micro-batches per epoch (the last of 4 examples), so 6 updates per epoch, the last of a single
// micro-batch; 2 epochs, 12 updates. Weight decay on, so that every AdamW term takes part.
train::training_options resume_options() {
    return {.epochs = 2,
            .batch_size = 6,
            .gradient_accumulation = 2,
            .learning_rate = 5e-3,
            .warmup_ratio = 0.2,
            .weight_decay = 0.01,
            .seed = 9};
}

// The files of a folder, sorted.
std::vector<std::string> files_of(const fs::path& folder) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

// Run A goes through uninterrupted. Run B stops after `stop_after` updates and writes a checkpoint
// (twice: after update stop_after - 1, then over it), and is dropped. Run C is a new model, with
// another adapter initialisation (the weights must come from the checkpoint), and a new trainer; it
// reads the checkpoint and finishes. A and C must end with the same bytes and the same last losses.
// With dropout, run D resumes like C after moving the adapters' own dropout counts, and must end the
// same: the trainer draws each micro-batch's masks from its index.
template <class T>
void check_exact_resume(const task_fixture& f, const std::optional<moe::adapter_config>& adapter,
                        llama::model_options model_options, index stop_after) {
    CAPTURE(stop_after);
    const auto options = resume_options();
    auto a = fresh_model<T>(f, adapter, model_options);
    train::trainer<T> run_a(*a, f.examples, f.pad_id(), options);
    REQUIRE(run_a.total_steps() == 12);
    REQUIRE(stop_after < run_a.total_steps());
    const auto last_a = train_to_end(run_a);

    const fs::path checkpoint = f.dir / fmt::format("checkpoint-{}", stop_after);
    {
        auto b = fresh_model<T>(f, adapter, model_options);
        train::trainer<T> run_b(*b, f.examples, f.pad_id(), options);
        for (index s = 0; s < stop_after; ++s) {
            run_b.train_step();
            if (run_b.step() >= stop_after - 1) train::write_checkpoint(checkpoint, *b, run_b);
        }
        REQUIRE(run_b.step() == stop_after);
    }
    std::vector<std::string> expected_files = {"optimizer.safetensors", "trainer_state.json"};
    if (adapter)
        expected_files.insert(expected_files.end(), {"adapter_config.json", "adapter_model.safetensors"});
    if (model_options.train_base)
        expected_files.insert(expected_files.end(), {"config.json", "model.safetensors"});
    std::sort(expected_files.begin(), expected_files.end());
    CHECK(files_of(checkpoint) == expected_files);
    for (const auto& name : files_of(f.dir.path()))  // no half-written or replaced copy left beside it
        CHECK_MESSAGE((name.find(".new") == std::string::npos && name.find(".old") == std::string::npos),
                      name);

    auto c = fresh_model<T>(f, adapter, model_options, /*init_seed=*/77);
    train::trainer<T> run_c(*c, f.examples, f.pad_id(), options);
    train::read_checkpoint(checkpoint, *c, run_c);
    CHECK(run_c.step() == stop_after);
    const auto last_c = train_to_end(run_c);
    CHECK(same_bytes(to_host(c->adapters().values()), to_host(a->adapters().values())));
    CHECK(same_bytes(to_host(c->base().values()), to_host(a->base().values())));
    CHECK(last_c.step == last_a.step);
    CHECK(last_c.loss == last_a.loss);
    CHECK(last_c.ce == last_a.ce);
    CHECK(last_c.lbc == last_a.lbc);
    CHECK(last_c.grad_norm == last_a.grad_norm);
    CHECK(last_c.learning_rate == last_a.learning_rate);

    if (adapter && adapter->dropout > 0) {
        // The trainer keys the masks by micro-batch: what the adapters drew before does not matter.
        auto d = fresh_model<T>(f, adapter, model_options, /*init_seed=*/77);
        train::trainer<T> run_d(*d, f.examples, f.pad_id(), options);
        train::read_checkpoint(checkpoint, *d, run_d);
        d->for_each_adapter([](const std::string&, auto& layer) { layer.set_dropout_calls(1000); });
        train_to_end(run_d);
        CHECK(same_bytes(to_host(d->adapters().values()), to_host(a->adapters().values())));
    }
}

// The stated margin: trained adapters must bring the evaluation loss to at most this fraction of the
// base model's.
constexpr double loss_fraction = 0.5;

}  // namespace test_training

TEST_SUITE("train") {
    TEST_CASE("train: LoRAMoE adapters lower the evaluation loss below half the base model's") {
        using namespace test_training;
        const task_fixture f;
        // The fixture's tokenizer is the SentencePiece model in the folder, and sizes the model.
        CHECK(f.tokenizer->name().find("SentencePiece") != std::string::npos);
        CHECK(f.config.vocab_size == f.tokenizer->vocab_size());
        CHECK(f.config.vocab_size < 64);

        for (double lr : {0.0, 1e-2}) {
            CAPTURE(lr);
            auto model = fresh_model<float>(f, paper_adapter());
            const double base_loss = evaluate(*model, f, false).loss;  // B = 0: the adapters add nothing yet
            train::trainer<float> run(*model, f.examples, f.pad_id(), learning_options(lr));
            CHECK(run.total_steps() == 20 * 8);
            const auto last = train_to_end(run);
            const double trained_loss = evaluate(*model, f, false).loss;
            MESSAGE("lr ", lr, ": evaluation loss ", base_loss, " -> ", trained_loss, " (last step: loss ",
                    last.loss, " ce ", last.ce, " lbc ", last.lbc, ")");
            CHECK(std::isfinite(trained_loss));
            if (lr > 0) {
                CHECK(trained_loss <= loss_fraction * base_loss);
            } else {
                // Nothing learned: the margin above is not met by a run that does nothing.
                CHECK(trained_loss == base_loss);
                CHECK_FALSE(trained_loss <= loss_fraction * base_loss);
            }
        }
    }

    TEST_CASE("train: adapters saved, reloaded from the folders, evaluate bit-identically") {
        using namespace test_training;
        const task_fixture f;
        auto model = fresh_model<float>(f, paper_adapter());
        train::trainer<float> run(*model, f.examples, f.pad_id(), learning_options(1e-2));
        train_to_end(run);
        const auto in_memory = evaluate(*model, f, true);

        const fs::path adapter_dir = f.dir / "adapter";
        train::save_trained(adapter_dir, *model);
        CHECK(files_of(adapter_dir) ==
              std::vector<std::string>{"adapter_config.json", "adapter_model.safetensors"});
        CHECK(io::to_json(io::read_adapter_config(adapter_dir)) == io::to_json(paper_adapter()));
        // 2 layers x {gate, up, down}_proj, each with 6 lora_A{e}, 6 lora_B{e} and a lora_route.
        const io::safetensors_reader saved(adapter_dir / "adapter_model.safetensors");
        CHECK(saved.entries().size() == 2 * 3 * (6 + 6 + 1));
        CHECK(saved.contains("base_model.model.model.layers.1.mlp.down_proj.lora_A5.weight"));
        CHECK(saved.contains("base_model.model.model.layers.0.mlp.gate_proj.lora_route.weight"));

        const auto loaded = io::load_pretrained<float>(f.model_dir, adapter_dir);
        CHECK(same_bytes(loaded->adapters().values(), model->adapters().values()));
        CHECK(same_bytes(loaded->base().values(), model->base().values()));
        const auto reloaded = evaluate(*loaded, f, true);

        CHECK(reloaded.loss == in_memory.loss);
        CHECK(reloaded.counted_tokens == in_memory.counted_tokens);
        CHECK(reloaded.predictions == in_memory.predictions);
        CHECK(reloaded.correct == in_memory.correct);
        CHECK(reloaded.to_json() == in_memory.to_json());
        REQUIRE(reloaded.routers.size() == in_memory.routers.size());
        CHECK(in_memory.routers.size() == 6);
        for (std::size_t i = 0; i < in_memory.routers.size(); ++i) {
            const auto &want = in_memory.routers[i], &got = reloaded.routers[i];
            CAPTURE(want.module);
            CHECK(got.module == want.module);
            CHECK(got.expert_types == want.expert_types);
            CHECK(got.mean_gate == want.mean_gate);  // bit-identical doubles
            CHECK(got.tokens == want.tokens);
            REQUIRE(want.mean_gate.size() == 2);  // task types 0 and 1
            for (const auto& [task_type, gates] : want.mean_gate) {
                const std::int64_t task = task_type;
                CAPTURE(task);
                CHECK(gates.size() == 6);
                CHECK(std::accumulate(gates.begin(), gates.end(), 0.0) == doctest::Approx(1.0).epsilon(1e-5));
            }
        }
        CHECK(reloaded.router_json() == in_memory.router_json());
        // Generation ran, and the trained adapters solve some of the task.
        CHECK(in_memory.exact_match.total == static_cast<loramoe::index>(f.examples.size()));
        CHECK(in_memory.exact_match.correct > 0);
        MESSAGE("exact match after training: ", in_memory.exact_match.correct, "/",
                in_memory.exact_match.total);
    }

    TEST_CASE_TEMPLATE(
        "train: a LoRAMoE run resumed from a checkpoint ends as the uninterrupted one (accumulation, "
        "dropout)",
        T, float, double) {
        using namespace test_training;
        const task_fixture f;
        for (loramoe::index stop_after : {3, 6, 8})  // within epoch 0, at the epoch boundary, within epoch 1
            check_exact_resume<T>(f, paper_adapter(/*dropout=*/0.1), {.seed = 4}, stop_after);
    }

    TEST_CASE_TEMPLATE("train: full fine-tuning resumes exactly, the checkpoint holding the base weights", T,
                       float, double) {
        using namespace test_training;
        const task_fixture f;
        SUBCASE("every base weight, no adapter") {
            check_exact_resume<T>(f, std::nullopt, {.train_base = true}, 7);
        }
        SUBCASE("every base weight and LoRAMoE adapters with dropout") {
            check_exact_resume<T>(f, paper_adapter(0.1), {.train_base = true, .seed = 4}, 7);
        }
    }

    TEST_CASE(
        "train: read_checkpoint refuses other data, options, adapters or precision, and a missing "
        "checkpoint") {
        using namespace test_training;
        const task_fixture f;
        const auto options = resume_options();
        const fs::path checkpoint = f.dir / "checkpoint";
        {
            auto model = fresh_model<float>(f, paper_adapter());
            train::trainer<float> run(*model, f.examples, f.pad_id(), options);
            run.train_step();
            run.train_step();
            train::write_checkpoint(checkpoint, *model, run);
        }
        const std::string state_before = loramoe::test::read_file(checkpoint / "trainer_state.json");

        // A refused resume leaves the model and the trainer as they were.
        auto check_refused = [&](auto& model, auto& run, const char* what) {
            CAPTURE(what);
            const auto before = to_host(model.adapters().values());
            CHECK_THROWS_NAMING(value_error, train::read_checkpoint(checkpoint, model, run),
                                checkpoint.string(), "other data, options or model", "cannot resume");
            CHECK(run.step() == 0);
            CHECK(same_bytes(to_host(model.adapters().values()), before));
        };
        {
            auto examples = f.examples;
            examples.pop_back();
            auto model = fresh_model<float>(f, paper_adapter());
            train::trainer<float> run(*model, examples, f.pad_id(), options);
            check_refused(*model, run, "one example fewer");
        }
        {
            auto examples = f.examples;
            examples[10].task_type = 1 - examples[10].task_type;
            auto model = fresh_model<float>(f, paper_adapter());
            train::trainer<float> run(*model, examples, f.pad_id(), options);
            check_refused(*model, run, "one task type changed");
        }
        {
            auto other = options;
            other.learning_rate = 1e-3;
            auto model = fresh_model<float>(f, paper_adapter());
            train::trainer<float> run(*model, f.examples, f.pad_id(), other);
            check_refused(*model, run, "another learning rate");
        }
        {
            auto other = options;
            other.seed = 10;
            auto model = fresh_model<float>(f, paper_adapter());
            train::trainer<float> run(*model, f.examples, f.pad_id(), other);
            check_refused(*model, run, "another shuffling seed");
        }
        {
            auto adapter = paper_adapter();
            adapter.rank = 8;
            auto model = fresh_model<float>(f, adapter);
            train::trainer<float> run(*model, f.examples, f.pad_id(), options);
            check_refused(*model, run, "another adapter rank");
        }
        {
            auto model = fresh_model<double>(f, paper_adapter());
            train::trainer<double> run(*model, f.examples, f.pad_id(), options);
            check_refused(*model, run, "double instead of float");
        }
        {
            auto model = fresh_model<float>(f, paper_adapter());
            train::trainer<float> run(*model, f.examples, f.pad_id(), options);
            CHECK_THROWS_NAMING(io_error, train::read_checkpoint(f.dir / "nowhere", *model, run), "nowhere",
                                "trainer_state.json", "no checkpoint");
            // The same inputs resume: the refusals above are about what differed.
            train::read_checkpoint(checkpoint, *model, run);
            CHECK(run.step() == 2);
        }
        CHECK(loramoe::test::read_file(checkpoint / "trainer_state.json") == state_before);
    }

    TEST_CASE(
        "train: a loss or gradient that is not finite stops training before the weights change, or is "
        "skipped") {
        using namespace test_training;
        const task_fixture f;
        auto options = resume_options();  // 12 steps
        options.learning_rate = 1e30;     // step 1 moves every adapter weight by about 1e30: step 2 overflows
        options.warmup_ratio = 0;
        auto model = fresh_model<float>(f, paper_adapter());
        train::trainer<float> run(*model, f.examples, f.pad_id(), options);
        REQUIRE_FALSE(run.train_step().skipped);
        const auto after_first = to_host(model->adapters().values());
        for (float v : after_first.span()) REQUIRE(std::isfinite(v));
        CHECK_THROWS_WITH_AS(run.train_step(), doctest::Contains("train: at step 2/12 the loss ("),
                             value_error);
        CHECK(same_bytes(to_host(model->adapters().values()), after_first));  // the weights of step 1

        options.skip_nonfinite = true;
        auto skipping = fresh_model<float>(f, paper_adapter());
        train::trainer<float> skipper(*skipping, f.examples, f.pad_id(), options);
        const auto last = train_to_end(skipper);
        CHECK(last.skipped);
        CHECK(last.skipped_steps == 11);
        CHECK(same_bytes(to_host(skipping->adapters().values()), after_first));

        // Where a gradient is not finite: the adapter whose slice holds the first such value.
        CHECK(skipper.nonfinite_gradients().find("the gradient of model.layers.0.") == 0);  // the last step's
        auto& grads = skipping->adapters().grads();
        grads.fill_with(0.0f);
        CHECK(skipper.nonfinite_gradients() == "");
        grads[grads.size() - 1] = std::numeric_limits<float>::infinity();
        CHECK(skipper.nonfinite_gradients() ==
              "the gradient of model.layers.1.mlp.down_proj's adapter (inf)");
    }

    TEST_CASE("train: recover_checkpoint and remove_stray_temporaries clear what killed writes left") {
        using namespace test_training;
        test::temporary_directory dir;
        const fs::path checkpoint = dir / "checkpoint";
        auto folder_with = [](const fs::path& folder, const std::string& text) {
            fs::create_directories(folder);
            test::write_file(folder / "trainer_state.json", text);
        };
        // Killed between the fallback's two renames: the old checkpoint comes back, the new is dropped.
        folder_with(dir / "checkpoint.old.12", "old");
        folder_with(dir / "checkpoint.new.12", "new, complete but not yet in place");
        folder_with(dir / "checkpoint.done.7", "a finished run's, half removed");
        folder_with(dir / "checkpoint.new.x", "not ours: kept");
        test::write_file(dir / "adapter_model.safetensors.tmp.12.0", "half a file");
        test::write_file(dir / "notes.tmp.txt", "not ours: kept");
        train::recover_checkpoint(checkpoint);
        CHECK(test::read_file(checkpoint / "trainer_state.json") == "old");
        CHECK(io::remove_stray_temporaries(dir.path()) == 1);
        CHECK(files_of(dir.path()) ==
              std::vector<std::string>{"checkpoint", "checkpoint.new.x", "notes.tmp.txt"});

        // A half-written new one beside a complete checkpoint: removed, the checkpoint kept.
        folder_with(dir / "checkpoint.new.13", "half");
        folder_with(dir / "checkpoint.old.14", "older");
        train::recover_checkpoint(checkpoint);
        CHECK(test::read_file(checkpoint / "trainer_state.json") == "old");
        CHECK(files_of(dir.path()) ==
              std::vector<std::string>{"checkpoint", "checkpoint.new.x", "notes.tmp.txt"});

        // remove_checkpoint leaves nothing under the name.
        train::remove_checkpoint(checkpoint);
        CHECK(files_of(dir.path()) == std::vector<std::string>{"checkpoint.new.x", "notes.tmp.txt"});
    }

    TEST_CASE("train: read_checkpoint refuses a model with another dropout seed") {
        using namespace test_training;
        // model_options::seed draws the adapters' dropout masks, so it determines the run as much as the
        // shuffling seed does; a resume with another one would silently end elsewhere.
        const task_fixture f;
        const auto options = resume_options();
        const fs::path checkpoint = f.dir / "checkpoint";
        {
            auto model = fresh_model<float>(f, paper_adapter(0.1), {.seed = 4});
            train::trainer<float> run(*model, f.examples, f.pad_id(), options);
            run.train_step();
            train::write_checkpoint(checkpoint, *model, run);
        }
        auto model = fresh_model<float>(f, paper_adapter(0.1), {.seed = 5});
        train::trainer<float> run(*model, f.examples, f.pad_id(), options);
        CHECK_THROWS_NAMING(value_error, train::read_checkpoint(checkpoint, *model, run), checkpoint.string(),
                            "cannot resume");
    }

    TEST_CASE("train: a plain LoRA trains and round-trips with PEFT's lora_A / lora_B names") {
        using namespace test_training;
        const task_fixture f;
        auto model = fresh_model<float>(f, plain_lora());
        const double base_loss = evaluate(*model, f, false).loss;
        train::trainer<float> run(*model, f.examples, f.pad_id(), learning_options(1e-2));
        const auto last = train_to_end(run);
        CHECK(last.lbc == 0);  // no router, no balancing loss
        const auto in_memory = evaluate(*model, f, true);
        MESSAGE("plain LoRA: evaluation loss ", base_loss, " -> ", in_memory.loss);
        CHECK(in_memory.loss <= loss_fraction * base_loss);
        CHECK(in_memory.routers.empty());

        const fs::path adapter_dir = f.dir / "lora";
        train::save_trained(adapter_dir, *model);
        const auto config = io::read_json_file(adapter_dir / "adapter_config.json");
        CHECK_FALSE(config.contains("lora_nums"));
        CHECK(config.at("r") == 4);
        const io::safetensors_reader saved(adapter_dir / "adapter_model.safetensors");
        CHECK(saved.entries().size() == 2 * 3 * 2);
        for (const auto& e : saved.entries()) {
            CAPTURE(e.name);
            CHECK(e.name.starts_with("base_model.model.model.layers."));
            CHECK((e.name.ends_with(".lora_A.weight") || e.name.ends_with(".lora_B.weight")));
            CHECK(e.shape == (e.name.ends_with(".lora_A.weight")
                                  ? shape_type{4, e.name.find("down_proj") != std::string::npos ? 64 : 32}
                                  : shape_type{e.name.find("down_proj") != std::string::npos ? 32 : 64, 4}));
        }

        const auto loaded = io::load_pretrained<float>(f.model_dir, adapter_dir);
        REQUIRE(loaded->adapter_config());
        CHECK_FALSE(loaded->adapter_config()->router);
        CHECK(loaded->adapter_config()->experts == 1);
        CHECK(same_bytes(loaded->adapters().values(), model->adapters().values()));
        const auto reloaded = evaluate(*loaded, f, true);
        CHECK(reloaded.loss == in_memory.loss);
        CHECK(reloaded.predictions == in_memory.predictions);
        CHECK(reloaded.to_json() == in_memory.to_json());
    }

    TEST_CASE("train: warmup_cosine is HuggingFace's get_cosine_schedule_with_warmup, in the trainer too") {
        using namespace test_training;
        // /usr/bin/python3, transformers 4.35.2:
        //   opt = torch.optim.SGD([p], lr=1e-3)
        //   s = get_cosine_schedule_with_warmup(opt, num_warmup_steps=3, num_training_steps=10)
        //   for i in range(11): lrs.append(opt.param_groups[0]['lr']); opt.step(); s.step()
        const std::vector<double> hf = {0.0,
                                        0.0003333333333333333,
                                        0.0006666666666666666,
                                        0.001,
                                        0.0009504844339512095,
                                        0.0008117449009293668,
                                        0.0006112604669781572,
                                        0.00038873953302184284,
                                        0.00018825509907063325,
                                        4.9515566048790485e-05,
                                        0.0};
        const train::warmup_cosine schedule{1e-3, 3, 10};
        std::vector<double> ours;
        for (loramoe::index step = 0; step <= 10; ++step) ours.push_back(schedule(step));
        loramoe::test::expect_close(ours, hf, 1e-18, 1e-14);

        // The trainer's updates 0..9 use these rates: 64 examples in batches of 32 are 2 updates per
        // epoch, 5 epochs are 10, and a warm-up ratio of 0.25 is ceil(2.5) = 3 warm-up steps.
        const task_fixture f;
        auto model = fresh_model<float>(f, paper_adapter());
        train::trainer<float> run(
            *model, f.examples, f.pad_id(),
            {.epochs = 5, .batch_size = 32, .learning_rate = 1e-3, .warmup_ratio = 0.25});
        REQUIRE(run.total_steps() == 10);
        std::vector<double> used;
        while (!run.finished()) used.push_back(run.train_step().learning_rate);
        loramoe::test::expect_close(used, std::vector<double>(hf.begin(), hf.begin() + 10), 1e-18, 1e-14);
    }

    TEST_CASE_TEMPLATE("train: adamw takes PyTorch's AdamW steps", T, float, double) {
        using namespace test_training;
        // /usr/bin/python3, torch 1.13, in float64:
        //   p = torch.nn.Parameter(torch.tensor([0.5, -1.25, 2.0, 0.0]))
        //   opt = torch.optim.AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        //   for g in ([0.2, -0.4, 1e-3, 3.0], [-0.1, 0.5, 2e-3, 3.0]):
        //       opt.zero_grad(); p.grad = torch.tensor(g); opt.step()
        //       print(p.tolist(), opt.state[p]['exp_avg'].tolist(), opt.state[p]['exp_avg_sq'].tolist())
        // By hand, step 1: m = 0.1 g, v = 0.001 g^2, so m_hat = g and v_hat = g^2, and
        // p = p (1 - 0.1 * 0.01) - 0.1 * g / (|g| + 1e-8): 0.5 * 0.999 - 0.1 = 0.3995 (less 5e-9).
        const std::vector<std::vector<double>> gradients = {{0.2, -0.4, 1e-3, 3.0}, {-0.1, 0.5, 2e-3, 3.0}};
        const std::vector<std::vector<double>> parameters = {
            {0.39950000499999977, -1.1487500025, 1.89800099999, -0.09999999966666667},
            {0.37246680271367577, -1.1638744783050698, 1.7995854067470949, -0.19989999933366598}};
        const std::vector<std::vector<double>> first_moments = {
            {0.019999999999999997, -0.039999999999999994, 9.999999999999998e-05, 0.29999999999999993},
            {0.008, 0.013999999999999992, 0.00028999999999999995, 0.5699999999999998}};
        const std::vector<std::vector<double>> second_moments = {
            {4.0000000000000044e-05, 0.00016000000000000018, 1.000000000000001e-09, 0.009000000000000008},
            {4.996000000000006e-05, 0.0004098400000000004, 4.999000000000005e-09, 0.017991000000000014}};

        // In float32 (dtype=torch.float32, foreach=False) PyTorch stays within 1e-7 (relative) of these
        // float64 numbers, since it forms 1 - beta in double: its step 1 gives exp_avg_sq[3] =
        // 0.008999999612569809 and p[3] = -0.10000000149011612. Float must meet them to 1e-6.
        const double rel = std::is_same_v<T, float> ? 1e-6 : 1e-13;
        parameter_buffer<T> p(4);
        const std::vector<double> start = {0.5, -1.25, 2.0, 0.0};
        for (loramoe::index i = 0; i < 4; ++i)
            p.values()[i] = static_cast<T>(start[static_cast<std::size_t>(i)]);
        train::adamw<T> optimizer(
            p, {.lr = 0.5, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01});
        for (std::size_t t = 0; t < gradients.size(); ++t) {
            CAPTURE(t);
            for (loramoe::index i = 0; i < 4; ++i)
                p.grads()[i] = static_cast<T>(gradients[t][static_cast<std::size_t>(i)]);
            optimizer.step(0.1);  // the step's rate, not the constructor's
            CHECK(optimizer.steps() == static_cast<loramoe::index>(t + 1));
            loramoe::test::expect_close(p.values(), parameters[t], 1e-12, rel);
            loramoe::test::expect_close(optimizer.first_moment(), first_moments[t], 1e-15, rel);
            loramoe::test::expect_close(optimizer.second_moment(), second_moments[t], 1e-18, rel);
        }

        parameter_buffer<T> frozen(4, /*with_grads=*/false);
        CHECK_THROWS_NAMING(value_error, (train::adamw<T>(frozen, {})), "adamw", "no gradients");
    }

}  // TEST_SUITE("train")
