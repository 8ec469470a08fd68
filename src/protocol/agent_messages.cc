#include "server/checkin.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <utility>

#include "core/bundle.h"  // AppendJsonString
#include "crypto/crypto.h"   // Base64Decode

namespace rf::server {
namespace json = boost::json;
namespace {

Status Bad(std::string_view key, std::string_view what) {
  std::string m = "key '";
  m.append(key);
  m += "': ";
  m.append(what);
  return Status::InvalidArgument(std::move(m));
}

// Concatenates the pieces of a key path; used only on the error path, so that a valid check-in
// builds no key strings.
std::string Path(std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (std::string_view p : pieces) out.append(p);
  return out;
}

Status UnknownKey(std::string_view where, std::string_view key, std::string_view allowed) {
  std::string path = where.empty() ? std::string(key) : std::string(where) + "." + std::string(key);
  return Bad(path, "unknown key (allowed: " + std::string(allowed) + ")");
}

// Parses `body` into `out`, using `resource` for the DOM.
Status ParseJsonObject(std::string_view body, json::storage_ptr sp, json::value* out) {
  if (body.size() > kMaxAgentBodyBytes) {
    return Status::ResourceExhausted("request body exceeds " + std::to_string(kMaxAgentBodyBytes) +
                                     " bytes");
  }
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 16;
  *out = json::parse(body, ec, std::move(sp), opts);
  if (ec) return Status::InvalidArgument("body is not valid JSON: " + ec.message());
  if (!out->is_object()) return Status::InvalidArgument("body must be a JSON object");
  return Status::Ok();
}

Result<int64_t> NonNegative(const json::value& v, std::string_view key) {
  if (v.is_int64() && v.get_int64() >= 0) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  return Bad(key, "expected a non-negative integer");
}

Result<std::string> IdString(const json::value& v, std::string_view key) {
  if (!v.is_string()) return Bad(key, "expected a string");
  std::string_view s = v.get_string();
  if (!IsValidId(s)) return Bad(key, "expected 1-128 characters of [A-Za-z0-9._:-]");
  return std::string(s);
}

Result<std::string> Sha(const json::value& v, std::string_view key) {
  if (!v.is_string() || !IsValidSha256Hex(v.get_string())) {
    return Bad(key, "expected 64 lowercase hex digits");
  }
  return std::string(v.get_string());
}

// A base64 string (RFC 4648, padded) that decodes to exactly `bytes` bytes.
Result<std::string> Base64Bytes(const json::value& v, std::string_view key, size_t bytes) {
  if (!v.is_string() || v.get_string().size() > 4 * ((bytes + 2) / 3)) {
    return Bad(key, "expected the base64 of " + std::to_string(bytes) + " bytes");
  }
  auto raw = crypto::Base64Decode(v.get_string());
  if (!raw.ok() || raw->size() != bytes) {
    return Bad(key, "expected the base64 of " + std::to_string(bytes) + " bytes");
  }
  return std::move(*raw);
}

Result<std::string> Reason(const json::value& v, std::string_view key) {
  if (!v.is_string()) return Bad(key, "expected a string");
  if (v.get_string().size() > kMaxReasonBytes) {
    return Bad(key, "longer than " + std::to_string(kMaxReasonBytes) + " bytes");
  }
  return std::string(v.get_string());
}

bool IsAttrKey(std::string_view k) {
  if (k.empty() || k.size() > kMaxAttrKeyBytes) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<rollout::Attributes> DecodeAttrs(const json::value& v) {
  if (!v.is_object()) return Bad("attrs", "expected an object");
  const json::object& o = v.get_object();
  if (o.size() > kMaxAttrs) return Bad("attrs", "more than 16 attributes");
  rollout::Attributes attrs;
  for (const auto& kv : o) {
    const std::string key = "attrs." + std::string(kv.key());
    if (!IsAttrKey(kv.key())) return Bad(key, "attribute names are 1-32 characters of [a-z0-9_]");
    if (!kv.value().is_string()) return Bad(key, "expected a string");
    std::string_view val = kv.value().get_string();
    if (val.empty() || val.size() > kMaxAttrValueBytes) return Bad(key, "values are 1-64 bytes");
    attrs.emplace(std::string(kv.key()), std::string(val));
  }
  return attrs;
}

Result<CapabilityManifest> DecodeCaps(const json::value& v) {
  if (!v.is_object()) return Bad("capabilities", "expected an object");
  if (v.get_object().size() > kMaxContentTypes) {
    return Bad("capabilities", "more than 16 content types");
  }
  for (const auto& kv : v.get_object()) {
    if (kv.key().empty() || kv.key().size() > kMaxIdBytes) {
      return Bad("capabilities", "content type names are 1-128 bytes");
    }
  }
  auto caps = DecodeCapabilityManifest(v, "key 'capabilities'");
  if (!caps.ok()) return Status::InvalidArgument(caps.status().message());
  return caps;
}

// `where`.`channel`.`which`: e.g. channels.291.current.
Result<BundleRef> DecodeBundleRef(const json::value& v, std::string_view where,
                                  std::string_view channel, std::string_view which) {
  const auto key = [&](std::string_view leaf) {
    return Path({where, ".", channel, ".", which, leaf});
  };
  if (!v.is_object()) return Bad(key(""), "expected an object");
  BundleRef ref;
  bool have_version = false, have_sha = false;
  for (const auto& kv : v.get_object()) {
    if (kv.key() == "version") {
      auto n = NonNegative(kv.value(), "");
      if (!n.ok()) return Bad(key(".version"), "expected a non-negative integer");
      ref.version = *n;
      have_version = true;
    } else if (kv.key() == "sha256") {
      if (!kv.value().is_string() || !IsValidSha256Hex(kv.value().get_string())) {
        return Bad(key(".sha256"), "expected 64 lowercase hex digits");
      }
      ref.sha256 = std::string(kv.value().get_string());
      have_sha = true;
    } else {
      return UnknownKey(key(""), kv.key(), "version, sha256");
    }
  }
  if (!have_version) return Bad(key(".version"), "missing");
  if (!have_sha) return Bad(key(".sha256"), "missing");
  return ref;
}

Result<std::vector<ChannelReport>> DecodeChannels(const json::value& v, std::string_view where) {
  if (!v.is_object()) return Bad(where, "expected an object");
  const json::object& o = v.get_object();
  if (o.size() > kMaxChannels) return Bad(where, "more than 64 channels");
  std::vector<ChannelReport> out;
  out.reserve(o.size());
  for (const auto& kv : o) {
    const std::string_view name = kv.key();
    if (!IsValidId(name)) {
      return Bad(Path({where, ".", name}), "channels are 1-128 characters of [A-Za-z0-9._:-]");
    }
    if (!kv.value().is_object()) return Bad(Path({where, ".", name}), "expected an object");
    ChannelReport ch;
    ch.channel = std::string(name);
    for (const auto& f : kv.value().get_object()) {
      if (f.key() == "current") {
        RF_ASSIGN_OR_RETURN(ch.current, DecodeBundleRef(f.value(), where, name, "current"));
      } else if (f.key() == "lkg") {
        RF_ASSIGN_OR_RETURN(ch.lkg, DecodeBundleRef(f.value(), where, name, "lkg"));
      } else {
        return UnknownKey(Path({where, ".", name}), f.key(), "current, lkg");
      }
    }
    out.push_back(std::move(ch));
  }
  std::sort(out.begin(), out.end(),
            [](const ChannelReport& a, const ChannelReport& b) { return a.channel < b.channel; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].channel == out[i - 1].channel) {
      return Bad(std::string(where) + "." + out[i].channel, "duplicate channel");
    }
  }
  return out;
}

std::optional<ApplyOutcome> OutcomeFromName(std::string_view s) {
  if (s == "applied") return ApplyOutcome::kApplied;
  if (s == "refused") return ApplyOutcome::kRefused;
  if (s == "preflight_failed") return ApplyOutcome::kPreflightFailed;
  if (s == "reverted") return ApplyOutcome::kReverted;
  if (s == "quarantined") return ApplyOutcome::kQuarantined;
  return std::nullopt;
}

// One entry of health.apply or health.quarantined.
struct Entry {
  std::string channel;
  int64_t version = 0;
  std::string sha256;
  std::string result;
  std::string reason;
};

Result<Entry> DecodeEntry(const json::value& v, const std::string& key, bool is_apply) {
  if (!v.is_object()) return Bad(key, "expected an object");
  Entry e;
  bool have_channel = false, have_version = false, have_sha = false, have_result = false;
  for (const auto& kv : v.get_object()) {
    if (kv.key() == "channel") {
      RF_ASSIGN_OR_RETURN(e.channel, IdString(kv.value(), key + ".channel"));
      have_channel = true;
    } else if (kv.key() == "version") {
      RF_ASSIGN_OR_RETURN(e.version, NonNegative(kv.value(), key + ".version"));
      have_version = true;
    } else if (kv.key() == "sha256") {
      RF_ASSIGN_OR_RETURN(e.sha256, Sha(kv.value(), key + ".sha256"));
      have_sha = true;
    } else if (kv.key() == "reason") {
      RF_ASSIGN_OR_RETURN(e.reason, Reason(kv.value(), key + ".reason"));
    } else if (is_apply && kv.key() == "result") {
      if (!kv.value().is_string() || !OutcomeFromName(kv.value().get_string())) {
        return Bad(key + ".result",
                   "expected one of applied, refused, preflight_failed, reverted, quarantined");
      }
      e.result = std::string(kv.value().get_string());
      have_result = true;
    } else {
      return UnknownKey(key, kv.key(),
                        is_apply ? "channel, version, sha256, result, reason"
                                 : "channel, version, sha256, reason");
    }
  }
  if (!have_channel) return Bad(key + ".channel", "missing");
  if (!have_version) return Bad(key + ".version", "missing");
  if (!have_sha) return Bad(key + ".sha256", "missing");
  if (is_apply && !have_result) return Bad(key + ".result", "missing");
  return e;
}

Status DecodeHealth(const json::value& v, CheckinRequest* req) {
  if (!v.is_object()) return Bad("health", "expected an object");
  for (const auto& kv : v.get_object()) {
    if (kv.key() == "crashes") {
      RF_ASSIGN_OR_RETURN(req->crashes, NonNegative(kv.value(), "health.crashes"));
    } else if (kv.key() == "errors") {
      RF_ASSIGN_OR_RETURN(req->errors, NonNegative(kv.value(), "health.errors"));
    } else if (kv.key() == "apply" || kv.key() == "quarantined") {
      const bool is_apply = kv.key() == "apply";
      const std::string list = "health." + std::string(kv.key());
      if (!kv.value().is_array()) return Bad(list, "expected an array");
      const json::array& a = kv.value().get_array();
      if (a.size() > kMaxHealthEntries) return Bad(list, "more than 32 entries");
      for (size_t i = 0; i < a.size(); ++i) {
        RF_ASSIGN_OR_RETURN(Entry e,
                            DecodeEntry(a[i], list + "[" + std::to_string(i) + "]", is_apply));
        if (is_apply) {
          req->apply.push_back({std::move(e.channel), e.version, std::move(e.sha256),
                                *OutcomeFromName(e.result), std::move(e.reason)});
        } else {
          req->quarantined.push_back(
              {std::move(e.channel), e.version, std::move(e.sha256), std::move(e.reason)});
        }
      }
    } else {
      return UnknownKey("health", kv.key(), "crashes, errors, apply, quarantined");
    }
  }
  return Status::Ok();
}

void AppendCaps(std::string* out, const CapabilityManifest& caps) {
  *out += '{';
  bool first = true;
  for (const auto& [type, cap] : caps) {  // std::map: sorted bytewise
    if (!first) *out += ',';
    first = false;
    AppendJsonString(out, type);
    *out += ":{\"inputs\":" + std::to_string(cap.inputs);
    if (cap.max_bundle_bytes > 0) *out += ",\"max_bundle_bytes\":" + std::to_string(cap.max_bundle_bytes);
    if (cap.max_items > 0) *out += ",\"max_items\":" + std::to_string(cap.max_items);
    *out += ",\"schema_versions\":[";
    for (size_t i = 0; i < cap.schema_versions.size(); ++i) {
      if (i) *out += ',';
      *out += std::to_string(cap.schema_versions[i]);
    }
    *out += "]}";
  }
  *out += '}';
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void AppendRef(std::string* out, const BundleRef& r) {
  *out += "{\"sha256\":\"";
  *out += r.sha256;
  *out += "\",\"version\":";
  AppendInt(out, r.version);
  *out += '}';
}

// ----- The fast path: a strict hand parser for the common check-in -----
//
// Nearly every check-in is {"device_id", "seq", "channels": {C: {"current"/"lkg": {"version",
// "sha256"}}}, "health": {"crashes", "errors"}}. FastCheckinParser decodes exactly that shape and
// gives up (nullopt) on anything else: another key (attrs, capabilities, apply, quarantined), a
// duplicate key, an escape or control character in a string, a number that is not a plain
// non-negative integer of at most 18 digits, an invalid id or digest, too many channels, trailing
// bytes. Everything it gives up on goes to the Boost.JSON decoder below, which produces every
// error message; so the fast path never refuses and, where it accepts, decodes exactly what the
// DOM decoder would (checkin_test compares the two on mutated bodies).
class FastCheckinParser {
 public:
  explicit FastCheckinParser(std::string_view body)
      : p_(body.data()), end_(body.data() + body.size()) {}

  std::optional<CheckinRequest> Parse() {
    CheckinRequest req;
    bool have_id = false, have_seq = false, have_channels = false, have_health = false;
    if (!Consume('{')) return std::nullopt;
    if (!Peek('}')) {
      do {
        std::string_view key;
        if (!String(&key) || !Consume(':')) return std::nullopt;
        if (key == "device_id") {
          std::string_view id;
          if (have_id || !String(&id) || !IsValidId(id)) return std::nullopt;
          req.device_id.assign(id);
          have_id = true;
        } else if (key == "seq") {
          if (have_seq || !Integer(&req.seq) || req.seq < 1) return std::nullopt;
          have_seq = true;
        } else if (key == "channels") {
          if (have_channels || !Channels(&req.channels)) return std::nullopt;
          have_channels = true;
        } else if (key == "health") {
          if (have_health || !Health(&req)) return std::nullopt;
          have_health = true;
        } else {
          return std::nullopt;
        }
      } while (Consume(','));
    }
    if (!Consume('}')) return std::nullopt;
    SkipSpace();
    if (p_ != end_ || !have_id || !have_seq) return std::nullopt;
    return req;
  }

 private:
  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool Peek(char c) {
    SkipSpace();
    return p_ != end_ && *p_ == c;
  }
  bool Consume(char c) {
    if (!Peek(c)) return false;
    ++p_;
    return true;
  }
  // A string without escapes or control characters (the bytes between the quotes).
  bool String(std::string_view* out) {
    if (!Consume('"')) return false;
    const char* start = p_;
    while (p_ != end_ && *p_ != '"') {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '\\' || c < 0x20) return false;
      ++p_;
    }
    if (p_ == end_) return false;
    *out = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }
  // 0 or [1-9][0-9]{0,17}, not followed by a fraction or exponent.
  bool Integer(int64_t* out) {
    SkipSpace();
    const char* start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    const size_t n = static_cast<size_t>(p_ - start);
    if (n == 0 || n > 18 || (n > 1 && *start == '0')) return false;
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    int64_t v = 0;
    for (const char* c = start; c != p_; ++c) v = v * 10 + (*c - '0');
    *out = v;
    return true;
  }
  // {"version": N, "sha256": "<hex>"} in either order, both present, nothing else.
  bool Ref(std::optional<BundleRef>* out) {
    if (out->has_value() || !Consume('{')) return false;
    BundleRef ref;
    bool have_version = false, have_sha = false;
    do {
      std::string_view key;
      if (!String(&key) || !Consume(':')) return false;
      if (key == "version") {
        if (have_version || !Integer(&ref.version)) return false;
        have_version = true;
      } else if (key == "sha256") {
        std::string_view sha;
        if (have_sha || !String(&sha) || !IsValidSha256Hex(sha)) return false;
        ref.sha256.assign(sha);
        have_sha = true;
      } else {
        return false;
      }
    } while (Consume(','));
    if (!Consume('}') || !have_version || !have_sha) return false;
    *out = std::move(ref);
    return true;
  }
  bool Channels(std::vector<ChannelReport>* out) {
    if (!Consume('{')) return false;
    if (Consume('}')) return true;
    do {
      ChannelReport ch;
      std::string_view name;
      if (!String(&name) || !IsValidId(name) || !Consume(':') || !Consume('{')) return false;
      ch.channel.assign(name);
      if (!Consume('}')) {
        do {
          std::string_view key;
          if (!String(&key) || !Consume(':')) return false;
          if (key == "current") {
            if (!Ref(&ch.current)) return false;
          } else if (key == "lkg") {
            if (!Ref(&ch.lkg)) return false;
          } else {
            return false;
          }
        } while (Consume(','));
        if (!Consume('}')) return false;
      }
      if (out->size() == kMaxChannels) return false;
      out->push_back(std::move(ch));
    } while (Consume(','));
    if (!Consume('}')) return false;
    std::sort(out->begin(), out->end(),
              [](const ChannelReport& a, const ChannelReport& b) { return a.channel < b.channel; });
    for (size_t i = 1; i < out->size(); ++i) {
      if ((*out)[i].channel == (*out)[i - 1].channel) return false;
    }
    return true;
  }
  bool Health(CheckinRequest* req) {
    if (!Consume('{')) return false;
    if (Consume('}')) return true;
    bool have_crashes = false, have_errors = false;
    do {
      std::string_view key;
      if (!String(&key) || !Consume(':')) return false;
      if (key == "crashes") {
        if (have_crashes || !Integer(&req->crashes)) return false;
        have_crashes = true;
      } else if (key == "errors") {
        if (have_errors || !Integer(&req->errors)) return false;
        have_errors = true;
      } else {
        return false;
      }
    } while (Consume(','));
    return Consume('}');
  }

  const char* p_;
  const char* end_;
};
}  // namespace

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
  });
}

