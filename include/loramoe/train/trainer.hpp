#pragma once
// Supervised fine-tuning of a LLaMA with LoRAMoE adapters (or a plain LoRA, or every weight), as the
// official LoRAMoE script trains: AdamW on the trainable tensors only, linear warm-up then cosine
// decay, gradient accumulation, global-norm clipping, seeded shuffling.
//
// A step is `gradient_accumulation` micro-batches of `batch_size` examples from one epoch's seeded
// order; the gradients of the micro-batches are averaged, clipped to max_grad_norm, and applied.
// Everything a step does is a function of (seed, step), so a run resumed from a checkpoint
// (save_state / load_state) ends with the same weights as an uninterrupted one.
//
// Data parallelism: given the communicator of K ranks, each rank computes its part of every
// micro-batch (samples [n r / K, n (r + 1) / K) of its n), the LBC sums its statistics over the ranks
// (moe/balance/lbc.hpp), and the gradients are summed over the ranks once per step, so every rank
// applies the one-process update and holds the one-process weights (up to the order of the sums).
// A token's dropout masks are keyed by its micro-batch, sample and position, not by a rank's stream,
// so the result does not depend on K, and a checkpoint resumes under any K.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/communicator.hpp>
#include <loramoe/core/random.hpp>
#include <loramoe/io/adapter_config_json.hpp>
#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/io/safetensors.hpp>
#include <loramoe/llama/model.hpp>
#include <loramoe/train/adamw.hpp>
#include <loramoe/train/batching.hpp>
#include <loramoe/train/rank_agreement.hpp>
#include <loramoe/train/schedule.hpp>

namespace loramoe::train {

struct training_options {
    index epochs = 1;
    index batch_size = 8;
    index gradient_accumulation = 1;
    double learning_rate = 2e-4;
    double warmup_ratio = 0.03;  // of the total steps (the official script's 0.03)
    double weight_decay = 0.0;
    double max_grad_norm = 1.0;  // 0: no clipping
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    std::uint64_t seed = 42;
    // A step whose loss or gradient is not finite (NaN, Inf): false stops training with an error naming
    // the step and where it appeared, before the weights change; true skips the step (no update),
    // counted in step_report::skipped_steps. Not part of the run's fingerprint: a run stopped by a NaN
    // may resume with it.
    bool skip_nonfinite = false;
};

struct step_report {
    index step = 0;  // updates done, this one included
    index total_steps = 0;
    index epoch = 0;  // 0-based epoch of this step
    double loss = 0;  // mean over the step's micro-batches (of the whole batches, under data parallelism)
    double ce = 0;
    double lbc = 0;
    double learning_rate = 0;
    double grad_norm = 0;     // before clipping
    index tokens = 0;         // real tokens processed by the step (by all ranks)
    double seconds = 0;       // wall time of the step
    bool skipped = false;     // not finite: no update (training_options::skip_nonfinite)
    index skipped_steps = 0;  // skipped so far in the run, this one included
};

template <scalar T, backend Backend = cpu>
class trainer {
public:
    using model_type = llama::llama_model<T, Backend>;

    // Trains what the model has trainable: its adapters, or its base weights (train_base), or both;
    // this process as one of the ranks of `ranks` (each holding the same model and examples).
    trainer(model_type& model, std::vector<io::tokenized_example> examples, std::int64_t pad_id,
            training_options options, communicator_ref ranks = {})
        : model_(&model), examples_(std::move(examples)), pad_id_(pad_id), options_(options), ranks_(ranks) {
        if (examples_.empty()) fail<value_error>("train: no training examples");
        if (options.epochs <= 0 || options.batch_size <= 0 || options.gradient_accumulation <= 0)
            fail<value_error>("train: epochs, batch size and gradient accumulation must be positive");
        if (!(options.learning_rate >= 0) || !(options.max_grad_norm >= 0) ||
            !(options.warmup_ratio >= 0 && options.warmup_ratio <= 1))
            fail<value_error>(
                "train: learning rate, max grad norm and warm-up ratio must be non-negative (ratio <= 1)");
        const adamw_hyperparameters h{options.learning_rate, options.beta1, options.beta2, options.eps,
                                      options.weight_decay};
        if (model.adapters().size() > 0) trainables_.push_back(&model.adapters());
        if (model.base().has_grads()) trainables_.push_back(&model.base());
        if (trainables_.empty())
            fail<value_error>("train: the model has nothing trainable (no adapter, base frozen)");
        for (auto* buffer : trainables_) optimizers_.emplace_back(*buffer, h);
        batches_per_epoch_ =
            (static_cast<index>(examples_.size()) + options.batch_size - 1) / options.batch_size;
        steps_per_epoch_ =
            (batches_per_epoch_ + options.gradient_accumulation - 1) / options.gradient_accumulation;
        schedule_ = {options.learning_rate,
                     static_cast<index>(std::ceil(options.warmup_ratio * static_cast<double>(total_steps()))),
                     total_steps()};
    }

