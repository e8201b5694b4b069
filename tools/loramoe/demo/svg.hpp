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

// The title, bold and centred across the top.
inline void title_text(std::string& out, double width, const std::vector<std::string>& lines) {
    text(out, width / 2, 16 + title_size, lines, "middle", align::top, R"(font-weight="bold")", title_size,
         title_line_height);
}

// Text turned to read upwards, its first line's baseline through (x, y): an axis or colour bar caption.
inline void vertical_text(std::string& out, double x, double y, const std::vector<std::string>& lines) {
    text(out, x, y, lines, "middle", align::top,
         fmt::format(R"~(transform="rotate(-90 {:.1f} {:.1f})")~", x, y));
}

// One <line>, without a line break; `attributes` follow the stroke (a width, a dash).
inline void segment(std::string& out, double x1, double y1, double x2, double y2, std::string_view stroke,
                    std::string_view attributes = {}) {
    fmt::format_to(std::back_inserter(out),
                   R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}"{}/>)", x1, y1, x2, y2,
                   stroke, attributes);
}

// A data point's marker, without a line break: a dot with a white rim, so that crossing lines stay apart.
inline void marker(std::string& out, double x, double y, std::string_view colour) {
    fmt::format_to(std::back_inserter(out),
                   R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}" stroke="#ffffff" stroke-width="1"/>)",
                   x, y, colour);
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

inline std::string_view series_colour(std::size_t k) {
    return series_colours[k % series_colours.size()];
}

inline std::string_view dash_attribute(bool dashed) {
    return dashed ? R"( stroke-dasharray="7 5")" : "";
}

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

// The line chart: its input checked, where everything goes, and its parts.

inline void check_line_chart(const line_chart& chart) {
    check_range("line_chart: y", chart.y_min, chart.y_max);
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
    }
}

// Every x, sorted and distinct: the x range, and the log axis's ticks.
inline std::vector<double> distinct_xs(const line_chart& chart) {
    std::vector<double> xs;
    for (const auto& series : chart.series) xs.insert(xs.end(), series.x.begin(), series.x.end());
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    return xs;
}

// x in axis units: log10 x on a log axis.
inline double axis_value(double x, bool log_x) {
    return log_x ? std::log10(x) : x;
}

struct axis_range {
    double low, high;
};

// The x range in axis units, padded so that end markers clear the axes.
inline axis_range x_range(const std::vector<double>& xs, bool log_x) {
    double low = xs.empty() ? 0 : axis_value(xs.front(), log_x),
           high = xs.empty() ? 1 : axis_value(xs.back(), log_x);
    const double pad = low < high ? (high - low) * 0.04 : log_x ? 1 : std::max(1.0, std::abs(low) / 2);
    return {low - pad, high + pad};
}

// x ticks in data units: on a log axis the data's own x values when few or when no decade falls in
// the range, else the decades.
inline std::vector<double> x_tick_values(const std::vector<double>& xs, bool log_x, axis_range range) {
    if (!log_x) return nice_ticks(range.low, range.high).values;
    if (!xs.empty() && (xs.size() <= 10 || std::ceil(range.low) > range.high)) return xs;
    std::vector<double> decades;
    for (double k = std::ceil(range.low); k <= range.high; ++k) decades.push_back(std::pow(10.0, k));
    return decades;
}

// Left to right: y label, y tick labels, plot, legend; top to bottom: title, plot, x axis.
struct line_chart_layout {
    static constexpr double plot_w = 520, plot_h = 300, tick = 5, entry_h = 20;
    bool log_x;
    axis_range x_axis;  // the x range, in axis units
    double y_min, y_max;
    std::vector<double> x_ticks;  // data units
    ticks y_ticks;
    std::vector<std::string> y_tick_labels, title, x_label, y_label, names;
    double left, top, bottom, legend_x, width, height;

    double px(double data_x) const {
        return left + (axis_value(data_x, log_x) - x_axis.low) / (x_axis.high - x_axis.low) * plot_w;
    }
    double py(double data_y) const { return top + plot_h - (data_y - y_min) / (y_max - y_min) * plot_h; }
};