bool IsValidSha256Hex(std::string_view hex) {
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string_view ApplyOutcomeName(ApplyOutcome o) {
  switch (o) {
    case ApplyOutcome::kApplied: return "applied";
    case ApplyOutcome::kRefused: return "refused";
    case ApplyOutcome::kPreflightFailed: return "preflight_failed";
    case ApplyOutcome::kReverted: return "reverted";
    case ApplyOutcome::kQuarantined: return "quarantined";
  }
  return "?";
}

Result<EnrollRequest> ParseEnrollRequest(std::string_view body) {
  unsigned char buffer[8192];
  json::monotonic_resource mr(buffer, sizeof buffer);
  json::value v;
  RF_RETURN_IF_ERROR(ParseJsonObject(body, &mr, &v));
  EnrollRequest req;
  bool have_id = false, have_attrs = false, have_caps = false, have_key = false, have_ts = false,
       have_proof = false;
  for (const auto& kv : v.get_object()) {
    if (kv.key() == "device_id") {
      RF_ASSIGN_OR_RETURN(req.device_id, IdString(kv.value(), "device_id"));
      have_id = true;
    } else if (kv.key() == "attrs") {
      RF_ASSIGN_OR_RETURN(req.attrs, DecodeAttrs(kv.value()));
      have_attrs = true;
    } else if (kv.key() == "capabilities") {
      RF_ASSIGN_OR_RETURN(req.capabilities, DecodeCaps(kv.value()));
      have_caps = true;
    } else if (kv.key() == "public_key") {
      RF_ASSIGN_OR_RETURN(req.public_key, Base64Bytes(kv.value(), "public_key", 32));
      req.public_key_b64 = std::string(kv.value().get_string());
      have_key = true;
    } else if (kv.key() == "timestamp_s") {
      RF_ASSIGN_OR_RETURN(req.timestamp_s, NonNegative(kv.value(), "timestamp_s"));
      have_ts = true;
    } else if (kv.key() == "proof") {
      RF_ASSIGN_OR_RETURN(req.proof, Base64Bytes(kv.value(), "proof", 64));
      have_proof = true;
    } else {
      return UnknownKey("", kv.key(),
                        "device_id, attrs, capabilities, public_key, timestamp_s, proof");
    }
  }
  if (!have_id) return Bad("device_id", "missing");
  if (!have_attrs) return Bad("attrs", "missing");
  if (!have_caps) return Bad("capabilities", "missing");
  if (!have_key) return Bad("public_key", "missing (a device credential is required: docs/protocol.md)");
  if (!have_ts) return Bad("timestamp_s", "missing");
  if (!have_proof) return Bad("proof", "missing");
  return req;
}

Result<SessionRequest> ParseSessionRequest(std::string_view body) {
  unsigned char buffer[2048];
  json::monotonic_resource mr(buffer, sizeof buffer);
  json::value v;
  RF_RETURN_IF_ERROR(ParseJsonObject(body, &mr, &v));
  SessionRequest req;
  bool have_id = false, have_ts = false, have_sig = false;
  for (const auto& kv : v.get_object()) {
    if (kv.key() == "device_id") {
      RF_ASSIGN_OR_RETURN(req.device_id, IdString(kv.value(), "device_id"));
      have_id = true;
    } else if (kv.key() == "timestamp_s") {
      RF_ASSIGN_OR_RETURN(req.timestamp_s, NonNegative(kv.value(), "timestamp_s"));
      have_ts = true;
    } else if (kv.key() == "signature") {
      RF_ASSIGN_OR_RETURN(req.signature, Base64Bytes(kv.value(), "signature", 64));
      have_sig = true;
    } else {
      return UnknownKey("", kv.key(), "device_id, timestamp_s, signature");
    }
  }
  if (!have_id) return Bad("device_id", "missing");
  if (!have_ts) return Bad("timestamp_s", "missing");
  if (!have_sig) return Bad("signature", "missing");
  return req;
}

std::optional<CheckinRequest> internal::ParseCheckinRequestFast(std::string_view body) {
  if (body.size() > kMaxAgentBodyBytes) return std::nullopt;
  return FastCheckinParser(body).Parse();
}

Result<CheckinRequest> ParseCheckinRequest(std::string_view body) {
  if (auto fast = internal::ParseCheckinRequestFast(body)) return std::move(*fast);
  return internal::ParseCheckinRequestDom(body);
}

Result<CheckinRequest> internal::ParseCheckinRequestDom(std::string_view body) {
  unsigned char buffer[16384];
  json::monotonic_resource mr(buffer, sizeof buffer);
  json::value v;
  RF_RETURN_IF_ERROR(ParseJsonObject(body, &mr, &v));
  CheckinRequest req;
  bool have_id = false, have_seq = false;
  for (const auto& kv : v.get_object()) {
    const std::string_view k = kv.key();
    if (k == "device_id") {
      RF_ASSIGN_OR_RETURN(req.device_id, IdString(kv.value(), "device_id"));
      have_id = true;
    } else if (k == "seq") {
      RF_ASSIGN_OR_RETURN(req.seq, NonNegative(kv.value(), "seq"));
      if (req.seq < 1) return Bad("seq", "expected an integer >= 1");
      have_seq = true;
    } else if (k == "attrs") {
      RF_ASSIGN_OR_RETURN(req.attrs, DecodeAttrs(kv.value()));
    } else if (k == "capabilities") {
      RF_ASSIGN_OR_RETURN(req.capabilities, DecodeCaps(kv.value()));
    } else if (k == "channels") {
      RF_ASSIGN_OR_RETURN(req.channels, DecodeChannels(kv.value(), "channels"));
    } else if (k == "health") {
      RF_RETURN_IF_ERROR(DecodeHealth(kv.value(), &req));
    } else {
      return UnknownKey("", k, "device_id, seq, attrs, capabilities, channels, health");
    }
  }
  if (!have_id) return Bad("device_id", "missing");
  if (!have_seq) return Bad("seq", "missing");
  return req;
}

std::string EncodeProfileKey(const rollout::Attributes& attrs, const CapabilityManifest& caps) {
  std::string out = "{\"attrs\":{";
  bool first = true;
  for (const auto& [k, v] : attrs) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(&out, k);
    out += ':';
    AppendJsonString(&out, v);
  }
  out += "},\"capabilities\":";
  AppendCaps(&out, caps);
  out += '}';
  return out;
}

