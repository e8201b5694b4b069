// safetensors: every dtype written and read back, the conversions a reader makes (F16 and BF16 to
// float, any float to any float, integers to integers), metadata, scalars and empty tensors, and the
// exact bytes on disk.

#include "test_support.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

#include <loramoe/io/safetensors.hpp>

namespace safetensors_roundtrip_test {

template <class T>
std::vector<T> read_values(const loramoe::io::safetensors_reader& in, const char* name) {
    const auto t = in.read<T>(name);
    return std::vector<T>(t.data(), t.data() + t.size());
}

}  // namespace safetensors_roundtrip_test

TEST_SUITE("io") {
    TEST_CASE("safetensors: every dtype round-trips with its shape, and metadata with it") {
        using namespace safetensors_roundtrip_test;
        using loramoe::index;
        using loramoe::io::dtype;
        loramoe::test::temporary_directory dir;
        const auto path = dir / "all.safetensors";

        const std::vector<double> f64 = {1.0 / 3, -2.5e-300, 1e300, 0.0, -7.0, 42.125};
        const std::vector<float> f32 = {1.0f / 3, -2.5e-30f, 3e38f, -0.0f};
        const std::vector<Eigen::half> f16 = {Eigen::half(0.5f),     Eigen::half(-1.25f),
                                              Eigen::half(65504.0f), Eigen::half(6.103515625e-05f),
                                              Eigen::half(0.0f),     Eigen::half(3.0f)};
        const std::vector<Eigen::bfloat16> bf16 = {Eigen::bfloat16(1.5f), Eigen::bfloat16(-2.0f),
                                                   Eigen::bfloat16(3.0e38f),
                                                   Eigen::bfloat16(1.17549435e-38f)};
        const std::vector<std::int64_t> i64 = {INT64_MIN, -1, 0, INT64_MAX, 12345678901234};
        const std::vector<std::int32_t> i32 = {INT32_MIN, -7, 0, INT32_MAX};
        const std::vector<std::int16_t> i16 = {-32768, -1, 32767};
        const std::vector<std::int8_t> i8 = {-128, -1, 0, 127};
        const std::vector<std::uint8_t> u8 = {0, 1, 128, 255};
        const std::vector<std::uint8_t> boolean = {1, 0, 0, 1, 1, 0};
        const double scalar = 2.75;

        loramoe::io::safetensors_writer out;
        out.set_metadata("alpha", "16");
        out.set_metadata("note", "any UTF-8: \xc3\xa9t\xc3\xa9");
        out.add("f64", f64.data(), {2, 3});
        out.add("f32", f32.data(), {4});
        out.add("f16", f16.data(), {3, 2});
        out.add("bf16", bf16.data(), {2, 1, 2});
        out.add("i64", i64.data(), {5});
        out.add("i32", i32.data(), {2, 2});
        out.add("i16", i16.data(), {3});
        out.add("i8", i8.data(), {4});
        out.add("u8", u8.data(), {1, 4});
        out.add("bool", dtype::boolean, {2, 3}, std::as_bytes(std::span<const std::uint8_t>(boolean)));
        out.add("scalar", &scalar, {});
        out.write(path);

        const loramoe::io::safetensors_reader in(path);
        CHECK(in.entries().size() == 11);
        CHECK(in.metadata("alpha") == "16");
        CHECK(in.metadata("note") == "any UTF-8: \xc3\xa9t\xc3\xa9");
        CHECK(in.metadata().size() == 2);

        CHECK(in.entry("f64").type == dtype::f64);
        CHECK(in.entry("f64").shape == loramoe::shape_type{2, 3});
        CHECK(read_values<double>(in, "f64") == f64);
        CHECK(in.entry("f32").type == dtype::f32);
        const auto f32_back = read_values<float>(in, "f32");
        CHECK(std::memcmp(f32_back.data(), f32.data(), f32.size() * sizeof(float)) == 0);  // -0.0 too
        CHECK(in.entry("f16").type == dtype::f16);
        CHECK(in.entry("f16").shape == loramoe::shape_type{3, 2});
        CHECK(in.entry("bf16").type == dtype::bf16);
        CHECK(in.entry("bf16").shape == loramoe::shape_type{2, 1, 2});
        CHECK(read_values<std::int64_t>(in, "i64") == i64);
        CHECK(read_values<std::int32_t>(in, "i32") == i32);
        CHECK(read_values<std::int16_t>(in, "i16") == i16);
        CHECK(read_values<std::int8_t>(in, "i8") == i8);
        CHECK(read_values<std::uint8_t>(in, "u8") == u8);
        CHECK(in.entry("bool").type == dtype::boolean);
        CHECK(read_values<std::uint8_t>(in, "bool") == boolean);
        CHECK(in.entry("scalar").shape.empty());
        CHECK(read_values<double>(in, "scalar") == std::vector<double>{2.75});
    }

    TEST_CASE(
        "safetensors: a tensor with a zero dimension round-trips (no bytes, no copy from a null pointer)") {
        // Run by the asan preset too: reading zero bytes must not hand a null destination to memcpy.
        loramoe::test::temporary_directory dir;
        const std::vector<float> v = {1.0f, 2.0f};
        loramoe::io::safetensors_writer out;
        out.add("empty", v.data(), {0, 3});
        out.add("after", v.data(), {2});
        out.write(dir / "empty.safetensors");
        const loramoe::io::safetensors_reader in(dir / "empty.safetensors");
        CHECK(in.entry("empty").shape == loramoe::shape_type{0, 3});
        CHECK(in.entry("empty").elements() == 0);
        CHECK(in.read<float>("empty").size() == 0);
        CHECK(in.read<double>("empty").size() == 0);
        CHECK(safetensors_roundtrip_test::read_values<float>(in, "after") == v);
    }

    TEST_CASE("safetensors: F16 and BF16 convert exactly to float and double") {
        using namespace safetensors_roundtrip_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        std::vector<Eigen::half> f16;
        std::vector<Eigen::bfloat16> bf16;
        for (float v :
             {0.5f, -1.25f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f /* smallest subnormal */, 1.0f / 3})
            f16.push_back(Eigen::half(v));
        for (float v : {1.5f, -2.0f, 3.0e38f, 1.17549435e-38f, 1.0f / 3}) bf16.push_back(Eigen::bfloat16(v));
        loramoe::io::safetensors_writer out;
        out.add("f16", f16.data(), {static_cast<loramoe::index>(f16.size())});
        out.add("bf16", bf16.data(), {static_cast<loramoe::index>(bf16.size())});
        out.write(dir / "half.safetensors");
        const loramoe::io::safetensors_reader in(dir / "half.safetensors");
        const auto as_float = read_values<float>(in, "f16");
        const auto as_double = read_values<double>(in, "f16");
        for (std::size_t i = 0; i < f16.size(); ++i) {
            CAPTURE(i);
            CHECK(as_float[i] == static_cast<float>(f16[i]));
            CHECK(as_double[i] == static_cast<double>(static_cast<float>(f16[i])));
        }
        CHECK(as_float[0] == 0.5f);
        CHECK(as_float[2] == 65504.0f);
        CHECK(as_float[4] == 5.9604645e-08f);
        const auto bf_float = read_values<float>(in, "bf16");
        for (std::size_t i = 0; i < bf16.size(); ++i) CHECK(bf_float[i] == static_cast<float>(bf16[i]));
        CHECK(bf_float[0] == 1.5f);
        CHECK(bf_float[1] == -2.0f);
        // The bytes are IEEE half and bfloat16, little-endian: 0.5 = 0x3800, 1.5 = 0x3FC0.
        const auto f16_bytes = in.bytes(in.entry("f16"));
        CHECK(std::to_integer<int>(f16_bytes[0]) == 0x00);
        CHECK(std::to_integer<int>(f16_bytes[1]) == 0x38);
        const auto bf16_bytes = in.bytes(in.entry("bf16"));
        CHECK(std::to_integer<int>(bf16_bytes[0]) == 0xC0);
        CHECK(std::to_integer<int>(bf16_bytes[1]) == 0x3F);
    }

    TEST_CASE(
        "safetensors: F16 and BF16 read back into Eigen::half and Eigen::bfloat16, the types they are "
        "written from") {
        using namespace safetensors_roundtrip_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        const std::vector<Eigen::half> f16 = {Eigen::half(0.5f), Eigen::half(-3.0f)};
        const std::vector<Eigen::bfloat16> bf16 = {Eigen::bfloat16(1.5f), Eigen::bfloat16(-8.0f)};
        loramoe::io::safetensors_writer out;
        out.add("f16", f16.data(), {2});
        out.add("bf16", bf16.data(), {2});
        out.write(dir / "half.safetensors");
        const loramoe::io::safetensors_reader in(dir / "half.safetensors");
        std::vector<Eigen::half> f16_back;
        std::vector<Eigen::bfloat16> bf16_back;
        CHECK_NOTHROW(f16_back = read_values<Eigen::half>(in, "f16"));
        CHECK_NOTHROW(bf16_back = read_values<Eigen::bfloat16>(in, "bf16"));
        REQUIRE(f16_back.size() == 2);
        REQUIRE(bf16_back.size() == 2);
        CHECK(static_cast<float>(f16_back[1]) == -3.0f);
        CHECK(static_cast<float>(bf16_back[1]) == -8.0f);
    }

    TEST_CASE("safetensors: floats convert to floats, integers to integers") {
        using namespace safetensors_roundtrip_test;
        using loramoe::index;
        loramoe::test::temporary_directory dir;
        const std::vector<double> f64 = {0.1, -2.5};
        const std::vector<std::int8_t> i8 = {-5, 7};
        const std::vector<std::int32_t> i32 = {-70000, 3};
        loramoe::io::safetensors_writer out;
        out.add("f64", f64.data(), {2});
        out.add("i8", i8.data(), {2});
        out.add("i32", i32.data(), {2});
        out.write(dir / "c.safetensors");
        const loramoe::io::safetensors_reader in(dir / "c.safetensors");
        CHECK(read_values<float>(in, "f64") == std::vector<float>{0.1f, -2.5f});
        CHECK(read_values<std::int64_t>(in, "i8") == std::vector<std::int64_t>{-5, 7});
        CHECK(read_values<std::int64_t>(in, "i32") == std::vector<std::int64_t>{-70000, 3});
    }

    TEST_CASE("safetensors: the file is an 8-byte length, a JSON header padded to 8 bytes, then the data") {
        loramoe::test::temporary_directory dir;
        const std::vector<float> v = {1.0f, 2.0f, 3.0f};
        loramoe::io::safetensors_writer out;
        out.set_metadata("k", "v");
        out.add("a", v.data(), {3});
        out.write(dir / "f.safetensors");
        const std::string bytes = loramoe::test::read_file(dir / "f.safetensors");
        REQUIRE(bytes.size() >= 8);
        std::uint64_t length = 0;
        std::memcpy(&length, bytes.data(), 8);
        CHECK(length % 8 == 0);
        CHECK(bytes.size() == 8 + length + 12);
        const auto header = nlohmann::json::parse(bytes.substr(8, length));
        CHECK(header["a"]["dtype"] == "F32");
        CHECK(header["a"]["shape"] == nlohmann::json::array({3}));
        CHECK(header["a"]["data_offsets"] == nlohmann::json::array({0, 12}));
        CHECK(header["__metadata__"]["k"] == "v");
        float back[3];
        std::memcpy(back, bytes.data() + 8 + length, 12);
        CHECK(back[2] == 3.0f);
    }

    TEST_CASE("safetensors_writer: bad tensors are refused when added") {
        loramoe::io::safetensors_writer out;
        const std::vector<float> v(4);
        out.add("a", v.data(), {4});
        CHECK_THROWS_NAMING(loramoe::value_error, out.add("a", v.data(), {4}), "'a'", "twice");
        CHECK_THROWS_NAMING(loramoe::value_error, out.add("__metadata__", v.data(), {4}), "__metadata__");
        CHECK_THROWS_NAMING(
            loramoe::shape_error,
            out.add("b", loramoe::io::dtype::f32, {2, 3}, std::as_bytes(std::span<const float>(v))), "'b'",
            "24 bytes", "got 16");
    }

}  // TEST_SUITE
