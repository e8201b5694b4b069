// The demo report's SVG charts: well-formed XML, the text a reader needs (title, labels, legend, ticks,
// cell values), escaping, gaps at NaN, the text colour on each heatmap cell, and bad input rejected
// with a message that names the problem.

#include "test_support.hpp"

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "demo/svg.hpp"

namespace test_svg {

using loramoe::demo::heatmap;
using loramoe::demo::line_chart;
using loramoe::demo::line_series;
using loramoe::demo::render_svg;

constexpr double missing = std::numeric_limits<double>::quiet_NaN();
constexpr double infinity = std::numeric_limits<double>::infinity();

// Empty when `svg` is one <svg> element whose tags nest and close by name and whose every '&' starts
// an entity; otherwise the first problem. A cheap stand-in for an XML parser.
inline std::string well_formed_problem(std::string_view svg) {
    if (!svg.starts_with("<svg ")) return "does not start with <svg";
    if (!svg.ends_with("</svg>\n")) return "does not end with </svg>";
    std::vector<std::string_view> open;
    for (std::size_t i = 0; i < svg.size(); ++i) {
        if (svg[i] == '&') {
            const std::string_view rest = svg.substr(i);
            bool entity = false;
            for (std::string_view e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
                entity |= rest.starts_with(e);
            if (!entity) return fmt::format("a bare '&' at {}", i);
        }
        if (svg[i] != '<') continue;
        const std::size_t end = svg.find('>', i);
        if (end == std::string_view::npos) return fmt::format("a tag at {} never ends", i);
        const std::string_view tag = svg.substr(i + 1, end - i - 1);
        if (tag.starts_with('/')) {
            if (open.empty() || open.back() != tag.substr(1))
                return fmt::format("</{}> at {} closes <{}>", tag.substr(1), i,
                                   open.empty() ? "" : open.back());
            open.pop_back();
            if (open.empty() && end + 2 != svg.size()) return "text after the closing </svg>";
        } else if (!tag.ends_with('/')) {
            open.push_back(tag.substr(0, tag.find(' ')));
        }
        i = end;
    }
    return open.empty() ? "" : fmt::format("<{}> never closed", open.back());
}

inline std::size_t count(std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string_view::npos;
         at = text.find(what, at + what.size()))
        ++n;
    return n;
}

inline bool has_text(std::string_view svg, std::string_view shown) {
    return svg.find(fmt::format(">{}</", shown)) != std::string_view::npos;
}

inline line_chart methods_chart() {
    line_chart chart;
    chart.title = "Knowledge <kept> & \"lost\" — 'forgetting'";
    chart.x_label = "fine-tuning examples";
    chart.y_label = "knowledge accuracy";
    chart.log_x = true;
    const std::vector<double> sizes = {1000, 2000, 4000, 8000, 16000, 32000, 64000};
    chart.series.push_back({"full fine-tuning", sizes, {0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05}});
    chart.series.push_back({"LoRAMoE", sizes, {0.7, 0.7, missing, 0.68, 0.67, 0.66, 0.65}, true});
    return chart;
}

inline heatmap utilisation_map() {
    heatmap map;
    map.title = "Expert utilisation";
    map.row_labels = {"expert 0", "expert 1", "expert 2", "expert 3", "expert 4", "expert 5"};
    map.column_labels = {"knowledge prompts · type-1 experts", "skill prompts\ntype-0", "all", "none"};
    map.colour_label = "mean gate";
    for (int r = 0; r < 6; ++r) {
        map.values.emplace_back();
        for (int c = 0; c < 4; ++c) map.values.back().push_back(0.04 * (4 * r + c));
    }
    return map;
}

}  // namespace test_svg

