// Data parallelism at the library level, with K threads of this process as the ranks (thread_ranks: a
// communicator over shared memory), so that it is tested wherever the suite runs, MPI or not:
//  - the LBC of a batch split over ranks, and its gate gradient, are the whole batch's (the ranks sum
//    their per-sample importances); without the sum they are not;
//  - a trainer on K = 2 and 3 ranks ends with the one-process adapter (double, 1e-9 relative) and
//    reports the one-process losses, with lora_dropout, the LBC (padding counted or not), gradient
//    accumulation, and micro-batches with fewer examples than ranks (a rank with nothing to do);
//  - ranks that hold different data, options or weights are refused, naming the ranks.
// tests/train/test_distributed_command.cpp runs `mpirun -np 2 loramoe train` itself.

#include "test_support.hpp"
#include "train/training_fixture.hpp"

#include <algorithm>
#include <barrier>
#include <cmath>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <loramoe/io/hf_checkpoint.hpp>
#include <loramoe/moe/balance/lbc.hpp>
#include <loramoe/train/trainer.hpp>

namespace data_parallel_test {

using namespace loramoe;
using loramoe::index;
using training_fixture::task_fixture;

// K ranks as K threads: each sum gathers every rank's values, then each rank adds them up in rank
// order, so that every rank gets the same sum.
class thread_group {
public:
    explicit thread_group(int size) : size_(size), sync_(size), slots_(static_cast<std::size_t>(size)) {}

    class member {
    public:
        member(thread_group& group, int r) : group_(&group), rank_(r) {}
        int rank() const { return rank_; }
        int size() const { return group_->size_; }
        template <class V>
        void all_reduce_sum(std::span<V> values) const {
            auto& slots = group_->slots_;
            slots[static_cast<std::size_t>(rank_)].assign(values.begin(), values.end());
            group_->sync_.arrive_and_wait();
            for (std::size_t i = 0; i < values.size(); ++i) {
                V sum = 0;
                for (const auto& slot : slots) sum += static_cast<V>(slot[i]);
                values[i] = sum;
            }
            group_->sync_.arrive_and_wait();  // nobody overwrites a slot still being read
        }

    private:
        thread_group* group_;
        int rank_;
    };

    // Runs body(member) on every rank, one thread each; rethrows the first rank's exception.
    void run(const std::function<void(member&)>& body) {
        std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size_));
        std::vector<std::jthread> threads;
        for (int r = 0; r < size_; ++r)
            threads.emplace_back([&, r] {
                member me(*this, r);
                try {
                    body(me);
                } catch (...) {
                    errors[static_cast<std::size_t>(r)] = std::current_exception();
                }
            });
        threads.clear();
        for (auto& e : errors)
            if (e) std::rethrow_exception(e);
    }

private:
    int size_;
    std::barrier<> sync_;
    std::vector<std::vector<long double>> slots_;
};

moe::adapter_config adapter(double dropout, bool counts_padding) {
    moe::adapter_config a;
    a.dropout = dropout;
    a.lbc_weight = 0.1;
    a.lbc_counts_padding = counts_padding;
    return a;
}

// 64 examples in micro-batches of 7, 2 per update: 10 micro-batches per epoch, the last of a single
// example (fewer than the ranks).
train::training_options options() {
    return {.epochs = 2, .batch_size = 7, .gradient_accumulation = 2, .learning_rate = 1e-2, .seed = 4};
}

struct trained {
    tensor<double, cpu> adapters;
    std::vector<train::step_report> reports;
};

trained train_on(const task_fixture& f, const moe::adapter_config& a, communicator_ref ranks = {}) {
    llama::llama_model<double> model(f.config, a, {.seed = 4});
    io::load_base_weights(f.model_dir, model);
    model.reset_adapters(4);
    train::trainer<double> run(model, f.examples, f.pad_id(), options(), ranks);
    trained out;
    while (!run.finished()) out.reports.push_back(run.train_step());
    out.adapters = to_host(model.adapters().values());
    return out;
}

double relative_difference(const tensor<double, cpu>& a, const tensor<double, cpu>& b) {
    REQUIRE(a.size() == b.size());
    double difference = 0, scale = 0;
    for (index i = 0; i < a.size(); ++i) {
        difference = std::max(difference, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(a[i]));
    }
    return difference / scale;
}

}  // namespace data_parallel_test

