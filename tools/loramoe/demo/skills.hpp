#pragma once
// The demo's downstream skills, of another kind than world knowledge: reversing and sorting a list of
// digits, and adding two numbers. A base model learns them in a raw format during pretraining
// ("reverse 3 1 4 = 4 1 3"); fine-tuning aligns them to the instruction format, as instruction tuning
// aligns an LLM's existing skills.

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <loramoe/core/random.hpp>

namespace loramoe::demo {

enum class skill { reverse, sort, add };
inline constexpr std::array<skill, 3> skills = {skill::reverse, skill::sort, skill::add};

inline const char* skill_word(skill s) {
    switch (s) {
        case skill::reverse:
            return "reverse";
        case skill::sort:
            return "sort";
        case skill::add:
            return "add";
    }
    return "";
}

struct skill_problem {
    skill kind = skill::reverse;
    std::string body;    // "reverse 3 1 4"
    std::string answer;  // "4 1 3"

    std::string raw_text() const { return body + " = " + answer; }
    bool operator<(const skill_problem& other) const { return body < other.body; }
};

// A problem of `kind`: lists of 3 to 5 digits; sums of two numbers below 50 (every word below 100).
inline skill_problem draw_problem(skill kind, random_generator& rng) {
    if (kind == skill::add) {
        const auto a = rng.below(50), b = rng.below(50);
        return {kind, fmt::format("add {} {}", a, b), fmt::format("{}", a + b)};
    }
    std::vector<int> digits(3 + rng.below(3));
    for (int& d : digits) d = static_cast<int>(rng.below(10));
    std::vector<int> result = digits;
    if (kind == skill::reverse)
        std::reverse(result.begin(), result.end());
    else
        std::sort(result.begin(), result.end());
    return {kind, fmt::format("{} {}", skill_word(kind), fmt::join(digits, " ")),
            fmt::format("{}", fmt::join(result, " "))};
}

// Draws problems of the three skills in turn, never one of `excluded` (the held-out evaluation set).
class problem_source {
public:
    problem_source(std::uint64_t seed, const std::set<std::string>& excluded)
        : rng_(seed, 2), excluded_(&excluded) {}

    skill_problem next() {
        const skill kind = skills[static_cast<std::size_t>(turn_++ % skills.size())];
        for (;;) {
            skill_problem p = draw_problem(kind, rng_);
            if (!excluded_->contains(p.body)) return p;
        }
    }

private:
    random_generator rng_;
    const std::set<std::string>* excluded_;
    std::uint64_t turn_ = 0;
};

// Every word the skills use (and the instruction format's marker).
inline std::vector<std::string> skill_vocabulary() {
    std::vector<std::string> words = {"=", "instruction"};
    for (skill s : skills) words.push_back(skill_word(s));
    for (int n = 0; n < 100; ++n) words.push_back(fmt::format("{}", n));
    return words;
}

}  // namespace loramoe::demo