TEST_SUITE("demo") {
    TEST_CASE("svg line chart: well-formed, with title, axis labels, log ticks, legend and escaped text") {
        using namespace test_svg;
        CHECK(well_formed_problem("<svg a><g></svg>\n") == "</svg> at 10 closes <g>");  // the checker checks
        CHECK(well_formed_problem("<svg a>&</svg>\n") == "a bare '&' at 7");
        const std::string svg = render_svg(methods_chart());
        CHECK(well_formed_problem(svg) == "");
        CHECK(svg.find(R"(xmlns="http://www.w3.org/2000/svg")") != std::string::npos);
        CHECK(svg.find("viewBox=\"0 0 ") != std::string::npos);
        CHECK(has_text(svg, "Knowledge &lt;kept&gt; &amp; &quot;lost&quot; — &apos;forgetting&apos;"));
        CHECK(svg.find("<kept>") == std::string::npos);
        for (std::string_view shown :
             {"fine-tuning examples", "knowledge accuracy", "full fine-tuning", "LoRAMoE", "1k", "2k", "4k",
              "8k", "16k", "32k", "64k", "0.0", "0.2", "1.0"})
            CHECK_MESSAGE(has_text(svg, shown), shown);
        // Okabe-Ito in series order, the second series dashed in the plot and in the legend.
        CHECK(svg.find("#0072b2") < svg.find("#d55e00"));
        CHECK(count(svg, "stroke-dasharray") == 2);
        CHECK(render_svg(methods_chart()) == svg);
    }

    TEST_CASE("svg line chart: a NaN y is a gap in the line and has no marker") {
        using namespace test_svg;
        line_chart chart;
        chart.series.push_back({"gappy", {1, 2, 3, 4, 5}, {0.1, missing, 0.3, 0.4, missing}});
        chart.series.push_back({"unmeasured", {1, 2}, {missing, missing}});
        const std::string svg = render_svg(chart);
        CHECK(well_formed_problem(svg) == "");
        CHECK(count(svg, "<path d=\"M") == 1 + 1);  // the axes, then the one series with a point
        const std::size_t line = svg.find("<path d=\"M", svg.find("clip-path=\"url(#plot-area)\""));
        const std::string_view d = std::string_view(svg).substr(line, svg.find('"', line + 9) - line);
        CHECK(count(d, "M") == 2);
        CHECK(count(d, "L") == 1);
        CHECK(count(svg, "<circle") == 3 + 2);  // three points measured, a legend marker per series
        CHECK(has_text(svg, "unmeasured"));
    }

    TEST_CASE("svg line chart: log ticks print plain numbers below 1000; no series still draws the axes") {
        using namespace test_svg;
        line_chart chart;
        chart.log_x = true;
        chart.series.push_back({"small", {10, 100, 500}, {0.2, 0.5, 0.9}});
        const std::string svg = render_svg(chart);
        for (std::string_view shown : {"10", "100", "500"}) CHECK_MESSAGE(has_text(svg, shown), shown);

        chart.title = "Nothing yet";
        chart.series.clear();
        const std::string empty = render_svg(chart);
        CHECK(well_formed_problem(empty) == "");
        CHECK(has_text(empty, "Nothing yet"));
        CHECK(has_text(empty, "0.0"));
        CHECK(has_text(empty, "1.0"));
        CHECK(count(empty, "<circle") == 0);
    }

    TEST_CASE("svg heatmap: a cell and its value per entry, wrapped column labels, colour bar and caption") {
        using namespace test_svg;
        const std::string svg = render_svg(utilisation_map());
        CHECK(well_formed_problem(svg) == "");
        CHECK(count(svg, "<rect") == 1 + 6 * 4 + 1);  // background, cells, colour bar
        for (std::string_view shown : {"0.00", "0.04", "0.48", "0.92", "expert 0", "expert 5", "all", "none",
                                       "mean gate", "Expert utilisation", "0", "1"})
            CHECK_MESSAGE(has_text(svg, shown), shown);
        CHECK(has_text(svg, "knowledge prompts ·"));  // wrapped at about 20 characters
        CHECK(has_text(svg, "type-1 experts"));
        CHECK(has_text(svg, "skill prompts"));  // split at '\n'
        CHECK(has_text(svg, "type-0"));
        CHECK(render_svg(utilisation_map()) == svg);
    }

    TEST_CASE(
        "svg heatmap: white text on dark cells, black on light ones; NaN is n/a; values outside clamp") {
        using namespace test_svg;
        heatmap map;
        map.row_labels = {"r"};
        map.column_labels = {"low", "high", "missing", "beyond"};
        map.values = {{0.0, 1.0, missing, 7.5}};
        const std::string svg = render_svg(map);
        CHECK(well_formed_problem(svg) == "");
        CHECK(svg.find(R"(fill="#ffffff">0.00</text>)") != std::string::npos);  // dark violet
        CHECK(svg.find(R"(fill="#000000">1.00</text>)") != std::string::npos);  // yellow
        CHECK(svg.find(R"(fill="#000000">n/a</text>)") != std::string::npos);   // light grey
        CHECK(count(svg, R"(fill="#fde725")") == 2);  // 1 and 7.5: the top of the scale
        CHECK(has_text(svg, "7.50"));
    }

    TEST_CASE("svg: bad input is a value_error that names the problem") {
        using namespace test_svg;
        line_chart chart = methods_chart();
        chart.series[1].y.pop_back();
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(chart), "'LoRAMoE'", "7 x values", "6 y values");
        chart = methods_chart();
        chart.series[0].x[2] = 0;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(chart), "'full fine-tuning'", "x[2] = 0",
                            "log x axis");
        chart.log_x = false;
        CHECK_NOTHROW(render_svg(chart));
        chart.series[0].x[2] = missing;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(chart), "x[2] = nan", "not finite");
        chart = methods_chart();
        chart.series[0].y[1] = -infinity;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(chart), "y[1] = -inf", "infinity");
        chart = methods_chart();
        chart.y_min = chart.y_max;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(chart), "line_chart: y", "[1, 1]", "min < max");
        chart.y_min = missing;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(chart), "[nan, 1]", "finite");

        heatmap map = utilisation_map();
        map.row_labels.pop_back();
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(map), "6 rows of values", "5 row labels");
        map = utilisation_map();
        map.values[3].push_back(0.5);
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(map), "row 3 ('expert 3')", "5 values",
                            "4 column labels");
        map = utilisation_map();
        map.values[2][1] = infinity;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(map), "[2][1] is inf");
        map = utilisation_map();
        map.min = 2;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(map), "heatmap: colour scale", "[2, 1]",
                            "min < max");
        map.min = 0;
        map.max = infinity;
        CHECK_THROWS_NAMING(loramoe::value_error, render_svg(map), "[0, inf]", "finite");
    }

}  // TEST_SUITE
