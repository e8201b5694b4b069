// The `loramoe layer` program: a golden case succeeds and matches PyTorch; bad input exits with status 1
// (bad data) or 2 (bad command line), says what is wrong on stderr, and leaves an existing output file
// byte-identical, or creates none.

#include "test_support.hpp"

#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>

#include <loramoe/io/safetensors.hpp>

namespace layer_command_test {

using loramoe::test::quote;
using loramoe::test::run_cli;

namespace fs = std::filesystem;
using loramoe::io::dtype;

// A case file as named tensors of raw bytes, to be changed and written back.
struct case_file {
    struct tensor {
        std::string name;
        dtype type;
        loramoe::shape_type shape;
        std::vector<std::byte> bytes;
    };
    std::map<std::string, std::string> metadata;
    std::vector<tensor> tensors;

    static case_file read(const fs::path& path) {
        const loramoe::io::safetensors_reader in(path);
        case_file c;
        c.metadata = in.metadata();
        for (const auto& e : in.entries()) {
            const auto bytes = in.bytes(e);
            c.tensors.push_back({e.name, e.type, e.shape, {bytes.begin(), bytes.end()}});
        }
        return c;
    }
    void write(const fs::path& path) const {
        loramoe::io::safetensors_writer out;
        for (const auto& [key, value] : metadata) out.set_metadata(key, value);
        for (const auto& t : tensors) out.add(t.name, t.type, t.shape, t.bytes);
        out.write(path);
    }
    tensor& at(const std::string& name) {
        for (auto& t : tensors)
            if (t.name == name) return t;
        throw std::runtime_error("no tensor " + name + " in the golden case");
    }
    void remove(const std::string& name) {
        std::erase_if(tensors, [&](const tensor& t) { return t.name == name; });
    }
};

const fs::path golden_case = loramoe::test::golden_dir() / "layer_odd_f64.safetensors";

// Runs the program on `case_path` twice: once over an existing output file, which must stay
// byte-identical, and once with no output file, which must not appear. The output folder must hold
// nothing else afterwards (no temporary file). Checks the exit status and that stderr names each word.
void check_refused(const fs::path& case_path, int status, std::initializer_list<std::string_view> words) {
    for (bool existing : {true, false}) {
        CAPTURE(existing);
        loramoe::test::temporary_directory out_dir;
        const auto out = out_dir / "out.safetensors";
        const std::string sentinel = "an earlier result, not to be touched\n";
        if (existing) loramoe::test::write_file(out, sentinel);
        const auto r = run_cli("layer --case " + quote(case_path) + " --out " + quote(out));
        CHECK(r.status == status);
        for (std::string_view word : words)
            CHECK_MESSAGE(r.err.find(word) != std::string::npos, "stderr \"", r.err, "\" does not name \"",
                          word, "\"");
        if (existing) {
            CHECK(loramoe::test::read_file(out) == sentinel);
            CHECK(out_dir.files() == std::vector<std::string>{"out.safetensors"});
        } else {
            CHECK(out_dir.files().empty());
        }
    }
}

}  // namespace layer_command_test

