#pragma once
// The demo's synthetic world: entities with attributes, a fact each, stated in words.
//
// Entity E17 has a capital (one of the cities C0 .. C79), a colour (one of 16 words) and a number
// (0 .. 99), drawn from a seed. A small model must store these facts in its weights: they are the
// world knowledge that fine-tuning may erase. A seeded subset of the entities may appear in the
// fine-tuning data; questions about the others measure what the model kept.

#include <algorithm>
#include <array>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <loramoe/core/error.hpp>
#include <loramoe/core/random.hpp>

namespace loramoe::demo {

enum class attribute { capital, colour, number };
inline constexpr std::array<attribute, 3> attributes = {attribute::capital, attribute::colour,
                                                        attribute::number};

inline const char* attribute_word(attribute a) {
    switch (a) {
        case attribute::capital:
            return "capital";
        case attribute::colour:
            return "colour";
        case attribute::number:
            return "number";
    }
    return "";
}

inline constexpr std::array<const char*, 16> colour_words = {
    "red",   "orange", "yellow", "green", "blue", "purple", "pink",   "brown",
    "black", "white",  "grey",   "cyan",  "teal", "gold",   "silver", "olive"};

struct world_config {
    index entities = 400;            // E0 .. E{n-1}
    index cities = 80;               // C0 .. C{m-1}
    index numbers = 100;             // 0 .. n-1
    index finetuning_entities = 80;  // may appear in the fine-tuning data; the rest are held out
    std::uint64_t seed = 1;
};

struct fact {
    index entity = 0;
    attribute kind = attribute::capital;
    index value = 0;
};

class world {
public:
    explicit world(const world_config& config) : config_(config) {
        if (config.entities <= 0 || config.cities <= 0 || config.numbers <= 0 ||
            config.finetuning_entities < 0 || config.finetuning_entities > config.entities)
            fail<value_error>(
                "demo world: entities, cities and numbers must be positive, and at most all entities "
                "in fine-tuning");
        random_generator rng(config.seed, 1);
        for (index e = 0; e < config.entities; ++e) {
            facts_.push_back({e, attribute::capital,
                              static_cast<index>(rng.below(static_cast<std::uint64_t>(config.cities)))});
            facts_.push_back({e, attribute::colour, static_cast<index>(rng.below(colour_words.size()))});
            facts_.push_back({e, attribute::number,
                              static_cast<index>(rng.below(static_cast<std::uint64_t>(config.numbers)))});
        }
        std::vector<index> order(static_cast<std::size_t>(config.entities));
        std::iota(order.begin(), order.end(), index{0});
        for (index i = config.entities - 1; i > 0; --i)
            std::swap(order[static_cast<std::size_t>(i)],
                      order[rng.below(static_cast<std::uint64_t>(i + 1))]);
        in_finetuning_.assign(static_cast<std::size_t>(config.entities), false);
        for (index i = 0; i < config.finetuning_entities; ++i)
            in_finetuning_[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = true;
    }

    const world_config& config() const { return config_; }
    const std::vector<fact>& facts() const { return facts_; }
    bool in_finetuning(index entity) const { return in_finetuning_[static_cast<std::size_t>(entity)]; }

    // The facts about the entities that may appear in fine-tuning (held_out = false), or the others.
    std::vector<fact> facts_where(bool held_out) const {
        std::vector<fact> out;
        for (const fact& f : facts_)
            if (in_finetuning(f.entity) != held_out) out.push_back(f);
        return out;
    }

    static std::string entity_word(index e) { return fmt::format("E{}", e); }
    static std::string value_word(const fact& f) {
        switch (f.kind) {
            case attribute::capital:
                return fmt::format("C{}", f.value);
            case attribute::colour:
                return colour_words[static_cast<std::size_t>(f.value)];
            case attribute::number:
                return fmt::format("{}", f.value);
        }
        return {};
    }

    // The two phrasings of a fact in the pretraining text.
    static std::string statement(const fact& f) {
        return fmt::format("the {} of {} is {} .", attribute_word(f.kind), entity_word(f.entity),
                           value_word(f));
    }
    static std::string possessive(const fact& f) {
        return fmt::format("{} has {} {} .", entity_word(f.entity), attribute_word(f.kind), value_word(f));
    }
    // A closed-book question about a fact; the pretraining text writes it "question : capital of E5 ?
    // answer : C3".
    static std::string question(const fact& f) {
        return fmt::format("question : {} of {} ?", attribute_word(f.kind), entity_word(f.entity));
    }

    // Every word the world's texts use.
    std::vector<std::string> vocabulary() const {
        std::vector<std::string> words = {"the", "of", "is", ".", "has", "question", ":", "?", "answer"};
        for (attribute a : attributes) words.push_back(attribute_word(a));
        for (index e = 0; e < config_.entities; ++e) words.push_back(entity_word(e));
        for (index c = 0; c < config_.cities; ++c) words.push_back(fmt::format("C{}", c));
        for (const char* colour : colour_words) words.push_back(colour);
        for (index n = 0; n < config_.numbers; ++n) words.push_back(fmt::format("{}", n));
        return words;
    }

private:
    world_config config_;
    std::vector<fact> facts_;
    std::vector<bool> in_finetuning_;
};

}  // namespace loramoe::demo
