// `mpirun -np K loramoe train` on the tiny HF folder of training_fixture.hpp (a build with MPI):
//  - 2 ranks end with the one-process adapter (double, 1e-9 relative on every tensor) with lora_dropout
//    and the LBC on, micro-batches split unevenly, one of them smaller than the ranks; rank 0 alone
//    reports and writes;
//  - `mpirun -np 3 loramoe eval` writes the one-process results, router statistics and predictions;
//  - a checkpoint resumes under another K: 2 ranks stopped by SIGINT to one of them (the ranks agree
//    to stop at the same step), finished by one process; and the other way round;
//  - ranks given other options or other data stop before training, naming the ranks;
//  - a rank killed with SIGKILL makes mpirun end non-zero instead of hanging.
// Without MPI in the build: a launcher's K > 1 processes are refused.

#include "test_support.hpp"
#include "train/spawned_run.hpp"
#include "train/training_fixture.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include <loramoe/io/json_file.hpp>
#include <loramoe/io/safetensors.hpp>

namespace distributed_command_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::run_cli;
using training_fixture::task_fixture;
using training_fixture::train_arguments;

// 64 examples in micro-batches of 7, 2 per update (the last micro-batch of an epoch holds 1 example).
const std::string options =
    "--double --dropout 0.1 --lbc-weight 0.1 --epochs 2 --batch-size 7 --grad-accum 2 "
    "--lr 1e-2 --seed 3 --log-every 1";
// Long enough (400 updates) for a signal to land in the middle.
const std::string long_options =
    "--double --dropout 0.1 --epochs 50 --batch-size 7 --grad-accum 2 --lr 1e-3 "
    "--seed 3 --log-every 1";

// The largest difference between the adapters of two folders, relative to each tensor's largest value.
double adapter_difference(const fs::path& a, const fs::path& b) {
    const loramoe::io::safetensors_reader x(a / "adapter_model.safetensors"),
        y(b / "adapter_model.safetensors");
    REQUIRE(x.entries().size() == y.entries().size());
    double worst = 0;
    for (const auto& entry : x.entries()) {
        const auto u = x.read<double>(entry.name), v = y.read<double>(entry.name);
        REQUIRE(u.size() == v.size());
        double difference = 0, scale = 0;
        for (loramoe::index i = 0; i < u.size(); ++i) {
            difference = std::max(difference, std::abs(u[i] - v[i]));
            scale = std::max(scale, std::abs(u[i]));
        }
        if (scale > 0) worst = std::max(worst, difference / scale);
    }
    return worst;
}

#ifdef LORAMOE_TEST_MPIEXEC
std::string launcher_options() {
    return std::string(" --oversubscribe") + (::geteuid() == 0 ? " --allow-run-as-root" : "");
}
// `mpirun -np K` before the program (run_cli's prefix).
std::string mpirun(int ranks) {
    return quote(LORAMOE_TEST_MPIEXEC) + launcher_options() + " -np " + std::to_string(ranks);
}
// The argv of `mpirun -np K loramoe ARGUMENTS`.
std::vector<std::string> mpirun_words(int ranks, const std::string& arguments) {
    return spawned_run::words_of("mpirun" + launcher_options() + " -np " + std::to_string(ranks) + " " +
                                 LORAMOE_CLI_PATH + " " + arguments);
}
#endif

}  // namespace distributed_command_test

