// Atomic writes: a reader sees the old file or the complete new one; a failed write leaves the
// target as it was and no temporary file behind.

#include "test_support.hpp"

#include <stdexcept>

#include <loramoe/io/atomic_file.hpp>
#include <loramoe/io/safetensors.hpp>

TEST_SUITE("io") {
    TEST_CASE("atomic write: a new file, then an existing one replaced, no temporary left") {
        loramoe::test::temporary_directory dir;
        const auto path = dir / "out.txt";
        loramoe::io::write_text_atomically(path, "first");
        CHECK(loramoe::test::read_file(path) == "first");
        loramoe::io::write_text_atomically(path, "second, longer");
        CHECK(loramoe::test::read_file(path) == "second, longer");
        CHECK(dir.files() == std::vector<std::string>{"out.txt"});
    }

    TEST_CASE("atomic write: a writer that fails leaves the old file byte-identical and no temporary") {
        loramoe::test::temporary_directory dir;
        const auto path = dir / "out.bin";
        loramoe::test::write_file(path, std::string("old\0contents", 12));
        CHECK_THROWS_WITH_AS(loramoe::io::write_file_atomically(path,
                                                                [](std::ostream& out) {
                                                                    out << "half of the new";
                                                                    throw std::runtime_error("disk on fire");
                                                                }),
                             "disk on fire", std::runtime_error);
        CHECK(loramoe::test::read_file(path) == std::string("old\0contents", 12));
        CHECK(dir.files() == std::vector<std::string>{"out.bin"});
    }

    TEST_CASE("atomic write: into a folder that does not exist, an io_error naming it, and nothing created") {
        loramoe::test::temporary_directory dir;
        const auto path = dir / "missing" / "out.safetensors";
        const std::vector<float> v = {1, 2};
        loramoe::io::safetensors_writer out;
        out.add("v", v.data(), {2});
        CHECK_THROWS_NAMING(loramoe::io_error, out.write(path), (dir / "missing").string(), "cannot create");
        CHECK(dir.files().empty());
    }

    TEST_CASE(
        "atomic write: over an existing folder, an io_error; the folder stays and no temporary is left") {
        loramoe::test::temporary_directory dir;
        std::filesystem::create_directory(dir / "target");
        loramoe::test::write_file(dir / "target" / "inside", "x");
        CHECK_THROWS_NAMING(loramoe::io_error, loramoe::io::write_text_atomically(dir / "target", "text"),
                            "cannot rename", (dir / "target").string());
        CHECK(dir.files() == std::vector<std::string>{"target"});
        CHECK(loramoe::test::read_file(dir / "target" / "inside") == "x");
    }

    TEST_CASE("atomic write: safetensors_writer replaces an existing file only when it succeeds") {
        loramoe::test::temporary_directory dir;
        const auto path = dir / "t.safetensors";
        const std::vector<double> a = {1, 2, 3}, b = {4, 5};
        loramoe::io::safetensors_writer first;
        first.add("a", a.data(), {3});
        first.write(path);
        const std::string before = loramoe::test::read_file(path);
        loramoe::io::safetensors_writer second;
        second.add("b", b.data(), {2});
        second.write(path);
        CHECK(loramoe::test::read_file(path) != before);
        const loramoe::io::safetensors_reader in(path);
        CHECK(in.contains("b"));
        CHECK_FALSE(in.contains("a"));
        CHECK(dir.files() == std::vector<std::string>{"t.safetensors"});
    }

}  // TEST_SUITE
