// Numbers stored as strings (safetensors metadata, command lines) are parsed strictly: the whole text
// is the number, finite, and an integer where one is asked for; errors name the value.

#include "test_support.hpp"

#include <loramoe/io/metadata.hpp>

TEST_SUITE("io") {
    TEST_CASE("parse_number: decimal and exponent forms; the value is named in every error") {
        CHECK(loramoe::io::parse_number("16", "alpha") == 16.0);
        CHECK(loramoe::io::parse_number("-2.5", "alpha") == -2.5);
        CHECK(loramoe::io::parse_number("1e-3", "alpha") == 1e-3);
        CHECK(loramoe::io::parse_number("0.1", "blc_alpha") == 0.1);
        for (const char* bad : {"", "abc", "5x", "1.5.2", "nan", "inf", "-inf", "1e400"}) {
            CAPTURE(std::string(bad));
            CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::parse_number(bad, "metadata alpha"),
                                "metadata alpha", "not a finite number");
        }
    }

    TEST_CASE("parse_number: the whole text must be the number, blanks included") {
        for (const char* bad : {" 5", "5 ", "\t5", "\n5"}) {
            CAPTURE(std::string(bad));
            CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::parse_number(bad, "metadata r"),
                                "metadata r");
        }
    }

    TEST_CASE("parse_integer: integers only") {
        CHECK(loramoe::io::parse_integer("5", "r") == 5);
        CHECK(loramoe::io::parse_integer("-3", "r") == -3);
        CHECK(loramoe::io::parse_integer("0", "r") == 0);
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::parse_integer("2.5", "metadata r"),
                            "metadata r", "'2.5'", "not an integer");
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::parse_integer("1e17", "metadata r"),
                            "not an integer");
        CHECK_THROWS_NAMING(loramoe::format_error, loramoe::io::parse_integer("four", "metadata r"),
                            "'four'");
    }

}  // TEST_SUITE
