// Example 05: data-parallel training with MPI, and proof that it trains what one process trains.
//
// What it teaches:
//   1. start MPI (lm::mpi_session) and take MPI_COMM_WORLD as the communicator (lm::mpi_communicator);
//   2. build the same model and the same examples on every rank (the same seeds);
//   3. give the trainer the communicator: each rank computes its share of every batch, the LBC's
//      statistics and the gradients are summed over the ranks, and every rank holds the same weights;
//   4. compare: each rank also trains alone (lm::single_process, the default) and checks that the two
//      runs end with the same adapter, up to the order of the sums.
//
// Run:  mpirun -np 2 05_data_parallel      (or -np 3, ...; --oversubscribe beyond the cores)
// The model is a tiny random LLaMA built in memory; the examples are random token sequences with two
// task types, in double precision with lora_dropout and the LBC on, in micro-batches of 5 (uneven over
// the ranks). Exit status 0 when every rank's adapter is within 1e-9 (relative) of the one-process one.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include <loramoe/mpi.hpp>

namespace example {
namespace lm = loramoe;  // not `using namespace loramoe;`: loramoe::index would clash with POSIX's ::index

lm::llama::llama_config tiny_llama() {
    lm::llama::llama_config c;
    c.vocab_size = 40;
    c.hidden_size = 32;
    c.intermediate_size = 64;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 8;
    return c;
}

// The same on every rank: seeded base weights (norms 1, the rest N(0, 1 / 32)) and adapters.
void initialise(lm::llama::llama_model<double>& model) {
    lm::random_generator rng(7);
    double* values = model.base().values().data();
    for (const auto& t : model.layout().tensors())
        for (lm::index i = 0; i < t.size(); ++i)
            values[t.offset + i] =
                t.name.find("norm") != std::string::npos ? 1.0 : rng.normal() / std::sqrt(32.0);
    model.reset_adapters(1);
}

// 23 examples of 6 to 11 tokens, the first two of each a prompt (not counted in the loss).
std::vector<lm::io::tokenized_example> examples() {
    lm::random_generator rng(3);
    std::vector<lm::io::tokenized_example> out(23);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const auto length = 6 + rng.below(6);
        for (std::uint64_t t = 0; t < length; ++t) {
            out[i].ids.push_back(static_cast<std::int64_t>(rng.below(40)));
            out[i].labels.push_back(t < 2 ? lm::ignore_index : out[i].ids.back());
        }
        out[i].task_type = static_cast<std::int64_t>(i % 2);
    }
    return out;
}

// Trains a fresh model over `ranks`; returns its adapter parameters.
std::vector<double> train(const lm::communicator_ref& ranks) {
    lm::moe::adapter_config adapter;  // the paper's: N 6, r 4, LBC on gate, up and down
    adapter.dropout = 0.1;
    lm::llama::llama_model<double> model(tiny_llama(), adapter, {.seed = 5});
    initialise(model);
    const lm::train::training_options options{
        .epochs = 2, .batch_size = 5, .gradient_accumulation = 2, .learning_rate = 1e-2, .seed = 5};
    lm::train::trainer<double> run(model, examples(), /*pad_id=*/0, options, ranks);
    run.require_ranks_agree(true, "the data, the options and the weights");
    while (!run.finished()) run.train_step();
    const double* values = model.adapters().values().data();
    return {values, values + model.adapters().size()};
}

}  // namespace example

int main(int argc, char** argv) {
    namespace lm = loramoe;
    lm::mpi_session mpi(&argc, &argv);
    lm::mpi_communicator world;
    const std::vector<double> shared = example::train(world);
    const std::vector<double> alone = example::train({});  // this rank alone: the one-process run
    double difference = 0, largest = 0;
    for (std::size_t i = 0; i < alone.size(); ++i) {
        difference = std::max(difference, std::abs(shared[i] - alone[i]));
        largest = std::max(largest, std::abs(alone[i]));
    }
    const double relative = difference / largest;
    std::printf(
        "rank %d of %d: %zu adapter parameters, largest difference from one process %.2e (relative)\n",
        world.rank(), world.size(), alone.size(), relative);
    return relative <= 1e-9 ? 0 : 1;
}
