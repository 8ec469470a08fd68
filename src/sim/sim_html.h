// `ringfence sim SCENARIO --compare --html FILE`: one self-contained HTML page (docs/simulator.md
// "The picture"): the compare table and, per policy, devices exposed and harmed over one time axis
// with the halt marked. The page inlines the dashboard's bundled chart script and stylesheet
// (src/ui/ui_assets.h: sim.js, app.css; uPlot), so it opens from a file with no network; the data
// is JSON in a <script type="application/json"> element, rendered with textContent only.
#ifndef RINGFENCE_SIM_SIM_HTML_H_
#define RINGFENCE_SIM_SIM_HTML_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"
#include "sim/runner.h"

namespace rf::sim {

// The page's data: scenario, devices, runs, seed, the compare table, and per policy the first
// run's timeline (at most `max_points` points, evenly thinned, the last one kept) and halt time.
std::string CompareHtmlData(const ScenarioRun& run, size_t max_points = 2000);

// The whole page. FailedPrecondition if this binary was built without the dashboard's assets
// (node/npm missing at build time).
Result<std::string> FormatCompareHtml(const ScenarioRun& run);

// `text` made safe to place inside a <script> or <style> element: every "</" becomes "<\/" (in
// JSON and JavaScript strings the same text; the bundler emits no "</" outside strings).
std::string EscapeForRawTextElement(std::string_view text);

}  // namespace rf::sim

#endif  // RINGFENCE_SIM_SIM_HTML_H_
