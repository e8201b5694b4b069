#pragma once
// Evaluation of a model (with or without adapters) on tokenized examples:
//  - loss: the cross-entropy over every counted target token of the data (not a mean of batch means);
//  - exact match: greedy generation (KV cache) from each example's prompt must reproduce its target
//    tokens and then stop (or, with require_stop = false, begin with them); per task type and overall;
//  - router statistics: for every adapted linear, the mean gate of each expert over the real tokens
//    of each task type (the data behind the paper's expert-utilisation figure).
// Under data parallelism each rank evaluates its share of the examples and the ranks add up their
// sums and counts: every rank ends with the whole data's result.

#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/core/communicator.hpp>
#include <loramoe/io/instruction_data.hpp>
#include <loramoe/llama/model.hpp>
#include <loramoe/moe/balance/lbc.hpp>
#include <loramoe/train/batching.hpp>

namespace loramoe::train {

struct evaluation_options {
    index batch_size = 8;
    index max_new_tokens = 64;
    bool exact_match = true;   // false: loss and router statistics only
    bool require_stop = true;  // the generation must end where the target does (false: a prefix match)
};

struct accuracy_count {
    index correct = 0;
    index total = 0;
    double accuracy() const {
        return total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
    }
};

struct router_usage {
    std::string module;
    std::vector<std::int64_t> expert_types;
    std::map<std::int64_t, std::vector<double>> mean_gate;  // task type -> mean gate per expert
    std::map<std::int64_t, index> tokens;                   // task type -> real tokens seen
};

struct evaluation_result {
    double loss = 0;
    index counted_tokens = 0;
    accuracy_count exact_match;
    std::map<std::int64_t, accuracy_count> exact_match_by_task;
    std::vector<router_usage> routers;
    std::vector<std::vector<std::int64_t>>
        predictions;           // per example: the generated tokens (empty: not generated)
    std::vector<int> correct;  // per example: 1, 0, or -1 when not generated

    nlohmann::json router_json() const {
        nlohmann::json layers = nlohmann::json::array();
        for (const auto& r : routers) {
            nlohmann::json gates = nlohmann::json::object(), tokens = nlohmann::json::object();
            for (const auto& [task, g] : r.mean_gate) gates[std::to_string(task)] = g;
            for (const auto& [task, n] : r.tokens) tokens[std::to_string(task)] = n;
            layers.push_back({{"module", r.module},
                              {"expert_types", r.expert_types},
                              {"mean_gate", gates},
                              {"tokens", tokens}});
        }
        return {{"routers", layers}};
    }

