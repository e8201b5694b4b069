// safetensors_reader is strict: every malformed file is a format_error (a missing file an io_error)
// whose message names the file and, where there is one, the tensor.

#include "test_support.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include <loramoe/io/safetensors.hpp>

namespace safetensors_strict_test {

// A file of an 8-byte little-endian header length, the header text and `data_bytes` bytes of data;
// `declared_length` overrides the length written in front.
std::string craft(const std::string& header, std::size_t data_bytes,
                  std::optional<std::uint64_t> declared_length = {}) {
    const std::uint64_t length = declared_length.value_or(header.size());
    std::string file(8, '\0');
    std::memcpy(file.data(), &length, 8);
    file += header;
    file += std::string(data_bytes, '\x01');
    return file;
}

// The message of the exception reading `bytes` as a safetensors file throws (the test fails unless it is
// exactly a format_error whose message names the file and each word).
void check_rejected(const loramoe::test::temporary_directory& dir, const std::string& bytes,
                    std::initializer_list<std::string_view> words) {
    const auto path = dir / "case.safetensors";
    loramoe::test::write_file(path, bytes);
    const std::string file = path.string();
    const std::string problem = loramoe::test::throw_problem<loramoe::format_error>(
        [&] { loramoe::io::safetensors_reader reader(path); }, {file});
    CHECK_MESSAGE(problem.empty(), problem);
    if (!words.size()) return;
    const std::string words_problem = loramoe::test::throw_problem<loramoe::format_error>(
        [&] { loramoe::io::safetensors_reader reader(path); }, words);
    CHECK_MESSAGE(words_problem.empty(), words_problem);
}

const std::string valid_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

}  // namespace safetensors_strict_test