Status ParseProfileKey(std::string_view key, rollout::Attributes* attrs, CapabilityManifest* caps) {
  boost::system::error_code ec;
  json::value v = json::parse(key, ec);
  if (ec || !v.is_object()) return Status::DataLoss("profile key is not a JSON object");
  const json::object& o = v.get_object();
  const json::value* a = o.if_contains("attrs");
  const json::value* c = o.if_contains("capabilities");
  if (a == nullptr || c == nullptr || o.size() != 2) {
    return Status::DataLoss("profile key needs exactly attrs and capabilities");
  }
  auto decoded_attrs = DecodeAttrs(*a);
  if (!decoded_attrs.ok()) return Status::DataLoss(decoded_attrs.status().message());
  auto decoded_caps = DecodeCaps(*c);
  if (!decoded_caps.ok()) return Status::DataLoss(decoded_caps.status().message());
  *attrs = std::move(*decoded_attrs);
  *caps = std::move(*decoded_caps);
  return Status::Ok();
}

std::string EncodeInstalledKey(const std::vector<ChannelReport>& channels) {
  std::string out;
  out.reserve(16 + channels.size() * 200);
  out += '{';
  for (size_t i = 0; i < channels.size(); ++i) {
    const ChannelReport& ch = channels[i];
    if (i) out += ',';
    AppendJsonString(&out, ch.channel);
    out += ":{";
    if (ch.current) {
      out += "\"current\":";
      AppendRef(&out, *ch.current);
    }
    if (ch.lkg) {
      if (ch.current) out += ',';
      out += "\"lkg\":";
      AppendRef(&out, *ch.lkg);
    }
    out += '}';
  }
  out += '}';
  return out;
}

Result<std::vector<ChannelReport>> ParseInstalledKey(std::string_view key) {
  boost::system::error_code ec;
  json::value v = json::parse(key, ec);
  if (ec) return Status::DataLoss("installed key is not JSON");
  auto r = DecodeChannels(v, "installed");
  if (!r.ok()) return Status::DataLoss(r.status().message());
  return r;
}

}  // namespace rf::server
