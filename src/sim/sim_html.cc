#include "sim/sim_html.h"

#include "core/bundle.h"
#include "ui/ui_assets.h"

namespace rf::sim {

namespace {

void StrArray(std::string* out, const std::vector<std::string>& v) {
  *out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) *out += ',';
    AppendJsonString(out, v[i]);
  }
  *out += ']';
}

// The indexes of `n` points to draw at most `max` of: evenly spaced, first and last kept.
std::vector<size_t> Thin(size_t n, size_t max) {
  std::vector<size_t> idx;
  if (n <= max || max < 2) {
    for (size_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  for (size_t k = 0; k < max; ++k) idx.push_back(k * (n - 1) / (max - 1));
  return idx;
}

void PolicyJson(std::string* out, const PolicySummary& p, size_t max_points) {
  const SimResult& r = p.runs.front();
  *out += "{\"name\":";
  AppendJsonString(out, p.policy);
  const std::vector<size_t> idx = Thin(r.timeline.size(), max_points);
  std::string t = "[", e = "[", h = "[";
  for (size_t k = 0; k < idx.size(); ++k) {
    const TimelinePoint& pt = r.timeline[idx[k]];
    if (k) t += ',', e += ',', h += ',';
    AppendJsonNumber(&t, static_cast<double>(pt.micros) / 1e6);
    e += std::to_string(pt.exposed);
    h += std::to_string(pt.harmed);
  }
  *out += ",\"seed\":" + std::to_string(r.seed) + ",\"t_s\":" + t + "],\"exposed\":" + e +
          "],\"harmed\":" + h + "],\"halt_s\":";
  if (r.halt_micros) {
    AppendJsonNumber(out, static_cast<double>(*r.halt_micros) / 1e6);
  } else {
    *out += "null";
  }
  *out += '}';
}

}  // namespace

std::string EscapeForRawTextElement(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') out += '\\';
  }
  return out;
}

std::string CompareHtmlData(const ScenarioRun& run, size_t max_points) {
  const CompareTable table = BuildCompareTable(run);
  // Columns unused in this comparison (an empty header) are dropped.
  std::vector<size_t> keep;
  for (size_t i = 0; i < table.head.size(); ++i) {
    if (!table.head[i].empty()) keep.push_back(i);
  }
  std::vector<std::string> columns;
  for (size_t i : keep) columns.push_back(table.head[i]);
  std::string out = "{\"scenario\":";
  AppendJsonString(&out, run.scenario->name);
  out += ",\"devices\":" + std::to_string(run.scenario->fleet.devices) +
         ",\"runs\":" + std::to_string(run.options.runs) +
         ",\"seed\":" + std::to_string(run.options.seed) + ",\"plan\":";
  AppendJsonString(&out, run.plan.name);
  out += ",\"columns\":";
  StrArray(&out, columns);
  out += ",\"rows\":[";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    std::vector<std::string> cells;
    for (size_t i : keep) cells.push_back(i < table.rows[r].size() ? table.rows[r][i] : "");
    if (r) out += ',';
    StrArray(&out, cells);
  }
  out += "],\"policies\":[";
  bool first = true;
  for (const PolicySummary& p : run.policies) {
    if (p.runs.empty()) continue;
    if (!first) out += ',';
    first = false;
    PolicyJson(&out, p, max_points);
  }
  out += "]}";
  return out;
}

Result<std::string> FormatCompareHtml(const ScenarioRun& run) {
  const ui::Asset* script = ui::FindAsset("sim.js");
  const ui::Asset* css = ui::FindAsset("app.css");
  if (script == nullptr || css == nullptr) {
    return Status::FailedPrecondition(
        "--html: this binary was built without the dashboard's assets (node and npm were not "
        "found at build time; scripts/install-deps.sh installs them)");
  }
  std::string title = "ringfence sim: " + run.scenario->name;
  std::string out = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>";
  for (char c : title) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  out += "</title>\n<style>\n" + EscapeForRawTextElement(css->data) + "\n</style>\n</head>\n<body>\n";
  out += "<main id=\"main\"></main>\n<script type=\"application/json\" id=\"sim-data\">";
  out += EscapeForRawTextElement(CompareHtmlData(run));
  out += "</script>\n<script>\n" + EscapeForRawTextElement(script->data) + "\n</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace rf::sim
