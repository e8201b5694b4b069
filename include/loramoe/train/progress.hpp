#pragma once
// The training progress display. On a terminal, one line redrawn in place:
//   step 120/400 [#########.................]  30%  loss 1.234 (ce 1.201 lbc 0.330)  lr 1.8e-04  5.2k tok/s
//   ETA 2m14s
// Elsewhere (a log file, CI), a plain line every `log_every` steps and at the end:
//   step 120/400 loss 1.2340 ce 1.2010 lbc 0.3300 lr 1.80e-04 grad_norm 0.812 tok/s 5210 elapsed 58s eta 134s
// and, once steps were skipped as not finite (training_options::skip_nonfinite), "skipped K" after it.

#include <cstdio>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

#include <loramoe/train/trainer.hpp>

namespace loramoe::train {

inline std::string format_duration(double seconds) {
    const auto s = static_cast<long>(seconds + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
    if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}s", s);
}

class progress_display {
public:
    explicit progress_display(std::string label = "train", index log_every = 10, std::FILE* out = stderr)
        : label_(std::move(label)),
          log_every_(log_every),
          out_(out),
          terminal_(::isatty(::fileno(out)) != 0) {}

    void update(const step_report& r) {
        elapsed_ += r.seconds;
        tokens_ += r.tokens;
        ++steps_;  // in this process: a resumed run's earlier steps took no time here
        // Throughput over the whole run so far: steady, and what the ETA needs.
        const double tokens_per_second = elapsed_ > 0 ? static_cast<double>(tokens_) / elapsed_ : 0;
        const double eta =
            elapsed_ / static_cast<double>(steps_) * static_cast<double>(r.total_steps - r.step);
        if (terminal_) {
            const int width = 24,
                      filled = static_cast<int>(width * r.step / std::max<index>(1, r.total_steps));
            fmt::print(out_,
                       "\r{} step {}/{} [{}{}] {:3}%  loss {:.3f} (ce {:.3f} lbc {:.3f})  lr {:.1e}  {}  ETA "
                       "{}{}\x1b[K",
                       label_, r.step, r.total_steps, std::string(filled, '#'),
                       std::string(width - filled, '.'), 100 * r.step / std::max<index>(1, r.total_steps),
                       r.loss, r.ce, r.lbc, r.learning_rate, rate(tokens_per_second), format_duration(eta),
                       skipped(r, "  "));
            if (r.step == r.total_steps) fmt::print(out_, "\n");
        } else if (r.step % log_every_ == 0 || r.step == r.total_steps || r.step == 1) {
            fmt::print(out_,
                       "{} step {}/{} loss {:.4f} ce {:.4f} lbc {:.4f} lr {:.2e} grad_norm {:.3f} tok/s "
                       "{:.0f} elapsed {:.0f}s eta {:.0f}s{}\n",
                       label_, r.step, r.total_steps, r.loss, r.ce, r.lbc, r.learning_rate, r.grad_norm,
                       tokens_per_second, elapsed_, eta, skipped(r, " "));
        }
        std::fflush(out_);
    }

    // Ends the in-place line early (an interruption), so that what follows starts on its own line.
    void interrupt() {
        if (terminal_) fmt::print(out_, "\n");
    }

private:
    static std::string skipped(const step_report& r, const char* separator) {
        return r.skipped_steps > 0 ? fmt::format("{}skipped {}", separator, r.skipped_steps) : std::string();
    }

    static std::string rate(double tokens_per_second) {
        return tokens_per_second >= 1000 ? fmt::format("{:.1f}k tok/s", tokens_per_second / 1000)
                                         : fmt::format("{:.0f} tok/s", tokens_per_second);
    }

    std::string label_;
    index log_every_;
    std::FILE* out_;
    bool terminal_;
    double elapsed_ = 0;
    index tokens_ = 0;
    index steps_ = 0;
};

}  // namespace loramoe::train