    nlohmann::json to_json() const {
        nlohmann::json by_task = nlohmann::json::object();
        for (const auto& [task, a] : exact_match_by_task)
            by_task[std::to_string(task)] = {
                {"correct", a.correct}, {"total", a.total}, {"accuracy", a.accuracy()}};
        return {{"loss", loss},
                {"counted_tokens", counted_tokens},
                {"exact_match",
                 {{"correct", exact_match.correct},
                  {"total", exact_match.total},
                  {"accuracy", exact_match.accuracy()}}},
                {"exact_match_by_task", by_task}};
    }
};

// The prompt of a tokenized example: its tokens before the first counted label.
inline std::span<const std::int64_t> prompt_of(const io::tokenized_example& e) {
    std::size_t k = 0;
    while (k < e.labels.size() && e.labels[k] == ignore_index) ++k;
    return {e.ids.data(), k};
}

namespace detail {

// Adds the gates of the batch's real tokens (from the last forward) to each router's sums per task.
template <class T, class Backend>
void add_router_usage(llama::llama_model<T, Backend>& model,
                      typename llama::llama_model<T, Backend>::saved& saved,
                      typename llama::llama_model<T, Backend>::workspace& workspace,
                      const llama::token_batch& batch, const std::map<std::string, std::size_t>& router_index,
                      std::vector<router_usage>& routers) {
    model.for_each_adapter_state(
        saved, workspace, [&](const std::string& module, auto& adapter, auto& state) {
            if (!adapter.has_router()) return;
            router_usage& usage = routers[router_index.at(module)];
            const tensor<T, cpu> gates = to_host(state.gates);
            for (index row = 0; row < batch.rows(); ++row) {
                if (batch.attention_mask[static_cast<std::size_t>(row)] == 0) continue;
                const std::int64_t task = batch.task_types[static_cast<std::size_t>(row / batch.tokens)];
                auto& sums = usage.mean_gate[task];
                sums.resize(static_cast<std::size_t>(adapter.experts()), 0.0);
                for (index n = 0; n < adapter.experts(); ++n)
                    sums[static_cast<std::size_t>(n)] += gates.matrix()(row, n);
                usage.tokens[task] += 1;
            }
        });
}

// One entry per routed adapter, in the model's order, before any token is seen (so that every rank
// lists the same routers, whatever its share).
template <class T, class Backend>
std::map<std::string, std::size_t> list_routers(llama::llama_model<T, Backend>& model,
                                                std::vector<router_usage>& routers) {
    std::map<std::string, std::size_t> router_index;
    model.for_each_adapter([&](const std::string& module, auto& adapter) {
        if (!adapter.has_router()) return;
        const auto* lbc = std::get_if<moe::balance::lbc>(&adapter.balance());
        router_index.emplace(module, routers.size());
        router_usage usage;
        usage.module = module;
        usage.expert_types = lbc && !lbc->expert_types.empty()
                                 ? lbc->expert_types
                                 : moe::official_expert_types(adapter.experts());
        routers.push_back(std::move(usage));
    });
    return router_index;
}

// The cross-entropy summed over the examples' target tokens (returned; their count in result), and
// the routers' gates summed per task (divided by finish_evaluation).
template <class T, class Backend>
double evaluate_loss_and_routing(llama::llama_model<T, Backend>& model,
                                 std::span<const io::tokenized_example> examples, std::int64_t pad_id,
                                 index batch_size, evaluation_result& result) {
    typename llama::llama_model<T, Backend>::saved saved;
    typename llama::llama_model<T, Backend>::workspace workspace;
    const std::map<std::string, std::size_t> router_index = list_routers(model, result.routers);
    double ce_sum = 0;
    for (std::size_t begin = 0; begin < examples.size(); begin += static_cast<std::size_t>(batch_size)) {
        std::vector<const io::tokenized_example*> members;
        for (std::size_t i = begin;
             i < std::min(examples.size(), begin + static_cast<std::size_t>(batch_size)); ++i)
            members.push_back(&examples[i]);
        const llama::token_batch batch = make_batch(members, pad_id);
        const llama::model_losses losses = model.forward(batch, saved, workspace);
        ce_sum += losses.ce * static_cast<double>(losses.counted_tokens);
        result.counted_tokens += losses.counted_tokens;
        add_router_usage(model, saved, workspace, batch, router_index, result.routers);
    }
    return ce_sum;
}

// The loss and the mean gates from the sums.
inline void finish_evaluation(double ce_sum, evaluation_result& result) {
    for (auto& usage : result.routers)
        for (auto& [task, sums] : usage.mean_gate)
            for (double& s : sums) s /= static_cast<double>(usage.tokens[task]);
    result.loss = result.counted_tokens > 0 ? ce_sum / static_cast<double>(result.counted_tokens) : 0.0;
}

// Every rank's sums and counts (and its share's predictions) added up over the ranks. The sums travel
// as doubles (exact for counts below 2^53), keyed by the task types of all the examples.
inline void sum_over_ranks(std::span<const io::tokenized_example> examples, const communicator_ref& ranks,
                           double& ce_sum, evaluation_result& result) {
    std::set<std::int64_t> tasks;
    for (const auto& e : examples) tasks.insert(e.task_type);
    std::vector<double> sums = {ce_sum, static_cast<double>(result.counted_tokens),
                                static_cast<double>(result.exact_match.correct),
                                static_cast<double>(result.exact_match.total)};
    for (std::int64_t task : tasks) {
        const accuracy_count a = result.exact_match_by_task[task];
        sums.insert(sums.end(), {static_cast<double>(a.correct), static_cast<double>(a.total)});
    }
    for (auto& usage : result.routers)
        for (std::int64_t task : tasks) {
            auto& gates = usage.mean_gate[task];
            gates.resize(usage.expert_types.size(), 0.0);
            sums.push_back(static_cast<double>(usage.tokens[task]));
            sums.insert(sums.end(), gates.begin(), gates.end());
        }
    ranks.all_reduce_sum(std::span(sums));

    std::size_t at = 0;
    auto next = [&] { return sums[at++]; };
    ce_sum = next();
    result.counted_tokens = static_cast<index>(next());
    result.exact_match.correct = static_cast<index>(next());
    result.exact_match.total = static_cast<index>(next());
    for (std::int64_t task : tasks) {
        const accuracy_count a{static_cast<index>(next()), static_cast<index>(next())};
        if (a.total > 0)
            result.exact_match_by_task[task] = a;
        else
            result.exact_match_by_task.erase(task);
    }
    for (auto& usage : result.routers)
        for (std::int64_t task : tasks) {
            const auto tokens = static_cast<index>(next());
            for (double& g : usage.mean_gate[task]) g = next();
            usage.tokens[task] = tokens;
            if (tokens == 0) {
                usage.mean_gate.erase(task);
                usage.tokens.erase(task);
            }
        }

    // Each example's outcome and prediction, from the rank that generated it (the others hold -1 and
    // nothing): outcomes shifted by 2 so that only the generating rank adds anything.
    const std::size_t n = examples.size();
    std::vector<std::int64_t> outcomes(2 * n, 0);
    for (std::size_t i = 0; i < n; ++i)
        if (result.correct[i] >= 0) {
            outcomes[i] = result.correct[i] + 2;
            outcomes[n + i] = static_cast<std::int64_t>(result.predictions[i].size());
        }
    ranks.all_reduce_sum(std::span(outcomes));
    std::vector<std::size_t> offsets(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i)
        offsets[i + 1] = offsets[i] + static_cast<std::size_t>(outcomes[n + i]);
    std::vector<std::int64_t> tokens(offsets[n], 0);
    for (std::size_t i = 0; i < n; ++i)
        if (result.correct[i] >= 0)
            std::copy(result.predictions[i].begin(), result.predictions[i].end(),
                      tokens.begin() + offsets[i]);
    ranks.all_reduce_sum(std::span(tokens));
    for (std::size_t i = 0; i < n; ++i) {
        result.correct[i] = outcomes[i] > 0 ? static_cast<int>(outcomes[i] - 2) : -1;
        result.predictions[i].assign(tokens.begin() + offsets[i], tokens.begin() + offsets[i + 1]);
    }
}

// Greedy completion of every prompted example, compared with its answer; the examples are those of
// the whole data from index `first` on.
template <class T, class Backend>
void evaluate_exact_match(llama::llama_model<T, Backend>& model,
                          std::span<const io::tokenized_example> examples, std::size_t first,
                          std::span<const std::int64_t> stop_ids, const evaluation_options& options,
                          evaluation_result& result) {
    const auto is_stop = [&](std::int64_t id) {
        return std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
    };
    for (std::size_t i = 0; i < examples.size(); ++i) {
        const io::tokenized_example& e = examples[i];
        const auto prompt = prompt_of(e);
        if (prompt.size() <= 1 || prompt.size() == e.ids.size()) continue;  // raw text, or nothing to predict
        std::vector<std::int64_t> target(e.ids.begin() + static_cast<std::ptrdiff_t>(prompt.size()),
                                         e.ids.end());
        if (!target.empty() && is_stop(target.back())) target.pop_back();
        const index budget = std::max(options.max_new_tokens, static_cast<index>(target.size()) + 1);
        std::vector<std::int64_t> generated = model.generate(prompt, budget, stop_ids);
        const bool stopped = !generated.empty() && is_stop(generated.back());
        if (stopped) generated.pop_back();
        const bool correct = options.require_stop
                                 ? stopped && generated == target
                                 : generated.size() >= target.size() &&
                                       std::equal(target.begin(), target.end(), generated.begin());
        result.exact_match.total += 1;
        result.exact_match.correct += correct;
        auto& by_task = result.exact_match_by_task[e.task_type];
        by_task.total += 1;
        by_task.correct += correct;
        result.correct[first + i] = correct;
        result.predictions[first + i] = std::move(generated);
    }
}

}  // namespace detail

// The whole data's result; this process evaluates the examples [n r / K, n (r + 1) / K) of `ranks`
// (all of them in one process).
template <class T, class Backend>
evaluation_result evaluate(llama::llama_model<T, Backend>& model,
                           std::span<const io::tokenized_example> examples, std::int64_t pad_id,
                           std::span<const std::int64_t> stop_ids, const evaluation_options& options,
                           const communicator_ref& ranks = {}) {
    const std::size_t n = examples.size(), k = static_cast<std::size_t>(ranks.size()),
                      r = static_cast<std::size_t>(ranks.rank());
    const std::size_t first = n * r / k, last = n * (r + 1) / k;
    const auto mine = examples.subspan(first, last - first);
    evaluation_result result;
    double ce_sum = detail::evaluate_loss_and_routing(model, mine, pad_id, options.batch_size, result);
    result.predictions.resize(n);
    result.correct.assign(n, -1);
    if (options.exact_match) detail::evaluate_exact_match(model, mine, first, stop_ids, options, result);
    if (k > 1) detail::sum_over_ranks(examples, ranks, ce_sum, result);
    detail::finish_evaluation(ce_sum, result);
    return result;
}

}  // namespace loramoe::train