    index total_steps() const { return options_.epochs * steps_per_epoch_; }
    index step() const { return step_; }
    bool finished() const { return step_ >= total_steps(); }
    const training_options& options() const { return options_; }
    const communicator_ref& ranks() const { return ranks_; }

    // One optimizer update.
    step_report train_step() {
        if (finished()) fail<error>("train: all {} steps are done", total_steps());
        const auto start = std::chrono::steady_clock::now();
        const index epoch = step_ / steps_per_epoch_,
                    first = (step_ % steps_per_epoch_) * options_.gradient_accumulation;
        const index last = std::min(batches_per_epoch_, first + options_.gradient_accumulation);
        if (epoch != order_epoch_) {
            order_ = epoch_order(examples_.size(), options_.seed, static_cast<std::uint64_t>(epoch));
            order_epoch_ = epoch;
        }
        for (auto* buffer : trainables_) buffer->zero_grad();

        step_report report{step_ + 1, total_steps(), epoch};
        for (index b = first; b < last; ++b) {
            const llama::token_batch batch = batch_of(b);
            // Micro-batch b's masks, however many came before in this process (a resumed run's none).
            const auto micro_batch = static_cast<std::uint64_t>(epoch * batches_per_epoch_ + b);
            model_->for_each_adapter(
                [&](const std::string&, auto& adapter) { adapter.set_dropout_calls(micro_batch); });
            const llama::model_losses losses = model_->forward(batch, saved_, workspace_, true);
            model_->backward(saved_, workspace_);
            report.loss += losses.loss;
            report.ce += losses.ce;
            report.lbc += losses.lbc;
            for (std::int64_t m : batch.attention_mask) report.tokens += m;
        }
        const double micro_batches = static_cast<double>(last - first);
        sum_over_ranks(report);
        report.loss /= micro_batches;
        report.ce /= micro_batches;
        report.lbc /= micro_batches;
        sum_gradients_over_ranks();

        // Average the micro-batches' gradients, then clip their global norm.
        double squares = 0;
        for (auto* buffer : trainables_) {
            scale_values(Backend{}, buffer->grads().data(), buffer->size(),
                         static_cast<T>(1 / micro_batches));
            squares += sum_of_squares(Backend{}, buffer->grads().data(), buffer->size());
        }
        report.grad_norm = std::sqrt(squares);
        report.learning_rate = schedule_(step_);
        if (!std::isfinite(report.loss) || !std::isfinite(report.grad_norm)) {
            const std::string where = !std::isfinite(report.loss) ? fmt::format("the loss ({})", report.loss)
                                                                  : nonfinite_gradients();
            if (!options_.skip_nonfinite)
                fail<value_error>(
                    "train: at step {}/{} {} is not finite; the weights are still those after "
                    "step {} (skip such steps with skip_nonfinite, --skip-nonfinite)",
                    step_ + 1, total_steps(), where, step_);
            report.skipped = true;
            report.skipped_steps = ++skipped_;
            ++step_;
            report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            return report;
        }
        report.skipped_steps = skipped_;
        if (options_.max_grad_norm > 0 && report.grad_norm > options_.max_grad_norm) {
            const T clip = static_cast<T>(options_.max_grad_norm / (report.grad_norm + 1e-6));
            for (auto* buffer : trainables_)
                scale_values(Backend{}, buffer->grads().data(), buffer->size(), clip);
        }
        for (auto& optimizer : optimizers_) optimizer.step(report.learning_rate);
        ++step_;
        report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return report;
    }

