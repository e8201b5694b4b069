// `loramoe demo --quick`: the main job, small. The artefacts must be complete and sane: a report with
// its sections, results for every method and size with accuracies in [0, 1], the base model's scores,
// expert utilisation for the routed runs, and two SVG figures naming every method.

#include "test_support.hpp"

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include <loramoe/io/json_file.hpp>
#include "demo/experiment.hpp"

TEST_SUITE("demo") {
    TEST_CASE("loramoe demo --quick writes a complete, sane report") {
        namespace fs = std::filesystem;
        loramoe::test::temporary_directory dir;
        const auto out = dir / "demo-out";
        const auto r = loramoe::test::run_cli("demo --quick --out " + loramoe::test::quote(out));
        INFO("stderr tail: ", r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0));
        REQUIRE(r.status == 0);

        for (const char* file :
             {"report.md", "results.json", "knowledge_vs_data.svg", "expert_utilisation.svg"})
            CHECK(fs::exists(out / file));
        CHECK(fs::exists(out / "base-model" / "config.json"));
        CHECK(fs::exists(out / "base-model" / "model.safetensors"));
        CHECK(fs::exists(out / "base-model" / "tokenizer.model"));
        CHECK(fs::exists(out / "adapter-loramoe-lbc" / "adapter_model.safetensors"));

        const auto results = loramoe::io::read_json_file(out / "results.json");
        const auto config = loramoe::demo::quick_demo();
        const auto& runs = results.at("runs");
        CHECK(runs.size() == config.sizes.size() * loramoe::demo::methods.size());
        std::set<std::string> seen;
        auto in_unit = [](const nlohmann::json& x) { return x.get<double>() >= 0 && x.get<double>() <= 1; };
        for (const auto& run : runs) {
            seen.insert(run.at("method").get<std::string>() + "@" +
                        std::to_string(run.at("size").get<int>()));
            const auto& a = run.at("accuracy");
            CHECK(in_unit(a.at("knowledge")));
            CHECK(in_unit(a.at("knowledge_probe")));
            CHECK(a.at("skills").size() == 3);
            for (const auto& [skill, accuracy] : a.at("skills").items()) CHECK(in_unit(accuracy));
            const bool routed = run.at("method").get<std::string>().starts_with("loramoe");
            CHECK(run.at("expert_utilisation").size() ==
                  (routed ? 2u * 3u : 0u));  // 2 layers x gate, up, down
            for (const auto& router : run.at("expert_utilisation"))
                for (const auto& [task, gates] : router.at("mean_gate").items()) {
                    double sum = 0;
                    for (double g : gates) sum += g;
                    CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));  // the gates of a token sum to 1
                }
        }
        CHECK(seen.size() == runs.size());
        // The pretrained base model knows the facts before any fine-tuning.
        CHECK(results.at("base_model").at("accuracy").at("knowledge_probe").get<double>() > 0.5);

        const std::string report = loramoe::test::read_file(out / "report.md");
        for (const char* section : {"## What ran", "## Main table", "## What this run showed", "## Caveats",
                                    "knowledge_vs_data.svg", "expert_utilisation.svg"})
            CHECK(report.find(section) != std::string::npos);
        const std::string figure = loramoe::test::read_file(out / "knowledge_vs_data.svg");
        CHECK(figure.find("<svg") != std::string::npos);
        CHECK(figure.find("</svg>") != std::string::npos);
        for (const auto& m : loramoe::demo::methods) CHECK(figure.find(m.label) != std::string::npos);
        const std::string heatmap = loramoe::test::read_file(out / "expert_utilisation.svg");
        CHECK(heatmap.find("layer 1.mlp.down_proj") != std::string::npos);
    }

    TEST_CASE("loramoe demo refuses sizes out of order and rates that are not positive, writing nothing") {
        loramoe::test::temporary_directory dir;
        const auto out = dir / "demo-out";
        const auto unordered =
            loramoe::test::run_cli("demo --quick --sizes 4 1 --out " + loramoe::test::quote(out));
        CHECK(unordered.status == 1);
        CHECK(unordered.err.find("strictly increasing") != std::string::npos);
        const auto zero_rate =
            loramoe::test::run_cli("demo --quick --full-lr 0 --out " + loramoe::test::quote(out));
        CHECK(zero_rate.status == 2);
        CHECK(zero_rate.err.find("--full-lr") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(out));
    }
}  // TEST_SUITE