inline line_chart_layout layout_of(const line_chart& chart) {
    line_chart_layout layout;
    const std::vector<double> xs = distinct_xs(chart);
    layout.log_x = chart.log_x;
    layout.x_axis = x_range(xs, chart.log_x);
    layout.y_min = chart.y_min;
    layout.y_max = chart.y_max;
    layout.x_ticks = x_tick_values(xs, chart.log_x, layout.x_axis);
    layout.y_ticks = nice_ticks(chart.y_min, chart.y_max);
    for (double v : layout.y_ticks.values)
        layout.y_tick_labels.push_back(fmt::format("{:.{}f}", v, layout.y_ticks.decimals));
    layout.title = lines_of(chart.title);
    layout.x_label = lines_of(chart.x_label);
    layout.y_label = lines_of(chart.y_label);
    for (const auto& series : chart.series) layout.names.push_back(series.name);
    layout.left =
        14 + line_height * static_cast<double>(layout.y_label.size()) + width(layout.y_tick_labels) + 14;
    layout.top = 16 + title_line_height * static_cast<double>(layout.title.size()) + 14;
    layout.bottom = layout.top + layout.plot_h;
    layout.legend_x = layout.left + layout.plot_w + 24;
    layout.width = std::max(layout.names.empty() ? layout.left + layout.plot_w + 24
                                                 : layout.legend_x + 40 + width(layout.names) + 12,
                            width(layout.title, title_size) + 32);
    const double legend_h = layout.entry_h * static_cast<double>(layout.names.size());
    layout.height = layout.top + std::max(layout.plot_h, legend_h) + layout.tick + 22 +
                    line_height * static_cast<double>(layout.x_label.size()) + 12;
    return layout;
}

// Grid, axes, ticks and axis labels; x tick labels that would overlap the previous one are left out.
inline void draw_grid_and_axes(std::string& out, const line_chart_layout& layout) {
    double last_right = -1e300;
    for (double x : layout.x_ticks) {
        const double at = layout.px(x);
        const std::string label = compact(x);
        const double half = width({label}) / 2;
        if (at < layout.left - 0.5 || at > layout.left + layout.plot_w + 0.5 || at - half < last_right + 6)
            continue;
        last_right = at + half;
        segment(out, at, layout.top, at, layout.bottom, "#e5e5e5");
        segment(out, at, layout.bottom, at, layout.bottom + layout.tick, "#444444");
        out += '\n';
        text(out, at, layout.bottom + layout.tick + 14, {label}, "middle", align::top);
    }
    for (std::size_t i = 0; i < layout.y_ticks.values.size(); ++i) {
        const double at = layout.py(layout.y_ticks.values[i]);
        segment(out, layout.left, at, layout.left + layout.plot_w, at, "#e5e5e5");
        segment(out, layout.left - layout.tick, at, layout.left, at, "#444444");
        out += '\n';
        text(out, layout.left - layout.tick - 4, at, {layout.y_tick_labels[i]}, "end", align::middle);
    }
    fmt::format_to(std::back_inserter(out),
                   R"(<path d="M{0:.1f},{1:.1f}V{2:.1f}H{3:.1f}" fill="none" stroke="#444444"/>)"
                   "\n",
                   layout.left, layout.top, layout.bottom, layout.left + layout.plot_w);
    text(out, layout.left + layout.plot_w / 2, layout.bottom + layout.tick + 22 + line_height, layout.x_label,
         "middle", align::top);
    vertical_text(out, 14 + line_height * 0.8, layout.top + layout.plot_h / 2, layout.y_label);
}

