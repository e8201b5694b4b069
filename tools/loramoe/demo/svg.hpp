#pragma once
// The demo report's charts as SVG text, with nothing beyond fmt: a line chart (knowledge accuracy
// against fine-tuning data size, one line per method) and a heatmap (expert utilisation). The output
// is standalone SVG 1.1, so that GitHub shows it as an image, and the same input gives the same bytes,
// so that a regenerated report diffs cleanly. Without font metrics, text widths are estimated from the
// character count, generously, so that labels do not overflow.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <loramoe/core/error.hpp>

namespace loramoe::demo {

struct line_series {
    std::string name;
    std::vector<double> x, y;  // y NaN: not measured, a gap in the line
    bool dashed = false;
};

struct line_chart {
    std::string title, x_label, y_label;  // '\n' breaks a line, here and in every label below
    bool log_x = false;                   // log10 x axis (data sizes 1k..64k)
    double y_min = 0, y_max = 1;          // fixed y range (accuracies)
    std::vector<line_series> series;
};

struct heatmap {
    std::string title;
    std::vector<std::string> row_labels, column_labels;  // column labels also wrap at spaces
    std::vector<std::vector<double>> values;             // [row][column]; NaN: not measured, "n/a"
    double min = 0, max = 1;                             // colour scale range; values outside it clamp
    std::string colour_label;                            // legend caption
};

namespace detail::svg {

inline constexpr double font_size = 12, line_height = 15, title_size = 16, title_line_height = 20;

inline std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// Characters, not bytes: a UTF-8 continuation byte does not start one.
inline std::size_t characters(std::string_view text) {
    return static_cast<std::size_t>(std::count_if(
        text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// About 0.6 em a character: DejaVu Sans, the widest common sans-serif, averages a little less.
inline double width(const std::vector<std::string>& lines, double size = font_size) {
    std::size_t longest = 0;
    for (const auto& line : lines) longest = std::max(longest, characters(line));
    return 0.6 * size * static_cast<double>(longest);
}

// A label's lines: split at '\n', each part wrapped at spaces to `wrap` characters (0: never).
inline std::vector<std::string> lines_of(std::string_view label, std::size_t wrap = 0) {
    std::vector<std::string> lines;
    for (std::size_t start = 0;;) {
        const std::size_t end = std::min(label.find('\n', start), label.size());
        const std::string_view part = label.substr(start, end - start);
        if (wrap == 0) {
            lines.emplace_back(part);
        } else {
            std::string line;
            for (std::size_t i = 0; i < part.size();) {
                const std::size_t j = std::min(part.find(' ', i), part.size());
                const std::string_view word = part.substr(i, j - i);
                i = j + 1;
                if (word.empty()) continue;
                if (!line.empty() && characters(line) + 1 + characters(word) > wrap) {
                    lines.push_back(line);
                    line.clear();
                }
                if (!line.empty()) line += ' ';
                line += word;
            }
            lines.push_back(line);
        }
        if (end == label.size()) return lines;
        start = end + 1;
    }
}

enum class align { top, middle, bottom };  // where y is: the first baseline, the centre, the last baseline

// One <text>, a <tspan> a line; `attributes` go on the <text> (a transform, a fill, a weight).
inline void text(std::string& out, double x, double y, const std::vector<std::string>& lines,
                 std::string_view anchor, align where, std::string_view attributes = {},
                 double size = font_size, double spacing = line_height) {
    const double block = spacing * static_cast<double>(lines.size() - 1);
    const double first = where == align::top ? y
                         : where == align::bottom
                             ? y - block
                             : y - block / 2 + 0.35 * size;  // 0.35 em: half a cap height
    auto it = std::back_inserter(out);
    fmt::format_to(it, R"(<text x="{:.1f}" y="{:.1f}" text-anchor="{}")", x, first, anchor);
    if (size != font_size) fmt::format_to(it, R"( font-size="{}")", size);
    if (!attributes.empty()) fmt::format_to(it, " {}", attributes);
    out += '>';
    if (lines.size() == 1) {
        out += escape(lines[0]);
    } else {
        for (std::size_t i = 0; i < lines.size(); ++i)
            fmt::format_to(it, R"(<tspan x="{:.1f}" y="{:.1f}">{}</tspan>)", x,
                           first + spacing * static_cast<double>(i), escape(lines[i]));
    }
    out += "</text>\n";
}

inline void open(std::string& out, double width, double height) {
    fmt::format_to(
        std::back_inserter(out),
        R"(<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{0:.0f}" height="{1:.0f}" )"
        R"(viewBox="0 0 {0:.0f} {1:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="{2}">)"
        "\n"
        R"(<rect width="100%" height="100%" fill="#ffffff"/>)"
        "\n",
        std::ceil(width), std::ceil(height), font_size);
}

inline void check_range(std::string_view what, double low, double high) {
    if (!std::isfinite(low) || !std::isfinite(high) || !(low < high))
        fail<value_error>("{}: the range [{}, {}] must be finite with min < max", what, low, high);
}

// Tick values at 1, 2 or 5 times a power of ten, about `count` of them in [low, high], and the
// decimals that print them all exactly.
struct ticks {
    std::vector<double> values;
    int decimals = 0;
};

inline ticks nice_ticks(double low, double high, double count = 5) {
    const double raw = (high - low) / count;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double ratio = raw / magnitude;
    const double step = magnitude * (ratio < 1.5 ? 1 : ratio < 3.5 ? 2 : ratio < 7.5 ? 5 : 10);
    ticks t;
    t.decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    for (double k = std::ceil(low / step - 1e-9); k <= std::floor(high / step + 1e-9); ++k)
        t.values.push_back(k * step + 0.0);  // + 0.0: -0.0 (k = ceil of a tiny negative) prints as "-0"
    return t;
}

// 1k, 64k, 2.5M, 500: data sizes as people write them.
inline std::string compact(double v) {
    const double a = std::abs(v);
    if (a >= 1e9) return fmt::format("{:.3g}G", v / 1e9);
    if (a >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
    if (a >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
    return fmt::format("{:.3g}", v);
}

// Okabe & Ito's colour-blind-safe palette, yellow last (faint on white).
inline constexpr std::array<std::string_view, 8> series_colours = {
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"};

struct rgb {
    double r, g, b;  // 0 .. 255
};

// Viridis at 0, 1/4, 1/2, 3/4 and 1: perceptually uniform, readable in grey and by colour-blind eyes.
inline constexpr std::array<rgb, 5> scale_anchors = {rgb{68, 1, 84}, rgb{59, 82, 139}, rgb{33, 145, 140},
                                                     rgb{94, 201, 98}, rgb{253, 231, 37}};

inline std::string hex(const rgb& c) {
    const auto byte = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
    return fmt::format("#{:02x}{:02x}{:02x}", byte(c.r), byte(c.g), byte(c.b));
}

inline rgb scale_colour(double t) {  // t in [0, 1], clamped
    const double s = std::clamp(t, 0.0, 1.0) * static_cast<double>(scale_anchors.size() - 1);
    const std::size_t i = std::min(static_cast<std::size_t>(s), scale_anchors.size() - 2);
    const double f = s - static_cast<double>(i);
    const rgb &a = scale_anchors[i], &b = scale_anchors[i + 1];
    return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

// Black or white, whichever contrasts more with the background (WCAG relative luminance; the two
// contrasts are equal at a luminance of about 0.18).
inline std::string_view text_colour_on(const rgb& c) {
    const auto linear = [](double v) {
        v /= 255;
        return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
    };
    const double luminance = 0.2126 * linear(c.r) + 0.7152 * linear(c.g) + 0.0722 * linear(c.b);
    return (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) ? "#000000" : "#ffffff";
}

}  // namespace detail::svg

inline std::string render_svg(const line_chart& chart) {
    namespace s = detail::svg;
    s::check_range("line_chart: y", chart.y_min, chart.y_max);
    std::vector<double> xs;  // every x, sorted and distinct: the x range, and the log axis's ticks
    for (const auto& series : chart.series) {
        if (series.x.size() != series.y.size())
            fail<value_error>("line_chart: series '{}' has {} x values but {} y values", series.name,
                              series.x.size(), series.y.size());
        for (std::size_t i = 0; i < series.x.size(); ++i) {
            if (!std::isfinite(series.x[i]))
                fail<value_error>("line_chart: series '{}' has x[{}] = {}, not finite", series.name, i,
                                  series.x[i]);
            if (chart.log_x && series.x[i] <= 0)
                fail<value_error>("line_chart: series '{}' has x[{}] = {} on a log x axis, which needs x > 0",
                                  series.name, i, series.x[i]);
            if (std::isinf(series.y[i]))
                fail<value_error>(
                    "line_chart: series '{}' has y[{}] = {} (NaN marks a gap; infinity is not allowed)",
                    series.name, i, series.y[i]);
        }
        xs.insert(xs.end(), series.x.begin(), series.x.end());
    }
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());

    // x range in axis units (log10 x on a log axis), padded so that end markers clear the axes.
    const auto axis = [&](double x) { return chart.log_x ? std::log10(x) : x; };
    double low = xs.empty() ? 0 : axis(xs.front()), high = xs.empty() ? 1 : axis(xs.back());
    const double pad = low < high ? (high - low) * 0.04 : chart.log_x ? 1 : std::max(1.0, std::abs(low) / 2);
    low -= pad;
    high += pad;

    // x ticks in data units: on a log axis the data's own x values when few or when no decade falls in
    // the range, else the decades.
    std::vector<double> x_ticks;
    if (!chart.log_x) {
        x_ticks = s::nice_ticks(low, high).values;
    } else if (!xs.empty() && (xs.size() <= 10 || std::ceil(low) > high)) {
        x_ticks = xs;
    } else {
        for (double k = std::ceil(low); k <= high; ++k) x_ticks.push_back(std::pow(10.0, k));
    }
    const s::ticks y_ticks = s::nice_ticks(chart.y_min, chart.y_max);
    std::vector<std::string> y_tick_labels;
    for (double v : y_ticks.values) y_tick_labels.push_back(fmt::format("{:.{}f}", v, y_ticks.decimals));

    // Layout, left to right: y label, y tick labels, plot, legend; top to bottom: title, plot, x axis.
    const auto title = s::lines_of(chart.title), x_label = s::lines_of(chart.x_label),
               y_label = s::lines_of(chart.y_label);
    std::vector<std::string> names;
    for (const auto& series : chart.series) names.push_back(series.name);
    constexpr double plot_w = 520, plot_h = 300, tick = 5, entry_h = 20;
    const double left =
        14 + s::line_height * static_cast<double>(y_label.size()) + s::width(y_tick_labels) + 14;
    const double top = 16 + s::title_line_height * static_cast<double>(title.size()) + 14;
    const double legend_x = left + plot_w + 24;
    const double width = std::max(names.empty() ? left + plot_w + 24 : legend_x + 40 + s::width(names) + 12,
                                  s::width(title, s::title_size) + 32);
    const double legend_h = entry_h * static_cast<double>(names.size());
    const double height = top + std::max(plot_h, legend_h) + tick + 22 +
                          s::line_height * static_cast<double>(x_label.size()) + 12;
    const auto px = [&](double x) { return left + (axis(x) - low) / (high - low) * plot_w; };
    const auto py = [&](double y) {
        return top + plot_h - (y - chart.y_min) / (chart.y_max - chart.y_min) * plot_h;
    };

    std::string out;
    auto it = std::back_inserter(out);
    s::open(out, width, height);
    fmt::format_to(
        it,
        R"(<defs><clipPath id="plot-area"><rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"/>)"
        "</clipPath></defs>\n",
        left - 6, top - 6, plot_w + 12, plot_h + 12);  // markers on the y range's edge stay whole
    s::text(out, width / 2, 16 + s::title_size, title, "middle", s::align::top, R"(font-weight="bold")",
            s::title_size, s::title_line_height);

    // Grid, axes, ticks; x tick labels that would overlap the previous one are left out.
    const double bottom = top + plot_h;
    double last_right = -1e300;
    for (double x : x_ticks) {
        const double at = px(x);
        const std::string label = s::compact(x);
        const double half = s::width({label}) / 2;
        if (at < left - 0.5 || at > left + plot_w + 0.5 || at - half < last_right + 6) continue;
        last_right = at + half;
        fmt::format_to(it,
                       R"(<line x1="{0:.1f}" y1="{1:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#e5e5e5"/>)"
                       R"(<line x1="{0:.1f}" y1="{2:.1f}" x2="{0:.1f}" y2="{3:.1f}" stroke="#444444"/>)"
                       "\n",
                       at, top, bottom, bottom + tick);
        s::text(out, at, bottom + tick + 14, {label}, "middle", s::align::top);
    }
    for (std::size_t i = 0; i < y_ticks.values.size(); ++i) {
        const double at = py(y_ticks.values[i]);
        fmt::format_to(it,
                       R"(<line x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}" stroke="#e5e5e5"/>)"
                       R"(<line x1="{3:.1f}" y1="{2:.1f}" x2="{0:.1f}" y2="{2:.1f}" stroke="#444444"/>)"
                       "\n",
                       left, left + plot_w, at, left - tick);
        s::text(out, left - tick - 4, at, {y_tick_labels[i]}, "end", s::align::middle);
    }
    fmt::format_to(it,
                   R"(<path d="M{0:.1f},{1:.1f}V{2:.1f}H{3:.1f}" fill="none" stroke="#444444"/>)"
                   "\n",
                   left, top, bottom, left + plot_w);
    s::text(out, left + plot_w / 2, bottom + tick + 22 + s::line_height, x_label, "middle", s::align::top);
    const double y_label_x = 14 + s::line_height * 0.8, y_label_y = top + plot_h / 2;
    s::text(out, y_label_x, y_label_y, y_label, "middle", s::align::top,
            fmt::format(R"~(transform="rotate(-90 {:.1f} {:.1f})")~", y_label_x, y_label_y));

    // Series, clipped to the plot; a NaN y starts a new piece of the line.
    out +=
        R"~(<g clip-path="url(#plot-area)" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">)~"
        "\n";
    for (std::size_t k = 0; k < chart.series.size(); ++k) {
        const auto& series = chart.series[k];
        const std::string_view colour = s::series_colours[k % s::series_colours.size()];
        std::string d;
        bool pen_down = false;
        for (std::size_t i = 0; i < series.x.size(); ++i) {
            if (std::isnan(series.y[i])) {
                pen_down = false;
                continue;
            }
            fmt::format_to(std::back_inserter(d), "{}{:.1f},{:.1f}", pen_down ? 'L' : 'M', px(series.x[i]),
                           py(series.y[i]));
            pen_down = true;
        }
        if (!d.empty())
            fmt::format_to(it,
                           R"(<path d="{}" fill="none" stroke="{}"{}/>)"
                           "\n",
                           d, colour, series.dashed ? R"( stroke-dasharray="7 5")" : "");
        for (std::size_t i = 0; i < series.x.size(); ++i)
            if (!std::isnan(series.y[i]))
                fmt::format_to(
                    it,
                    R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}" stroke="#ffffff" stroke-width="1"/>)"
                    "\n",
                    px(series.x[i]), py(series.y[i]), colour);
    }
    out += "</g>\n";

    // Legend: each series' colour, dash and marker, then its name.
    for (std::size_t k = 0; k < chart.series.size(); ++k) {
        const std::string_view colour = s::series_colours[k % s::series_colours.size()];
        const double y = top + 10 + entry_h * static_cast<double>(k);
        fmt::format_to(
            it,
            R"(<line x1="{0:.1f}" y1="{2:.1f}" x2="{1:.1f}" y2="{2:.1f}" stroke="{3}" stroke-width="2"{4}/>)"
            R"(<circle cx="{5:.1f}" cy="{2:.1f}" r="3.5" fill="{3}" stroke="#ffffff" stroke-width="1"/>)"
            "\n",
            legend_x, legend_x + 30, y, colour, chart.series[k].dashed ? R"( stroke-dasharray="7 5")" : "",
            legend_x + 15);
        s::text(out, legend_x + 38, y, {names[k]}, "start", s::align::middle);
    }
    out += "</svg>\n";
    return out;
}

inline std::string render_svg(const heatmap& map) {
    namespace s = detail::svg;
    s::check_range("heatmap: colour scale", map.min, map.max);
    if (map.values.size() != map.row_labels.size())
        fail<value_error>("heatmap: {} rows of values but {} row labels", map.values.size(),
                          map.row_labels.size());
    for (std::size_t r = 0; r < map.values.size(); ++r) {
        if (map.values[r].size() != map.column_labels.size())
            fail<value_error>("heatmap: row {} ('{}') has {} values but there are {} column labels", r,
                              map.row_labels[r], map.values[r].size(), map.column_labels.size());
        for (std::size_t c = 0; c < map.values[r].size(); ++c)
            if (std::isinf(map.values[r][c]))
                fail<value_error>(
                    "heatmap: value [{}][{}] is {} (NaN marks a missing value; infinity is not allowed)", r,
                    c, map.values[r][c]);
    }

    // Layout, left to right: row labels, cells, colour bar, its labels, its caption; top to bottom:
    // title, column labels (wrapped to about 20 characters), cells.
    const auto title = s::lines_of(map.title), caption = s::lines_of(map.colour_label);
    std::vector<std::vector<std::string>> rows, columns;
    double row_w = 0, cell_w = 64;
    std::size_t header_lines = 1;
    for (const auto& label : map.row_labels) {
        rows.push_back(s::lines_of(label));
        row_w = std::max(row_w, s::width(rows.back()));
    }
    for (const auto& label : map.column_labels) {
        columns.push_back(s::lines_of(label, 20));
        cell_w = std::max(cell_w, s::width(columns.back()) + 12);
        header_lines = std::max(header_lines, columns.back().size());
    }
    constexpr double cell_h = 34, bar_w = 16, gap = 8;
    const double left = 16 + row_w + gap;
    const double header_bottom = 16 + s::title_line_height * static_cast<double>(title.size()) + 10 +
                                 s::line_height * static_cast<double>(header_lines);
    const double top = header_bottom + gap;
    const double grid_w = cell_w * static_cast<double>(columns.size()),
                 grid_h = cell_h * static_cast<double>(rows.size());
    const double bar_x = left + grid_w + 24, bar_h = std::max(grid_h, 120.0);
    const std::vector<std::string> ends = {fmt::format("{:g}", map.max), fmt::format("{:g}", map.min)};
    const double caption_x = bar_x + bar_w + 6 + s::width(ends) + 10 + s::line_height * 0.8;
    const double width = std::max(caption_x + s::line_height * static_cast<double>(caption.size() - 1) + 12,
                                  s::width(title, s::title_size) + 32);
    const double height = top + bar_h + 16;

    std::string out;
    auto it = std::back_inserter(out);
    s::open(out, width, height);
    out += R"(<defs><linearGradient id="colour-scale" x1="0" y1="1" x2="0" y2="0">)";
    for (std::size_t i = 0; i < s::scale_anchors.size(); ++i)
        fmt::format_to(it, R"(<stop offset="{:g}" stop-color="{}"/>)",
                       static_cast<double>(i) / static_cast<double>(s::scale_anchors.size() - 1),
                       s::hex(s::scale_anchors[i]));
    out += "</linearGradient></defs>\n";
    s::text(out, width / 2, 16 + s::title_size, title, "middle", s::align::top, R"(font-weight="bold")",
            s::title_size, s::title_line_height);

    for (std::size_t c = 0; c < columns.size(); ++c)
        s::text(out, left + cell_w * (static_cast<double>(c) + 0.5), header_bottom - 4, columns[c], "middle",
                s::align::bottom);
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const double y = top + cell_h * static_cast<double>(r);
        s::text(out, left - gap, y + cell_h / 2, rows[r], "end", s::align::middle);
        for (std::size_t c = 0; c < columns.size(); ++c) {
            const double v = map.values[r][c], x = left + cell_w * static_cast<double>(c);
            const bool missing = std::isnan(v);
            const s::rgb fill =
                missing ? s::rgb{221, 221, 221} : s::scale_colour((v - map.min) / (map.max - map.min));
            fmt::format_to(
                it,
                R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" stroke="#ffffff"/>)",
                x, y, cell_w, cell_h, s::hex(fill));
            s::text(out, x + cell_w / 2, y + cell_h / 2, {missing ? "n/a" : fmt::format("{:.2f}", v)},
                    "middle", s::align::middle, fmt::format(R"(fill="{}")", s::text_colour_on(fill)));
        }
    }

    fmt::format_to(
        it,
        R"~(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="url(#colour-scale)" stroke="#444444" stroke-width="0.5"/>)~"
        "\n",
        bar_x, top, bar_w, bar_h);
    s::text(out, bar_x + bar_w + 6, top, {ends[0]}, "start", s::align::middle);
    s::text(out, bar_x + bar_w + 6, top + bar_h, {ends[1]}, "start", s::align::middle);
    const double caption_y = top + bar_h / 2;
    s::text(out, caption_x, caption_y, caption, "middle", s::align::top,
            fmt::format(R"~(transform="rotate(-90 {:.1f} {:.1f})")~", caption_x, caption_y));
    out += "</svg>\n";
    return out;
}

}  // namespace loramoe::demo