TEST_SUITE("train") {
    TEST_CASE("data parallel: the LBC of a batch split over ranks is the whole batch's, value and gradient") {
        using namespace data_parallel_test;
        const loramoe::index samples = 5, tokens = 3, experts = 4;
        const auto gates = test::random_tensor<double>({samples * tokens, experts}, 3, 0.0, 1.0);
        const std::vector<std::int64_t> tasks = {0, 1, 1, 0, 1};
        const std::vector<double> mask = {1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0};
        const moe::balance::lbc lbc{0.1, moe::lbc_statistic::cv2, {}};
        const moe::routing_batch<double> whole{samples, tokens, mask.data(), tasks};
        const double expected = moe::balance_loss(cpu{}, lbc, gates.matrix(), {}, whole);
        tensor<double, cpu> expected_grad({samples * tokens, experts});
        expected_grad.fill_with(0.0);
        moe::add_balance_gate_gradient(cpu{}, lbc, gates.matrix(), {}, whole, 0.5, expected_grad.matrix());
        REQUIRE(expected > 0);

        for (bool summed : {true, false}) {
            CAPTURE(summed);
            // Rank 0 holds samples 0-1, rank 1 samples 2-4; unsummed, each sees its part alone.
            thread_group group(2);
            std::vector<double> values(2);
            tensor<double, cpu> grad({samples * tokens, experts});
            group.run([&](thread_group::member& me) {
                const loramoe::index first = me.rank() == 0 ? 0 : 2, count = me.rank() == 0 ? 2 : 3;
                single_process alone;
                const moe::batch_share share{first, samples, tasks,
                                             summed ? communicator_ref(me) : communicator_ref(alone)};
                const moe::routing_batch<double> part{count, tokens, mask.data() + first * tokens,
                                                      {},    true,   &share};
                const auto part_gates = gates.matrix().row_block(first * tokens, count * tokens);
                values[static_cast<std::size_t>(me.rank())] =
                    moe::balance_loss(cpu{}, lbc, part_gates, {}, part);
                auto part_grad = grad.matrix().row_block(first * tokens, count * tokens);
                fill_matrix(cpu{}, part_grad, 0.0);
                moe::add_balance_gate_gradient(cpu{}, lbc, part_gates, {}, part, 0.5, part_grad);
            });
            if (summed) {
                CHECK(values[0] == expected);  // the same sums in the same order: exactly
                CHECK(values[1] == expected);
                CHECK(test::flatten(grad.matrix()).values == test::flatten(expected_grad.matrix()).values);
            } else {
                CHECK(values[0] != doctest::Approx(expected));
                CHECK(test::flatten(grad.matrix()).values != test::flatten(expected_grad.matrix()).values);
            }
        }
    }

    TEST_CASE("data parallel: K = 2 and 3 ranks end with the one-process adapter, dropout and LBC on") {
        using namespace data_parallel_test;
        const task_fixture f;
        for (bool counts_padding : {false, true}) {
            CAPTURE(counts_padding);
            const auto a = adapter(0.1, counts_padding);
            const trained one = train_on(f, a);
            REQUIRE(one.reports.size() == 10);
            for (int k : {2, 3}) {
                CAPTURE(k);
                thread_group group(k);
                std::vector<trained> ranks(static_cast<std::size_t>(k));
                group.run([&](thread_group::member& me) {
                    ranks[static_cast<std::size_t>(me.rank())] = train_on(f, a, me);
                });
                for (const auto& rank : ranks) {
                    const double difference = relative_difference(one.adapters, rank.adapters);
                    MESSAGE("K = ", k, ", padding counted: ", counts_padding,
                            ": largest difference from one process, relative to the largest weight: ",
                            difference);
                    CHECK(difference <= 1e-9);
                    CHECK(difference > 0);  // the sums are in another order: not a copy of one process
                    REQUIRE(rank.reports.size() == one.reports.size());
                    for (std::size_t s = 0; s < one.reports.size(); ++s) {
                        CAPTURE(s);
                        CHECK(rank.reports[s].loss == doctest::Approx(one.reports[s].loss).epsilon(1e-12));
                        CHECK(rank.reports[s].ce == doctest::Approx(one.reports[s].ce).epsilon(1e-12));
                        CHECK(rank.reports[s].lbc == doctest::Approx(one.reports[s].lbc).epsilon(1e-12));
                        CHECK(rank.reports[s].grad_norm ==
                              doctest::Approx(one.reports[s].grad_norm).epsilon(1e-12));
                        CHECK(rank.reports[s].tokens == one.reports[s].tokens);
                    }
                }
                // Every rank holds the same weights, bit for bit.
                for (const auto& rank : ranks)
                    CHECK(test::flatten(rank.adapters.matrix()).values ==
                          test::flatten(ranks[0].adapters.matrix()).values);
            }
        }
    }

    TEST_CASE("data parallel: ranks with other options or weights are refused, naming the ranks") {
        using namespace data_parallel_test;
        const task_fixture f;
        thread_group group(3);
        std::vector<std::string> errors(3);
        for (const char* differ : {"options", "weights"}) {
            CAPTURE(differ);
            group.run([&](thread_group::member& me) {
                llama::llama_model<double> model(f.config, adapter(0, false), {.seed = 4});
                io::load_base_weights(f.model_dir, model);
                model.reset_adapters(me.rank() == 2 && differ == std::string("weights") ? 5 : 4);
                auto o = options();
                if (me.rank() == 2 && differ == std::string("options")) o.learning_rate = 2e-2;
                train::trainer<double> run(model, f.examples, f.pad_id(), o, me);
                try {
                    run.require_ranks_agree(true, "the run");
                } catch (const value_error& e) {
                    errors[static_cast<std::size_t>(me.rank())] = e.what();
                }
            });
            for (const auto& e : errors)
                CHECK(e == "the 3 ranks disagree on the run: rank(s) 2 differ from rank 0");
        }
    }
}