    // A digest of everything that determines the run (data, options, model and adapter configs), so
    // that a resume with different inputs is refused instead of silently diverging.
    std::string fingerprint() const {
        std::uint64_t h = 0xcbf29ce484222325ull;
        auto mix = [&h](std::uint64_t value) { h = mix64(h ^ value); };
        for (const auto& e : examples_) {
            mix(e.ids.size());
            for (auto id : e.ids) mix(static_cast<std::uint64_t>(id));
            for (auto label : e.labels) mix(static_cast<std::uint64_t>(label));
            mix(static_cast<std::uint64_t>(e.task_type));
        }
        const nlohmann::json settings = {
            {"epochs", options_.epochs},
            {"batch_size", options_.batch_size},
            {"gradient_accumulation", options_.gradient_accumulation},
            {"learning_rate", options_.learning_rate},
            {"warmup_ratio", options_.warmup_ratio},
            {"weight_decay", options_.weight_decay},
            {"max_grad_norm", options_.max_grad_norm},
            {"betas", {options_.beta1, options_.beta2}},
            {"eps", options_.eps},
            {"seed", options_.seed},
            {"pad_id", pad_id_},
            {"model", io::to_json(model_->config())},
            {"adapter", model_->adapter_config() ? io::to_json(*model_->adapter_config()) : nlohmann::json()},
            {"train_base", model_->base().has_grads()},
            {"model_seed", model_->options().seed},
            {"precision", sizeof(T)}};
        for (char c : settings.dump()) mix(static_cast<unsigned char>(c));
        return fmt::format("{:016x}", h);
    }

    // Where the gradients hold a value that is not finite: "the gradient of MODULE's adapter" or "the
    // gradient of TENSOR" (the first such value's), or "" when all are finite.
    std::string nonfinite_gradients() const {
        for (const auto* buffer : trainables_) {
            const tensor<T, cpu> grads = to_host(buffer->grads());
            const auto bad =
                std::find_if(grads.span().begin(), grads.span().end(), [](T g) { return !std::isfinite(g); });
            if (bad == grads.span().end()) continue;
            const index at = bad - grads.span().begin();
            std::string name = "an unnamed parameter";
            if (buffer == &model_->adapters()) {
                index offset = 0;
                model_->for_each_adapter([&](const std::string& module, auto& adapter) {
                    if (at >= offset && at < offset + adapter.parameter_count()) name = module + "'s adapter";
                    offset += adapter.parameter_count();
                });
            } else {
                for (const auto& t : model_->layout().tensors())
                    if (at >= t.offset && at < t.offset + t.size()) name = t.name;
            }
            return fmt::format("the gradient of {} ({})", name, *bad);
        }
        return "";
    }

    // A digest of the run and the weights (the frozen base too, when with_frozen), equal on every rank
    // of one data-parallel run.
    std::uint64_t digest(bool with_frozen) const {
        std::uint64_t h = digest_mix(0, static_cast<std::uint64_t>(step_));
        for (char c : fingerprint()) h = digest_mix(h, static_cast<unsigned char>(c));
        for (const auto* buffer : trainables_) h = digest_mix(h, digest_of(buffer->values()));
        if (with_frozen) {
            if (!model_->base().has_grads()) h = digest_mix(h, digest_of(model_->base().values()));
            h = digest_mix(h, digest_of(model_->bf16_base()));
        }
        return h;
    }

    // Stops every rank, naming those that differ, unless all ranks hold the same run and weights
    // (the frozen base too, when with_frozen). `what` names the moment for the message.
    void require_ranks_agree(bool with_frozen, std::string_view what) const {
        if (ranks_.size() == 1) return;  // nothing to compare: no digest (a 7B base takes seconds)
        train::require_ranks_agree(ranks_, digest(with_frozen), what);
    }

    // The optimizer's moments and the step, in `folder` (optimizer.safetensors, trainer_state.json).
    void save_state(const std::filesystem::path& folder) const {
        std::filesystem::create_directories(folder);
        io::safetensors_writer writer;
        for (std::size_t i = 0; i < optimizers_.size(); ++i) {
            writer.add(fmt::format("{}.exp_avg", i), to_host(optimizers_[i].first_moment()));
            writer.add(fmt::format("{}.exp_avg_sq", i), to_host(optimizers_[i].second_moment()));
        }
        writer.write(folder / "optimizer.safetensors");
        const nlohmann::json state = {{"step", step_},
                                      {"total_steps", total_steps()},
                                      {"skipped_steps", skipped_},
                                      {"fingerprint", fingerprint()}};
        io::write_text_atomically(folder / "trainer_state.json", state.dump(2) + "\n");
    }

