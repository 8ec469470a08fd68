#include "agent/crash_loop_guard.h"

#include <boost/json.hpp>

#include "agent/canonical_json.h"

namespace rf::agent {
namespace {

struct Marker {
  int64_t starts = 0;
  std::map<std::string, BundleRef> bundles;
};

std::string EncodeMarker(const Marker& m) {
  boost::json::object o;
  o["starts"] = m.starts;
  boost::json::object b;
  for (const auto& [ch, r] : m.bundles) b[ch] = {{"version", r.version}, {"sha256", r.sha256}};
  o["bundles"] = std::move(b);
  return EncodeCanonicalJson(o) + "\n";
}

// A marker that does not parse is treated as absent: it can only come from outside the agent
// (writes are atomic), and counting it would be a guess.
std::optional<Marker> DecodeMarker(std::string_view text) {
  auto v = ParseJson(text, 4);
  if (!v.ok() || !v->is_object()) return std::nullopt;
  const auto& o = v->get_object();
  Marker m;
  auto starts = GetInt(o, "starts", "marker");
  const auto* b = o.if_contains("bundles");
  if (!starts.ok() || !b || !b->is_object()) return std::nullopt;
  m.starts = *starts;
  for (const auto& kv : b->get_object()) {
    if (!kv.value().is_object()) return std::nullopt;
    auto ver = GetInt(kv.value().get_object(), "version", "marker");
    auto sha = GetString(kv.value().get_object(), "sha256", "marker");
    if (!ver.ok() || !sha.ok()) return std::nullopt;
    m.bundles[std::string(kv.key())] = BundleRef{*ver, *sha};
  }
  return m;
}

}  // namespace

CrashLoopGuard::CrashLoopGuard(Filesystem* fs, std::string marker_path,
                               CrashLoopGuardOptions options, FaultPoints* faults)
    : fs_(fs), marker_path_(std::move(marker_path)), options_(options), faults_(faults) {}

Result<CrashLoopGuard::Decision> CrashLoopGuard::BeforeStart(
    const std::map<std::string, BundleRef>& probation) {
  Decision d;
  if (probation.empty()) {
    RF_RETURN_IF_ERROR(Clear());
    return d;
  }
  auto text = fs_->ReadFile(marker_path_, 64 << 10);
  if (!text.ok() && text.status().code() != StatusCode::kNotFound) return text.status();
  if (text.ok()) {
    std::optional<Marker> m = DecodeMarker(*text);
    if (m && m->bundles == probation) d.unclean_starts = m->starts;
  }
  if (options_.max_unclean_starts > 0 && d.unclean_starts >= options_.max_unclean_starts) {
    d.quarantine = true;
    return d;
  }
  Marker next{d.unclean_starts + 1, probation};
  if (faults_) faults_->Hit("guard.marker.begin");
  RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(marker_path_, EncodeMarker(next), 0600));
  if (faults_) faults_->Hit("guard.marker.written");
  return d;
}

Status CrashLoopGuard::ForgiveLastStart() {
  auto text = fs_->ReadFile(marker_path_, 64 << 10);
  if (!text.ok()) return text.status().code() == StatusCode::kNotFound ? Status::Ok() : text.status();
  std::optional<Marker> m = DecodeMarker(*text);
  if (!m || m->starts <= 1) return Clear();
  m->starts -= 1;
  return fs_->WriteFileAtomic(marker_path_, EncodeMarker(*m), 0600);
}

Status CrashLoopGuard::Clear() {
  if (!fs_->Exists(marker_path_)) return Status::Ok();
  Status s = fs_->Remove(marker_path_);
  if (s.code() == StatusCode::kNotFound) return Status::Ok();
  return s;
}

}  // namespace rf::agent