TEST_SUITE("io") {
    TEST_CASE("safetensors: a well-formed crafted file is accepted (the baseline of the cases below)") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        loramoe::test::write_file(dir / "ok.safetensors",
                                  craft("{" + valid_entry + R"(,"__metadata__":{"k":"v"}})", 8));
        const loramoe::io::safetensors_reader in(dir / "ok.safetensors");
        CHECK(in.entries().size() == 1);
        CHECK(in.entry("a").elements() == 2);
        CHECK(in.metadata("k") == "v");
    }

    TEST_CASE("safetensors: a truncated file or a header length past the end is a format_error") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        check_rejected(dir, "", {"0 bytes is too short"});
        check_rejected(dir, "abc", {"3 bytes is too short"});
        check_rejected(dir, craft("{" + valid_entry + "}", 8, 1000), {"header length 1000 exceeds"});
        // A valid file cut short anywhere.
        const std::string whole = craft("{" + valid_entry + "}", 8);
        for (std::size_t cut : {std::size_t{7}, std::size_t{12}, whole.size() - 9, whole.size() - 1}) {
            CAPTURE(cut);
            check_rejected(dir, whole.substr(0, cut), {});
        }
        check_rejected(dir, whole.substr(0, whole.size() - 3), {"'a'", "truncated"});
    }

    TEST_CASE("safetensors: a header that is not JSON, or not an object, is a format_error") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        check_rejected(dir, craft("{\"a\": {", 0), {"not valid JSON"});
        check_rejected(dir, craft("\xff\xfe garbage", 0), {"not valid JSON"});
        check_rejected(dir, craft("[1, 2]", 0), {"the top level is [1,2], expected a JSON object"});
        check_rejected(dir, craft(R"({"a": 3})", 0), {"'a' is 3, expected a JSON object"});
    }

    TEST_CASE("safetensors: dtype and shape are checked") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        check_rejected(dir, craft(R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2),
                       {"tensor 'w': 'dtype' is \"F8\", expected one of \"F64\", \"F32\""});
        check_rejected(dir, craft(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8),
                       {"tensor 'w': 'dtype' is missing, expected a string"});
        check_rejected(dir, craft(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8),
                       {"tensor 'w': 'shape' is missing, expected a list of unsigned 64-bit integers"});
        check_rejected(dir, craft(R"({"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}})", 8),
                       {"tensor 'w': 'shape' is [-1,2], expected a list of unsigned 64-bit integers"});
        check_rejected(dir, craft(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
                       {"tensor 'w': 'shape' is [2.5], expected a list of unsigned 64-bit integers"});
        check_rejected(dir, craft(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8),
                       {"tensor 'w': 'shape' is [\"2\"], expected a list of unsigned 64-bit integers"});
        check_rejected(
            dir, craft(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
            {"'w'", "overflows"});
    }

    TEST_CASE("safetensors: offsets must match the shape and tile the data exactly") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        // shape [2, 2] of F32 needs 16 bytes; the offsets hold 12
        check_rejected(dir, craft(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
                       {"'w'", "needs 16 bytes", "hold 12"});
        // overlap
        check_rejected(dir,
                       craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                             12),
                       {"'b'", "overlap"});
        // the same bytes twice
        check_rejected(dir,
                       craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                             8),
                       {"overlap"});
        // gap
        check_rejected(dir,
                       craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                             20),
                       {"'b'", "gap"});
        // a gap at the start
        check_rejected(dir, craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                       {"'a'", "gap"});
        // trailing bytes after the last tensor
        check_rejected(dir, craft("{" + valid_entry + "}", 12), {"trailing bytes"});
        // offsets past the end of the file
        check_rejected(dir, craft(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                       {"'a'", "run past the 8 bytes"});
        // end before begin, and offsets that are not two non-negative integers
        check_rejected(dir, craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
                       {"'a'", "end before they begin"});
        check_rejected(dir, craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
                       {"tensor 'a': 'data_offsets' is [0], expected two offsets [begin, end]"});
        check_rejected(dir, craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
                       {"tensor 'a': 'data_offsets' is [-8,0], expected a list of unsigned 64-bit integers"});
    }

    TEST_CASE("safetensors: metadata must be an object of strings") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        check_rejected(dir, craft("{" + valid_entry + R"(,"__metadata__":{"alpha":16}})", 8),
                       {"'__metadata__': 'alpha' is 16, expected a string"});
        check_rejected(dir, craft("{" + valid_entry + R"(,"__metadata__":["x"]})", 8),
                       {"'__metadata__' is [\"x\"], expected a JSON object"});
        // A missing key is a format_error naming the file and the key.
        loramoe::test::write_file(dir / "ok.safetensors", craft("{" + valid_entry + "}", 8));
        const loramoe::io::safetensors_reader in(dir / "ok.safetensors");
        CHECK_THROWS_NAMING(loramoe::format_error, in.metadata("alpha"), (dir / "ok.safetensors").string(),
                            "'alpha'");
    }

    TEST_CASE("safetensors: a missing tensor, a wrong shape, a float read as an integer") {
        using namespace safetensors_strict_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        const auto path = dir / "ok.safetensors";
        loramoe::test::write_file(path, craft("{" + valid_entry + "}", 8));
        const loramoe::io::safetensors_reader in(path);
        CHECK_THROWS_NAMING(loramoe::format_error, in.entry("q"), path.string(), "no tensor 'q'");
        CHECK_THROWS_NAMING(loramoe::format_error, in.read<float>("q"), path.string(), "'q'");
        CHECK_THROWS_NAMING(loramoe::shape_error, in.read<float>("a", {3}), path.string(), "'a'", "[2]",
                            "[3]");
        CHECK_THROWS_NAMING(loramoe::format_error, in.read<std::int64_t>("a"), path.string(), "'a'", "F32",
                            "an integer dtype");
        CHECK_NOTHROW(in.read<float>("a", {2}));
    }

    TEST_CASE("safetensors: an integer tensor read as a float is a format_error") {
        loramoe::test::temporary_directory dir;
        const std::vector<std::int64_t> ids = {1, 2};
        loramoe::io::safetensors_writer out;
        out.add("ids", ids.data(), {2});
        out.write(dir / "ids.safetensors");
        const loramoe::io::safetensors_reader in(dir / "ids.safetensors");
        CHECK_THROWS_NAMING(loramoe::format_error, in.read<double>("ids"), "'ids'", "I64",
                            "a floating-point dtype");
    }

    TEST_CASE("safetensors: a missing file is an io_error naming it") {
        loramoe::test::temporary_directory dir;
        const auto path = dir / "absent.safetensors";
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::safetensors_reader{path}, path.string(),
                            "cannot open");
    }

    TEST_CASE("safetensors: a directory is an io_error that says it is not a regular file") {
        loramoe::test::temporary_directory dir;
        // Whatever errno held before (here: a stale ENOENT from an earlier, unrelated call), the message
        // must describe this failure.
        errno = ENOENT;
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::safetensors_reader{dir.path()},
                            dir.path().string(), "not a regular file");
    }

}  // TEST_SUITE
