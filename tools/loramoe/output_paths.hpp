#pragma once
// Outputs never overwrite inputs: before a command reads anything, the paths it will write are
// compared with the paths it reads, and a clash is refused (exit 2), so that `train --mode full
// --out DIR --model DIR` cannot replace the model it loads, nor `eval --out data.jsonl` its data.
//
// An input is a path given on the command line and, for a folder, every entry in it (the files a
// checkpoint folder holds); an output is a file or folder the command writes. They clash when they are
// the same path (after symbolic links and `..`), or when an output folder holds the input.

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <loramoe/core/error.hpp>

namespace loramoe::cli {

struct named_path {
    std::string option;  // "--out", "--model"
    std::filesystem::path path;
};

// Throws value_error when an output is an input, or holds one.
inline void refuse_outputs_over_inputs(const std::vector<named_path>& outputs,
                                       const std::vector<named_path>& inputs) {
    namespace fs = std::filesystem;
    auto resolved = [](const fs::path& p) {
        std::error_code ec;
        const fs::path r = fs::weakly_canonical(fs::absolute(p), ec);
        return ec ? fs::absolute(p).lexically_normal() : r;
    };
    auto within = [](const fs::path& inner, const fs::path& outer) {
        const auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
        return o == outer.end();
    };
    std::vector<std::pair<const named_path*, fs::path>> read;
    for (const named_path& in : inputs) {
        if (in.path.empty()) continue;
        read.emplace_back(&in, resolved(in.path));
        std::error_code ec;
        if (fs::is_directory(in.path, ec))
            for (const auto& entry : fs::directory_iterator(in.path, ec))
                read.emplace_back(&in, resolved(entry.path()));
    }
    for (const named_path& out : outputs) {
        if (out.path.empty()) continue;
        const fs::path written = resolved(out.path);
        for (const auto& [in, path] : read)
            if (within(path, written))
                fail<value_error>("{} {} would overwrite {}, read through {} {}; choose another {}",
                                  out.option, out.path.string(), path.string(), in->option, in->path.string(),
                                  out.option);
    }
}

}  // namespace loramoe::cli