// Series, clipped to the plot; a NaN y starts a new piece of the line.
inline void draw_series(std::string& out, const line_chart& chart, const line_chart_layout& layout) {
    out +=
        R"~(<g clip-path="url(#plot-area)" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">)~"
        "\n";
    for (std::size_t k = 0; k < chart.series.size(); ++k) {
        const auto& series = chart.series[k];
        std::string d;
        bool pen_down = false;
        for (std::size_t i = 0; i < series.x.size(); ++i) {
            if (std::isnan(series.y[i])) {
                pen_down = false;
                continue;
            }
            fmt::format_to(std::back_inserter(d), "{}{:.1f},{:.1f}", pen_down ? 'L' : 'M',
                           layout.px(series.x[i]), layout.py(series.y[i]));
            pen_down = true;
        }
        if (!d.empty())
            fmt::format_to(std::back_inserter(out),
                           R"(<path d="{}" fill="none" stroke="{}"{}/>)"
                           "\n",
                           d, series_colour(k), dash_attribute(series.dashed));
        for (std::size_t i = 0; i < series.x.size(); ++i)
            if (!std::isnan(series.y[i])) {
                marker(out, layout.px(series.x[i]), layout.py(series.y[i]), series_colour(k));
                out += '\n';
            }
    }
    out += "</g>\n";
}

// Legend: each series' colour, dash and marker, then its name.
inline void draw_legend(std::string& out, const line_chart& chart, const line_chart_layout& layout) {
    for (std::size_t k = 0; k < chart.series.size(); ++k) {
        const double y = layout.top + 10 + layout.entry_h * static_cast<double>(k);
        segment(out, layout.legend_x, y, layout.legend_x + 30, y, series_colour(k),
                fmt::format(R"( stroke-width="2"{})", dash_attribute(chart.series[k].dashed)));
        marker(out, layout.legend_x + 15, y, series_colour(k));
        out += '\n';
        text(out, layout.legend_x + 38, y, {layout.names[k]}, "start", align::middle);
    }
}

// The heatmap: its input checked, where everything goes, and its parts.

inline void check_heatmap(const heatmap& map) {
    check_range("heatmap: colour scale", map.min, map.max);
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
}

// Left to right: row labels, cells, colour bar, its labels, its caption; top to bottom: title, column
// labels (wrapped to about 20 characters), cells.
struct heatmap_layout {
    static constexpr double cell_h = 34, bar_w = 16, gap = 8;
    std::vector<std::string> title, caption, ends;  // ends: the colour scale's max, then its min
    std::vector<std::vector<std::string>> rows, columns;
    double cell_w, left, header_bottom, top, bar_x, bar_h, caption_x, width, height;
};

inline heatmap_layout layout_of(const heatmap& map) {
    heatmap_layout layout;
    layout.title = lines_of(map.title);
    layout.caption = lines_of(map.colour_label);
    double row_w = 0;
    layout.cell_w = 64;
    std::size_t header_lines = 1;
    for (const auto& label : map.row_labels) {
        layout.rows.push_back(lines_of(label));
        row_w = std::max(row_w, width(layout.rows.back()));
    }
    for (const auto& label : map.column_labels) {
        layout.columns.push_back(lines_of(label, 20));
        layout.cell_w = std::max(layout.cell_w, width(layout.columns.back()) + 12);
        header_lines = std::max(header_lines, layout.columns.back().size());
    }
    layout.left = 16 + row_w + layout.gap;
    layout.header_bottom = 16 + title_line_height * static_cast<double>(layout.title.size()) + 10 +
                           line_height * static_cast<double>(header_lines);
    layout.top = layout.header_bottom + layout.gap;
    const double grid_w = layout.cell_w * static_cast<double>(layout.columns.size()),
                 grid_h = layout.cell_h * static_cast<double>(layout.rows.size());
    layout.bar_x = layout.left + grid_w + 24;
    layout.bar_h = std::max(grid_h, 120.0);
    layout.ends = {fmt::format("{:g}", map.max), fmt::format("{:g}", map.min)};
    layout.caption_x = layout.bar_x + layout.bar_w + 6 + width(layout.ends) + 10 + line_height * 0.8;
    layout.width =
        std::max(layout.caption_x + line_height * static_cast<double>(layout.caption.size() - 1) + 12,
                 width(layout.title, title_size) + 32);
    layout.height = layout.top + layout.bar_h + 16;
    return layout;
}

// The colour scale as an SVG gradient, bottom (min) to top (max), for the colour bar.
inline void draw_colour_scale_definition(std::string& out) {
    out += R"(<defs><linearGradient id="colour-scale" x1="0" y1="1" x2="0" y2="0">)";
    for (std::size_t i = 0; i < scale_anchors.size(); ++i)
        fmt::format_to(std::back_inserter(out), R"(<stop offset="{:g}" stop-color="{}"/>)",
                       static_cast<double>(i) / static_cast<double>(scale_anchors.size() - 1),
                       hex(scale_anchors[i]));
    out += "</linearGradient></defs>\n";
}

// Column labels, then each row: its label and its cells, each cell's value written on it.
inline void draw_cells(std::string& out, const heatmap& map, const heatmap_layout& layout) {
    for (std::size_t c = 0; c < layout.columns.size(); ++c)
        text(out, layout.left + layout.cell_w * (static_cast<double>(c) + 0.5), layout.header_bottom - 4,
             layout.columns[c], "middle", align::bottom);
    for (std::size_t r = 0; r < layout.rows.size(); ++r) {
        const double y = layout.top + layout.cell_h * static_cast<double>(r);
        text(out, layout.left - layout.gap, y + layout.cell_h / 2, layout.rows[r], "end", align::middle);
        for (std::size_t c = 0; c < layout.columns.size(); ++c) {
            const double v = map.values[r][c], x = layout.left + layout.cell_w * static_cast<double>(c);
            const bool missing = std::isnan(v);
            const rgb fill = missing ? rgb{221, 221, 221} : scale_colour((v - map.min) / (map.max - map.min));
            fmt::format_to(
                std::back_inserter(out),
                R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" stroke="#ffffff"/>)",
                x, y, layout.cell_w, layout.cell_h, hex(fill));
            text(out, x + layout.cell_w / 2, y + layout.cell_h / 2,
                 {missing ? "n/a" : fmt::format("{:.2f}", v)}, "middle", align::middle,
                 fmt::format(R"(fill="{}")", text_colour_on(fill)));
        }
    }
}

// The colour bar, its two ends' values and its caption.
inline void draw_colour_bar(std::string& out, const heatmap_layout& layout) {
    fmt::format_to(
        std::back_inserter(out),
        R"~(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="url(#colour-scale)" stroke="#444444" stroke-width="0.5"/>)~"
        "\n",
        layout.bar_x, layout.top, layout.bar_w, layout.bar_h);
    text(out, layout.bar_x + layout.bar_w + 6, layout.top, {layout.ends[0]}, "start", align::middle);
    text(out, layout.bar_x + layout.bar_w + 6, layout.top + layout.bar_h, {layout.ends[1]}, "start",
         align::middle);
    vertical_text(out, layout.caption_x, layout.top + layout.bar_h / 2, layout.caption);
}

}  // namespace detail::svg

inline std::string render_svg(const line_chart& chart) {
    namespace s = detail::svg;
    s::check_line_chart(chart);
    const s::line_chart_layout layout = s::layout_of(chart);
    std::string out;
    s::open(out, layout.width, layout.height);
    // The series' clip area: the plot and 6 more each side, so that markers on the y range's edge stay whole.
    fmt::format_to(
        std::back_inserter(out),
        R"(<defs><clipPath id="plot-area"><rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"/>)"
        "</clipPath></defs>\n",
        layout.left - 6, layout.top - 6, layout.plot_w + 12, layout.plot_h + 12);
    s::title_text(out, layout.width, layout.title);
    s::draw_grid_and_axes(out, layout);
    s::draw_series(out, chart, layout);
    s::draw_legend(out, chart, layout);
    out += "</svg>\n";
    return out;
}

inline std::string render_svg(const heatmap& map) {
    namespace s = detail::svg;
    s::check_heatmap(map);
    const s::heatmap_layout layout = s::layout_of(map);
    std::string out;
    s::open(out, layout.width, layout.height);
    s::draw_colour_scale_definition(out);
    s::title_text(out, layout.width, layout.title);
    s::draw_cells(out, map, layout);
    s::draw_colour_bar(out, layout);
    out += "</svg>\n";
    return out;
}

}  // namespace loramoe::demo
