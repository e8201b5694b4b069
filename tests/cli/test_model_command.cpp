// The `loramoe model` program: the HF golden case succeeds; each bad input the contract names (token ids
// past the vocabulary, labels below 0 other than -100, shapes that disagree, a config missing keys or
// with heads that do not divide the hidden size, an adapter tensor of the wrong shape, broken JSON)
// exits with status 1 or 2, names the problem on stderr, and leaves an existing output untouched.

#include "test_support.hpp"

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include <loramoe/io/json_file.hpp>
#include <loramoe/io/safetensors.hpp>

namespace model_command_test {

namespace fs = std::filesystem;
using loramoe::test::quote;
using loramoe::test::run_cli;

// A copy of the F64 golden case, to be broken in one place.
struct model_case {
    loramoe::test::temporary_directory dir;

    model_case() {
        fs::copy(loramoe::test::golden_dir() / "model_f64_gqa", dir.path(), fs::copy_options::recursive);
    }
    fs::path model() const { return dir / "model"; }
    fs::path adapter() const { return dir / "adapter"; }
    fs::path batch() const { return dir / "batch.safetensors"; }
    fs::path out() const { return dir / "out.safetensors"; }

    loramoe::test::cli_result run() const {
        return run_cli("model --model " + quote(model()) + " --adapter " + quote(adapter()) + " --batch " +
                       quote(batch()) + " --out " + quote(out()));
    }

    // Rewrites one integer tensor of the batch.
    void edit_batch(const std::string& name,
                    const std::function<void(std::vector<std::int64_t>&, loramoe::shape_type&)>& edit) {
        const loramoe::io::safetensors_reader in(batch());
        loramoe::io::safetensors_writer out;
        for (const auto& e : in.entries()) {
            auto t = in.read<std::int64_t>(e.name);
            std::vector<std::int64_t> values(t.span().begin(), t.span().end());
            loramoe::shape_type shape = e.shape;
            if (e.name == name) edit(values, shape);
            out.add(e.name, values.data(), shape);
        }
        out.write(batch());
    }

    void edit_json(const fs::path& path, const std::function<void(nlohmann::json&)>& edit) {
        auto j = loramoe::io::read_json_file(path);
        edit(j);
        loramoe::test::write_file(path, j.dump());
    }
};

// The program fails with status 1 or 2, says `words` on stderr, and leaves the output as it was.
void expect_refusal(const model_case& c, std::initializer_list<std::string> words) {
    loramoe::test::write_file(c.out(), "previous output");
    const auto r = c.run();
    INFO("stderr: ", r.err);
    CHECK((r.status == 1 || r.status == 2));
    for (const auto& word : words) CHECK(r.err.find(word) != std::string::npos);
    CHECK(loramoe::test::read_file(c.out()) == "previous output");
    for (const auto& entry : fs::directory_iterator(c.dir.path()))
        CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);
}

}  // namespace model_command_test

TEST_SUITE("cli") {
    using model_command_test::expect_refusal;
    using model_command_test::model_case;

    TEST_CASE("loramoe model: the golden case succeeds and writes every output") {
        model_case c;
        const auto r = c.run();
        INFO(r.err);
        REQUIRE(r.status == 0);
        const loramoe::io::safetensors_reader out(c.out());
        for (const char* name : {"loss", "ce_loss", "lbc_loss", "logits"}) CHECK(out.contains(name));
        CHECK(out.contains("grad.base_model.model.model.layers.1.mlp.down_proj.lora_route.weight"));
        CHECK(out.entry("logits").shape == loramoe::shape_type{2, 7, 40});
    }

    TEST_CASE("loramoe model: a token id past the vocabulary") {
        model_case c;
        c.edit_batch("input_ids", [](auto& v, auto&) { v[3] = 40; });
        expect_refusal(c, {"input_ids[0, 3] = 40", "vocabulary"});
    }

    TEST_CASE("loramoe model: a negative label other than -100") {
        model_case c;
        c.edit_batch("labels", [](auto& v, auto&) { v[4] = -1; });
        expect_refusal(c, {"labels[0, 4] = -1"});
    }

    TEST_CASE("loramoe model: batch tensors whose shapes disagree") {
        model_case c;
        c.edit_batch("labels", [](auto& v, auto& shape) {
            v.resize(v.size() - 2);
            shape = {2, 6};
        });
        expect_refusal(c, {"labels", "[2, 6]", "[2, 7]"});
    }

    TEST_CASE("loramoe model: a config missing a key") {
        model_case c;
        c.edit_json(c.model() / "config.json", [](auto& j) { j.erase("intermediate_size"); });
        expect_refusal(c, {"config.json", "intermediate_size"});
    }

    TEST_CASE("loramoe model: heads that do not divide the hidden size") {
        model_case c;
        c.edit_json(c.model() / "config.json", [](auto& j) {
            j["num_attention_heads"] = 5;
            j["num_key_value_heads"] = 5;
        });
        expect_refusal(c, {"num_attention_heads = 5", "hidden_size = 16"});
    }

    TEST_CASE("loramoe model: an adapter tensor of the wrong shape") {
        model_case c;
        const auto path = c.adapter() / "adapter_model.safetensors";
        const loramoe::io::safetensors_reader in(path);
        loramoe::io::safetensors_writer out;
        const std::string bad = "base_model.model.model.layers.0.mlp.up_proj.lora_B1.weight";
        for (const auto& e : in.entries()) {
            const auto t = in.read<double>(e.name);
            out.add(e.name, t.data(), e.name == bad ? loramoe::shape_type{e.shape[1], e.shape[0]} : e.shape);
        }
        out.write(path);
        expect_refusal(c, {bad, "[2, 24]", "[24, 2]"});
    }

    TEST_CASE("loramoe model: broken JSON") {
        model_case c;
        loramoe::test::write_file(c.adapter() / "adapter_config.json", "{\"r\": 2, \"lora_alpha\":");
        expect_refusal(c, {"adapter_config.json", "not valid JSON"});
    }

    TEST_CASE("loramoe model: a missing argument is a usage error") {
        model_case c;
        const auto r = loramoe::test::run_cli("model --model " + loramoe::test::quote(c.model()) +
                                              " --adapter " + loramoe::test::quote(c.adapter()));
        CHECK(r.status == 2);
        CHECK(r.err.find("--batch") != std::string::npos);
    }
}  // TEST_SUITE