TEST_SUITE("distributed") {
#ifdef LORAMOE_TEST_MPIEXEC
    TEST_CASE(
        "mpirun -np 2 loramoe train ends with the one-process adapter, dropout and the LBC on; eval on 3 "
        "ranks") {
        using namespace distributed_command_test;
        const task_fixture f;
        const auto one = run_cli(train_arguments(f, f.dir / "one", options));
        REQUIRE_MESSAGE(one.status == 0, one.err);
        const auto two = run_cli(train_arguments(f, f.dir / "two", options), mpirun(2));
        REQUIRE_MESSAGE(two.status == 0, two.err);
        CHECK(two.err.find("data parallel over 2 ranks") != std::string::npos);
        // Rank 0 alone reports: each step once, one "wrote".
        CHECK(std::count(two.err.begin(), two.err.end(), '\n') ==
              std::count(one.err.begin(), one.err.end(), '\n') + 1);
        const double difference = adapter_difference(f.dir / "one", f.dir / "two");
        MESSAGE("2 ranks against one process: largest relative difference ", difference);
        CHECK(difference <= 1e-9);

        // eval over 3 ranks (64 examples: 21, 21, 22 each) against one process.
        auto eval = [&](const std::string& name, const std::string& prefix) {
            const auto r = run_cli("eval --double --model " + quote(f.model_dir) + " --adapter " +
                                       quote(f.dir / "one") + " --data " + quote(f.data_file) +
                                       " --max-new-tokens 6 --out " + quote(f.dir / (name + ".json")) +
                                       " --router-stats " + quote(f.dir / (name + "-routers.json")) +
                                       " --predictions " + quote(f.dir / (name + ".jsonl")),
                                   prefix);
            REQUIRE_MESSAGE(r.status == 0, r.err);
            return r.out;
        };
        const std::string alone = eval("alone", ""), shared = eval("shared", mpirun(3));
        CHECK(shared == alone);  // the printed summary: loss to 4 decimals, the counts
        const auto a = loramoe::io::read_json_file(f.dir / "alone.json"),
                   b = loramoe::io::read_json_file(f.dir / "shared.json");
        CHECK(b.at("loss").get<double>() == doctest::Approx(a.at("loss").get<double>()).epsilon(1e-12));
        CHECK(b.at("counted_tokens") == a.at("counted_tokens"));
        CHECK(b.at("exact_match") == a.at("exact_match"));
        CHECK(b.at("exact_match_by_task") == a.at("exact_match_by_task"));
        CHECK(loramoe::test::read_file(f.dir / "shared.jsonl") ==
              loramoe::test::read_file(f.dir / "alone.jsonl"));
        const auto ra = loramoe::io::read_json_file(f.dir / "alone-routers.json").at("routers"),
                   rb = loramoe::io::read_json_file(f.dir / "shared-routers.json").at("routers");
        REQUIRE(ra.size() == rb.size());
        for (std::size_t i = 0; i < ra.size(); ++i) {
            CHECK(rb[i].at("module") == ra[i].at("module"));
            CHECK(rb[i].at("tokens") == ra[i].at("tokens"));
            for (const char* task : {"0", "1"}) {
                const auto ga = ra[i].at("mean_gate").at(task).get<std::vector<double>>(),
                           gb = rb[i].at("mean_gate").at(task).get<std::vector<double>>();
                REQUIRE(ga.size() == gb.size());
                for (std::size_t e = 0; e < ga.size(); ++e)
                    CHECK(gb[e] == doctest::Approx(ga[e]).epsilon(1e-12));
            }
        }
    }

    TEST_CASE(
        "loramoe train: a checkpoint written by 2 ranks resumes in 1 process, and the other way round") {
        using namespace distributed_command_test;
        const task_fixture f;
        const auto reference = run_cli(train_arguments(f, f.dir / "reference", long_options));
        REQUIRE_MESSAGE(reference.status == 0, reference.err);

        // SIGINT to one rank: both stop at the same step, rank 0 writes the checkpoint.
        const fs::path first = f.dir / "first";
        const auto stopped = spawned_run::act_after(
            LORAMOE_TEST_MPIEXEC, mpirun_words(2, train_arguments(f, first, long_options)), "step 3/",
            [](pid_t mpirun_pid) {
                const auto ranks = spawned_run::children_of(mpirun_pid);
                REQUIRE(!ranks.empty());
                REQUIRE(::kill(ranks.back(), SIGINT) == 0);
            });
        INFO("stderr of the interrupted ranks: ", stopped.err);
        CHECK(stopped.status != 0);
        CHECK(stopped.err.find("rank 0 of 2: loramoe train: interrupted at step ") != std::string::npos);
        CHECK(stopped.err.find("rank 1 of 2: loramoe train: interrupted at step ") != std::string::npos);
        REQUIRE(fs::exists(first / "checkpoint" / "trainer_state.json"));
        const auto resumed = run_cli(train_arguments(f, first, long_options + " --resume"));
        REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
        CHECK(resumed.err.find("resuming at step ") != std::string::npos);
        CHECK(adapter_difference(f.dir / "reference", first) <= 1e-9);

        // One process stopped by SIGINT, finished by 2 ranks.
        const fs::path second = f.dir / "second";
        const auto alone = spawned_run::act_after(
            LORAMOE_CLI_PATH, spawned_run::words_of("loramoe " + train_arguments(f, second, long_options)),
            "step 3/", [](pid_t pid) { REQUIRE(::kill(pid, SIGINT) == 0); });
        CHECK(alone.status == 130);
        REQUIRE(fs::exists(second / "checkpoint" / "trainer_state.json"));
        const auto finished = run_cli(train_arguments(f, second, long_options + " --resume"), mpirun(2));
        REQUIRE_MESSAGE(finished.status == 0, finished.err);
        CHECK(adapter_difference(f.dir / "reference", second) <= 1e-9);
    }

    TEST_CASE("mpirun loramoe train: ranks with other options or data stop before training") {
        using namespace distributed_command_test;
        const task_fixture f;
        const fs::path other_data = f.dir / "other.jsonl";
        loramoe::test::write_file(other_data,
                                  training_fixture::to_jsonl(training_fixture::task_examples(64, 99)));
        const std::string cli = quote(LORAMOE_CLI_PATH);
        std::string other_options = options;
        other_options.replace(other_options.find("--lr 1e-2"), 9, "--lr 2e-2");
        for (const std::string& second :
             {train_arguments(f, f.dir / "out", other_options),
              "train --model " + quote(f.model_dir) + " --data " + quote(other_data) + " --out " +
                  quote(f.dir / "out") + " " + options}) {
            // Multiple programs: rank 0 runs the first command line, rank 1 the second.
            const auto r = run_cli(
                train_arguments(f, f.dir / "out", options) + " : -np 1 " + cli + " " + second, mpirun(1));
            INFO("stderr: ", r.err);
            CHECK(r.status == 1);
            CHECK(r.err.find("the 2 ranks disagree on the data, the options, the model and the starting "
                             "weights: rank(s) 1 differ from rank 0") != std::string::npos);
            CHECK_FALSE(fs::exists(f.dir / "out" / "adapter_model.safetensors"));
        }
    }

    TEST_CASE("mpirun loramoe train: a rank killed with SIGKILL ends the run instead of hanging it") {
        using namespace distributed_command_test;
        const task_fixture f;
        const auto killed = spawned_run::act_after(
            LORAMOE_TEST_MPIEXEC, mpirun_words(2, train_arguments(f, f.dir / "out", long_options)), "step 3/",
            [](pid_t mpirun_pid) {
                const auto ranks = spawned_run::children_of(mpirun_pid);
                REQUIRE(!ranks.empty());
                REQUIRE(::kill(ranks.back(), SIGKILL) == 0);
            });
        INFO("stderr: ", killed.err);
        CHECK(killed.status != 0);  // and within act_after's 60 s
        CHECK_FALSE(fs::exists(f.dir / "out" / "adapter_model.safetensors"));
    }
#else
    TEST_CASE("loramoe train built without MPI refuses the K > 1 processes of a launcher") {
        using namespace distributed_command_test;
        const task_fixture f;
        const auto r = run_cli(train_arguments(f, f.dir / "out", options), "OMPI_COMM_WORLD_SIZE=2");
        CHECK(r.status == 1);
        CHECK(
            r.err.find("2 processes were launched (mpirun, srun), but this loramoe was built without MPI") !=
            std::string::npos);
    }
#endif
}
