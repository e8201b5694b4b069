// io::json_fields, the one reader of JSON fields: a missing key, a wrong type and a value outside the
// allowed set each give "SOURCE: 'KEY' is FOUND, expected EXPECTED" exactly; null takes the default of
// an optional field and is a wrong type for a required one; types are strict.

#include "test_support.hpp"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include <loramoe/io/json_fields.hpp>

namespace test_json_fields {
using nlohmann::json;

const json sample = json::parse(R"({"r": 4, "alpha": 2.5, "name": "x", "flag": true, "none": null,
                                    "ids": [1, 2], "names": ["a", "b"], "huge": 18446744073709551615,
                                    "whole": 2.0, "negative": -3, "child": {"k": 1}})");
}  // namespace test_json_fields

TEST_SUITE("io") {
    TEST_CASE("json_fields: values of each kind are read") {
        using namespace test_json_fields;
        const loramoe::io::json_fields f(sample, "a.json");
        CHECK(f.source() == "a.json");
        CHECK(f.required<std::int64_t>("r") == 4);
        CHECK(f.required<double>("alpha") == 2.5);
        CHECK(f.required<double>("r") == 4.0);  // a number field takes an integer
        CHECK(f.required<std::string>("name") == "x");
        CHECK(f.required<bool>("flag"));
        CHECK(f.required<std::vector<std::int64_t>>("ids") == std::vector<std::int64_t>{1, 2});
        CHECK(f.required<std::vector<std::string>>("names") == std::vector<std::string>{"a", "b"});
        CHECK(f.required<std::uint64_t>("huge") == 18446744073709551615ull);
        CHECK(f.required<int>("negative") == -3);
        CHECK(f.object("child").required<std::int64_t>("k") == 1);
    }

    TEST_CASE("json_fields: a missing key names the source, the key and the expected kind") {
        using namespace test_json_fields;
        const loramoe::io::json_fields f(sample, "dir/config.json");
        CHECK_THROWS_WITH_AS(f.required<std::int64_t>("vocab_size"),
                             "dir/config.json: 'vocab_size' is missing, expected a signed 64-bit integer",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<std::string>("absent"),
                             "dir/config.json: 'absent' is missing, expected a string",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.object("absent"),
                             "dir/config.json: 'absent' is missing, expected a JSON object",
                             loramoe::format_error);
    }

    TEST_CASE("json_fields: a wrong type quotes the value found") {
        using namespace test_json_fields;
        const loramoe::io::json_fields f(sample, "a.json");
        CHECK_THROWS_WITH_AS(f.required<std::int64_t>("name"),
                             "a.json: 'name' is \"x\", expected a signed 64-bit integer",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<std::int64_t>("alpha"),
                             "a.json: 'alpha' is 2.5, expected a signed 64-bit integer",
                             loramoe::format_error);
        // Strict: 2.0 is not an integer, true is not a number, an integer past int64 does not fit.
        CHECK_THROWS_WITH_AS(f.required<std::int64_t>("whole"),
                             "a.json: 'whole' is 2.0, expected a signed 64-bit integer",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<double>("flag"), "a.json: 'flag' is true, expected a number",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<std::int64_t>("huge"),
                             "a.json: 'huge' is 18446744073709551615, expected a signed 64-bit integer",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<std::uint64_t>("negative"),
                             "a.json: 'negative' is -3, expected an unsigned 64-bit integer",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<bool>("r"), "a.json: 'r' is 4, expected true or false",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<std::vector<std::string>>("ids"),
                             "a.json: 'ids' is [1,2], expected a list of strings", loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.required<std::vector<std::int64_t>>("names"),
                             "a.json: 'names' is [\"a\",\"b\"], expected a list of signed 64-bit integers",
                             loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.object("r"), "a.json: 'r' is 4, expected a JSON object",
                             loramoe::format_error);
        // A wrong type in an optional field is an error too, not the default.
        CHECK_THROWS_WITH_AS(f.optional<std::string>("r", "d"), "a.json: 'r' is 4, expected a string",
                             loramoe::format_error);
        // A nested object's errors name the path to it.
        CHECK_THROWS_WITH_AS(f.object("child").required<std::string>("k"),
                             "a.json: 'child': 'k' is 1, expected a string", loramoe::format_error);
    }

    TEST_CASE("json_fields: null is the default of an optional field, and a wrong type for a required one") {
        using namespace test_json_fields;
        const loramoe::io::json_fields f(sample, "a.json");
        CHECK(f.optional<std::int64_t>("none", 7) == 7);
        CHECK(f.optional<std::int64_t>("absent", 7) == 7);
        CHECK(f.optional<std::int64_t>("r", 7) == 4);
        CHECK_FALSE(f.optional<std::int64_t>("none").has_value());
        CHECK_FALSE(f.optional<std::int64_t>("absent").has_value());
        CHECK(f.optional<std::int64_t>("r") == 4);
        CHECK(f.one_of("none", {"linears", "ffn"}, "linears") == "linears");
        CHECK(f.contains("none"));
        CHECK_FALSE(f.is_set("none"));
        CHECK(f.is_set("r"));
        CHECK_FALSE(f.contains("absent"));
        CHECK(f.holds<std::string>("name"));
        CHECK_FALSE(f.holds<std::string>("r"));
        CHECK_THROWS_WITH_AS(f.required<std::int64_t>("none"),
                             "a.json: 'none' is null, expected a signed 64-bit integer",
                             loramoe::format_error);
    }

    TEST_CASE("json_fields: a value outside the allowed set is a value_error in the same wording") {
        using namespace test_json_fields;
        const loramoe::io::json_fields f(sample, "adapter_config.json");
        CHECK_THROWS_WITH_AS(f.one_of("name", {"linears", "ffn"}, "linears"),
                             "adapter_config.json: 'name' is \"x\", expected one of \"linears\", \"ffn\"",
                             loramoe::value_error);
        CHECK_THROWS_WITH_AS(f.one_of("name", {"silu"}, "silu"),
                             "adapter_config.json: 'name' is \"x\", expected \"silu\"", loramoe::value_error);
        CHECK_THROWS_WITH_AS(f.one_of("r", {"silu"}, "silu"),
                             "adapter_config.json: 'r' is 4, expected a string", loramoe::format_error);
        CHECK_THROWS_WITH_AS(f.fail_field<loramoe::value_error>("r", "an even number"),
                             "adapter_config.json: 'r' is 4, expected an even number", loramoe::value_error);
    }

    TEST_CASE("json_fields: a variant reads the first alternative that matches") {
        using namespace test_json_fields;
        using ids = std::variant<std::int64_t, std::vector<std::int64_t>>;
        const loramoe::io::json_fields f(sample, "a.json");
        CHECK(std::get<std::int64_t>(f.required<ids>("r")) == 4);
        CHECK(std::get<std::vector<std::int64_t>>(f.required<ids>("ids")) == std::vector<std::int64_t>{1, 2});
        CHECK_THROWS_WITH_AS(
            f.required<ids>("names"),
            "a.json: 'names' is [\"a\",\"b\"], expected a signed 64-bit integer or a list of signed "
            "64-bit integers",
            loramoe::format_error);
    }

    TEST_CASE("json_fields: a value that is not an object, and a long value, are quoted") {
        using namespace test_json_fields;
        const json list = json::parse("[1, 2]"), null;
        CHECK_THROWS_WITH_AS(loramoe::io::json_fields(list, "a.json"),
                             "a.json: the top level is [1,2], expected a JSON object", loramoe::format_error);
        CHECK_THROWS_WITH_AS(loramoe::io::json_fields(null, "data.jsonl:3"),
                             "data.jsonl:3: the top level is null, expected a JSON object",
                             loramoe::format_error);
        const json long_value = {{"k", std::string(100, 'a')}};
        CHECK_THROWS_WITH_AS(
            loramoe::io::json_fields(long_value, "a.json").required<std::int64_t>("k"),
            ("a.json: 'k' is \"" + std::string(56, 'a') + "..., expected a signed 64-bit integer").c_str(),
            loramoe::format_error);
    }
}  // TEST_SUITE("io")
