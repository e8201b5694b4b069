// loramoe_fuzz_seeds WORK GOLDEN: the seeds the fuzz targets start from, in WORK/seeds/TARGET/, with an
// empty WORK/corpus/TARGET/ (where libFuzzer keeps what it finds) and WORK/findings/. The committed golden
// files (tests/golden) give real safetensors files, configs, adapter configs and tokenizer.json files;
// SentencePiece models (with an identity table and with a small normalisation table) and JSONL are
// written here, so that no binary seed is committed.

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <loramoe/io/sentencepiece_tokenizer.hpp>

namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Every file of `golden` whose name ends with `suffix`, copied into `seeds` under a name of its own.
void copy_golden(const fs::path& golden, const std::string& suffix, const fs::path& seeds) {
    int n = 0;
    for (const auto& entry : fs::recursive_directory_iterator(golden))
        if (entry.is_regular_file() && entry.path().filename().string().ends_with(suffix))
            fs::copy_file(entry.path(),
                          seeds / ("golden-" + std::to_string(n++) + "-" + entry.path().filename().string()),
                          fs::copy_options::overwrite_existing);
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 3) {
        std::fprintf(stderr, "usage: loramoe_fuzz_seeds WORK GOLDEN\n");
        return 2;
    }
    const fs::path work = argv[1], golden = argv[2];
    for (const char* target :
         {"safetensors", "json_files", "instruction_data", "tokenizer_json", "sentencepiece_model"}) {
        fs::create_directories(work / "seeds" / target);
        fs::create_directories(work / "corpus" / target);
    }
    fs::create_directories(work / "findings");

    copy_golden(golden, ".safetensors", work / "seeds" / "safetensors");
    copy_golden(golden, "config.json", work / "seeds" / "json_files");  // config.json, adapter_config.json
    copy_golden(golden, "index.json", work / "seeds" / "json_files");
    copy_golden(golden, "tokenizer.json", work / "seeds" / "tokenizer_json");

    const fs::path jsonl = work / "seeds" / "instruction_data";
    write(
        jsonl / "instructions.jsonl",
        R"({"instruction": "reverse c a f", "output": "f a c", "task_type": 0})"
        "\n"
        R"({"instruction": "Translate", "input": "caf\u00e9 \ud83d\ude00", "output": "coffee", "task_type": 1})"
        "\r\n"
        "\n"
        R"({"text": "raw text, no prompt"})"
        "\n");

    std::vector<std::string> sentences;
    for (int i = 0; i < 100; ++i)
        sentences.push_back("The quick brown fox " + std::to_string(i) +
                            " jumps over caf\xC3\xA9 \xEF\xBC\xA6\xEF\xBD\x95ll");
    const fs::path models = work / "seeds" / "sentencepiece_model";
    loramoe::io::train_sentencepiece(sentences, models / "identity.model", {.vocab_size = 300});
    loramoe::io::train_sentencepiece(
        sentences, models / "unigram.model",
        {.vocab_size = 300, .type = loramoe::io::sentencepiece_model_type::unigram});
    // A small normalisation table (SentencePiece's TSV of code points): a trie the check walks.
    write(work / "rules.tsv", "FF26\t46\nFF55\t75\nFF4C\t6C\n41 301\tC1\n");
    loramoe::io::train_sentencepiece(sentences, models / "normalised.model",
                                     {.vocab_size = 300, .normalization_rules = work / "rules.tsv"});
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "loramoe_fuzz_seeds: %s\n", e.what());
    return 1;
}