TEST_SUITE("cli") {
    TEST_CASE("loramoe layer: a golden case succeeds and matches PyTorch, on both paths") {
        using namespace layer_command_test;
        using loramoe::index;
        const loramoe::io::safetensors_reader expected(loramoe::test::golden_dir() /
                                                       "layer_odd_f64.expected.safetensors");
        for (const char* path : {"", " --path fused", " --path reference"}) {
            INFO("options: ", std::string(path));
            loramoe::test::temporary_directory dir;
            const auto r = run_cli("layer --case " + quote(golden_case) + " --out " +
                                   quote(dir / "out.safetensors") + path);
            CHECK(r.status == 0);
            CHECK(r.err.empty());
            REQUIRE(fs::exists(dir / "out.safetensors"));
            CHECK(dir.files() == std::vector<std::string>{"out.safetensors"});
            const loramoe::io::safetensors_reader got(dir / "out.safetensors");
            for (const char* tensor :
                 {"y", "gates", "lbc", "grad_x", "grad_lora_A", "grad_lora_B", "grad_router"}) {
                INFO("tensor ", std::string(tensor));
                const auto want = expected.read<double>(tensor);
                loramoe::test::expect_close(got.read<double>(tensor), want,
                                            1e-9 * loramoe::test::max_abs(want), 0);
            }
        }
    }

    TEST_CASE("loramoe layer: a missing tensor") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        auto c = case_file::read(golden_case);
        c.remove("router");
        c.write(dir / "case.safetensors");
        check_refused(dir / "case.safetensors", 1,
                      {"loramoe layer:", "case.safetensors", "no tensor 'router'"});
    }

    TEST_CASE("loramoe layer: a misshapen tensor") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        auto c = case_file::read(golden_case);
        auto& router = c.at("router");  // [3, 13] -> [3, 12]
        router.shape = {3, 12};
        router.bytes.resize(3 * 12 * sizeof(double));
        c.write(dir / "case.safetensors");
        check_refused(dir / "case.safetensors", 1, {"'router'", "[3, 12]", "[3, 13]"});
    }

    TEST_CASE("loramoe layer: a corrupt file and a truncated file") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        std::string bytes = loramoe::test::read_file(golden_case);
        std::string corrupt = bytes;
        for (std::size_t i = 8; i < 24; ++i) corrupt[i] = '#';
        loramoe::test::write_file(dir / "corrupt.safetensors", corrupt);
        check_refused(dir / "corrupt.safetensors", 1, {"corrupt.safetensors", "not valid JSON"});
        loramoe::test::write_file(dir / "truncated.safetensors", bytes.substr(0, bytes.size() - 5));
        check_refused(dir / "truncated.safetensors", 1, {"truncated.safetensors", "truncated"});
        loramoe::test::write_file(dir / "empty.safetensors", "");
        check_refused(dir / "empty.safetensors", 1, {"empty.safetensors", "too short"});
    }

    TEST_CASE("loramoe layer: an unknown blc_statistic, r = 0, a non-numeric alpha") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        auto c = case_file::read(golden_case);
        c.metadata["blc_statistic"] = "cv3";
        c.write(dir / "statistic.safetensors");
        check_refused(dir / "statistic.safetensors", 1, {"unknown LBC statistic 'cv3'"});
        c = case_file::read(golden_case);
        c.metadata["r"] = "0";
        c.write(dir / "rank.safetensors");
        check_refused(dir / "rank.safetensors", 1, {"metadata r = 0", "positive"});
        c = case_file::read(golden_case);
        c.metadata["alpha"] = "sixteen";
        c.write(dir / "alpha.safetensors");
        check_refused(dir / "alpha.safetensors", 1, {"metadata alpha", "'sixteen'"});
        c = case_file::read(golden_case);
        c.metadata.erase("blc_weight");
        c.write(dir / "weight.safetensors");
        check_refused(dir / "weight.safetensors", 1, {"'blc_weight'"});
    }

    TEST_CASE("loramoe layer: mixed F32 and F64 tensors") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        auto c = case_file::read(golden_case);
        auto& router = c.at("router");
        std::vector<double> values(router.bytes.size() / sizeof(double));
        std::memcpy(values.data(), router.bytes.data(), router.bytes.size());
        const std::vector<float> narrowed(values.begin(), values.end());
        router.type = dtype::f32;
        const auto bytes = std::as_bytes(std::span<const float>(narrowed));
        router.bytes.assign(bytes.begin(), bytes.end());
        c.write(dir / "case.safetensors");
        check_refused(dir / "case.safetensors", 1, {"'router' is F32", "'x' is F64"});
    }

    TEST_CASE("loramoe layer: a mask value other than 0 or 1") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        auto c = case_file::read(golden_case);
        auto& mask = c.at("mask");
        const std::int64_t two = 2;
        std::memcpy(mask.bytes.data() + 3 * sizeof(std::int64_t), &two, sizeof two);
        c.write(dir / "case.safetensors");
        check_refused(dir / "case.safetensors", 1, {"mask holds 2 at element 3"});
    }

    TEST_CASE("loramoe layer: an output folder that does not exist") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        const auto r = run_cli("layer --case " + quote(golden_case) + " --out " +
                               quote(dir / "missing" / "out.safetensors"));
        CHECK(r.status == 1);
        CHECK(r.err.find("cannot create") != std::string::npos);
        CHECK(dir.files().empty());
    }

    TEST_CASE("loramoe layer: a bad command line exits with status 2") {
        using namespace layer_command_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        auto r = run_cli("layer --case " + quote(golden_case));
        CHECK(r.status == 2);
        CHECK(r.err.find("--out") != std::string::npos);
        r = run_cli("layer --case " + quote(dir / "absent.safetensors") + " --out " +
                    quote(dir / "out.safetensors"));
        CHECK(r.status == 2);
        CHECK(r.err.find("absent.safetensors") != std::string::npos);
        r = run_cli("layer --case " + quote(golden_case) + " --out " + quote(dir / "out.safetensors") +
                    " --path sideways");
        CHECK(r.status == 2);
        CHECK(r.err.find("sideways") != std::string::npos);
        r = run_cli("");
        CHECK(r.status == 2);
        CHECK(dir.files().empty());
    }

}  // TEST_SUITE