    // Restores what save_state wrote (the trainable weights themselves are loaded by the caller).
    void load_state(const std::filesystem::path& folder) {
        const auto state = io::read_json_file(folder / "trainer_state.json");
        if (!state.contains("fingerprint") || state["fingerprint"] != fingerprint())
            fail<value_error>("{}: the checkpoint was made with other data, options or model; cannot resume",
                              folder.string());
        const io::json_fields fields(state, (folder / "trainer_state.json").string());
        const index step = fields.required<index>("step");
        const index skipped = fields.optional<index>("skipped_steps", 0);
        if (step < 0 || step > total_steps())
            fail<format_error>("{}: step {} is out of range", folder.string(), step);
        if (skipped < 0 || skipped > step)
            fail<format_error>("{}: skipped_steps {} is outside [0, step {}]", folder.string(), skipped,
                               step);
        const io::safetensors_reader reader(folder / "optimizer.safetensors");
        for (std::size_t i = 0; i < optimizers_.size(); ++i) {
            for (auto [name, moment] : {std::pair{"exp_avg", &optimizers_[i].first_moment()},
                                        std::pair{"exp_avg_sq", &optimizers_[i].second_moment()}}) {
                const std::string tensor = fmt::format("{}.{}", i, name);
                const auto host = reader.template read<T>(tensor, moment->shape());  // finite, or refused
                const auto negative =
                    std::find_if(host.span().begin(), host.span().end(), [](T v) { return v < 0; });
                if (moment == &optimizers_[i].second_moment() && negative != host.span().end())
                    fail<value_error>(
                        "{}: tensor '{}' holds {} at element {}; a second moment is never negative",
                        reader.path().string(), tensor, *negative, negative - host.span().begin());
                copy_from_host(Backend{}, host.data(), moment->data(), host.size());
            }
            optimizers_[i].set_steps(step - skipped);  // the updates made
        }
        step_ = step;
        skipped_ = skipped;
    }

private:
    // This rank's part of micro-batch b of the current epoch (the whole of it in one process). When the
    // LBC counts padding, a part is padded to the whole micro-batch's longest example, as one process
    // pads it; otherwise to its own longest.
    llama::token_batch batch_of(index b) {
        const index begin = b * options_.batch_size;
        const index end = std::min(static_cast<index>(examples_.size()), begin + options_.batch_size);
        std::vector<const io::tokenized_example*> members;
        for (index i = begin; i < end; ++i)
            members.push_back(&examples_[order_[static_cast<std::size_t>(i)]]);
        if (ranks_.size() == 1) return make_batch(members, pad_id_);

        const index n = end - begin, k = ranks_.size(), r = ranks_.rank();
        const index mine = n * r / k, next = n * (r + 1) / k;
        share_task_types_.clear();
        std::size_t longest = 0;
        for (const auto* e : members) {
            share_task_types_.push_back(e->task_type);
            longest = std::max(longest, e->ids.size());
        }
        share_ = {mine, n, share_task_types_, ranks_};
        const bool pad_to_whole = model_->adapter_config() && model_->adapter_config()->lbc_counts_padding;
        llama::token_batch batch =
            mine < next ? make_batch(std::span(members).subspan(static_cast<std::size_t>(mine),
                                                                static_cast<std::size_t>(next - mine)),
                                     pad_id_, pad_to_whole ? static_cast<index>(longest) : 0)
                        : llama::token_batch{};
        batch.share = &share_;
        return batch;
    }

    // The report's parts of the whole batches: ce and the tokens are summed over the ranks (the lbc is
    // already the whole batches', on every rank).
    void sum_over_ranks(step_report& report) const {
        if (ranks_.size() == 1) return;
        double parts[] = {report.ce, static_cast<double>(report.tokens)};
        ranks_.all_reduce_sum(std::span(parts));
        report.loss += parts[0] - report.ce;
        report.ce = parts[0];
        report.tokens = static_cast<index>(parts[1]);
    }

    // Every rank's gradients replaced by their sum over the ranks (through the host off the CPU).
    void sum_gradients_over_ranks() {
        if (ranks_.size() == 1) return;
        for (auto* buffer : trainables_) {
            auto& grads = buffer->grads();
            if constexpr (std::is_same_v<Backend, cpu>) {
                ranks_.all_reduce_sum(grads.span());
            } else {
                tensor<T, cpu> host = to_host(grads);
                ranks_.all_reduce_sum(host.span());
                copy_from_host(Backend{}, host.data(), grads.data(), host.size());
            }
        }
    }

    model_type* model_;
    std::vector<io::tokenized_example> examples_;
    std::int64_t pad_id_;
    training_options options_;
    communicator_ref ranks_;
    moe::batch_share share_;                      // this rank's part of the current micro-batch
    std::vector<std::int64_t> share_task_types_;  // the current micro-batch's, for share_
    std::vector<parameter_buffer<T, Backend>*> trainables_;
    std::vector<adamw<T, Backend>> optimizers_;
    warmup_cosine schedule_;
    index batches_per_epoch_ = 0;
    index steps_per_epoch_ = 0;
    index step_ = 0;
    index skipped_ = 0;  // steps skipped as not finite
    index order_epoch_ = -1;
    std::vector<std::size_t> order_;
    typename model_type::saved saved_;
    typename model_type::workspace workspace_;
};

}  // namespace loramoe::train
