#include "protocol/agent_messages.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <utility>

#include "core/bundle.h"  // AppendJsonString
#include "crypto/crypto.h"   // Base64Decode
#include "crypto/device_auth.h"
#include "protocol/canonical_json.h"

namespace rf::protocol {
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
  if (!IsValidId(s)) return Bad(key, "expected " + std::string(kIdRule));
  return std::string(s);
}

Result<std::string> Sha(const json::value& v, std::string_view key) {
  if (!v.is_string() || !IsSha256Hex(v.get_string())) {
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

Result<Attributes> DecodeAttrs(const json::value& v) {
  if (!v.is_object()) return Bad("attrs", "expected an object");
  const json::object& o = v.get_object();
  if (o.size() > kMaxAttrs) return Bad("attrs", "more than 16 attributes");
  Attributes attrs;
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
      if (!kv.value().is_string() || !IsSha256Hex(kv.value().get_string())) {
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
      return Bad(Path({where, ".", name}), "channels are " + std::string(kIdRule));
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
    } else if (kv.key() == "apply") {
      const std::string list = "health.apply";
      if (!kv.value().is_array()) return Bad(list, "expected an array");
      const json::array& a = kv.value().get_array();
      if (a.size() > kMaxHealthEntries) return Bad(list, "more than 32 entries");
      for (size_t i = 0; i < a.size(); ++i) {
        RF_ASSIGN_OR_RETURN(Entry e, DecodeEntry(a[i], list + "[" + std::to_string(i) + "]", true));
        req->apply.push_back({std::move(e.channel), e.version, std::move(e.sha256),
                              *OutcomeFromName(e.result), std::move(e.reason)});
      }
    } else if (kv.key() == "quarantined") {
      RF_ASSIGN_OR_RETURN(req->quarantined, DecodeQuarantinedList(kv.value(), "health.quarantined"));
    } else {
      return UnknownKey("health", kv.key(), "crashes, errors, apply, quarantined");
    }
  }
  return Status::Ok();
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
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
        if (have_sha || !String(&sha) || !IsSha256Hex(sha)) return false;
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

std::optional<ApplyOutcome> ApplyOutcomeFromName(std::string_view name) {
  return OutcomeFromName(name);
}

Result<Attributes> DecodeAttributes(const json::value& v) { return DecodeAttrs(v); }

Result<CapabilityManifest> DecodeCapabilities(const json::value& v) { return DecodeCaps(v); }

Result<std::vector<QuarantinedVersion>> DecodeQuarantinedList(const json::value& v,
                                                              std::string_view where) {
  const std::string list(where);
  if (!v.is_array()) return Bad(list, "expected an array");
  const json::array& a = v.get_array();
  if (a.size() > kMaxHealthEntries) return Bad(list, "more than 32 entries");
  std::vector<QuarantinedVersion> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    RF_ASSIGN_OR_RETURN(Entry e, DecodeEntry(a[i], list + "[" + std::to_string(i) + "]", false));
    out.push_back({std::move(e.channel), e.version, std::move(e.sha256), std::move(e.reason)});
  }
  return out;
}

Result<std::vector<ChannelReport>> DecodeChannelReports(const json::value& v,
                                                        std::string_view where) {
  return DecodeChannels(v, where);
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


// ----- the agent's request encoders -----

namespace {

json::object DeviceJson(const DeviceInfo& d) {
  json::object o;
  o["device_id"] = d.device_id;
  json::object attrs;
  for (const auto& [k, v] : d.attrs) attrs[k] = v;
  o["attrs"] = std::move(attrs);
  auto caps = ParseJson(d.capabilities_json.empty() ? "{}" : d.capabilities_json, 8);
  o["capabilities"] = caps.ok() ? std::move(*caps) : json::object();
  return o;
}

// `reason` cut to kMaxReasonBytes (what the server accepts) at a UTF-8 character boundary.
std::string CutReason(std::string_view reason) {
  if (reason.size() <= kMaxReasonBytes) return std::string(reason);
  size_t n = kMaxReasonBytes;
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  return std::string(reason.substr(0, n));
}

json::object RefJson(const BundleRef& r) { return {{"version", r.version}, {"sha256", r.sha256}}; }

}  // namespace

Status ValidateDeviceInfo(const DeviceInfo& d) {
  if (!IsValidDeviceId(d.device_id)) {
    return Status::InvalidArgument("device id must be " + std::string(kIdRule));
  }
  if (d.attrs.size() > kMaxAttrs) return Status::InvalidArgument("at most 16 attributes");
  for (const auto& [k, v] : d.attrs) {
    if (!IsAttrKey(k)) {
      return Status::InvalidArgument("attribute key '" + k + "' must be 1-32 characters of [a-z0-9_]");
    }
    if (v.empty() || v.size() > kMaxAttrValueBytes) {
      return Status::InvalidArgument("attribute '" + k + "' value must be 1-64 bytes");
    }
  }
  auto caps = ParseJson(d.capabilities_json.empty() ? "{}" : d.capabilities_json, 8);
  if (!caps.ok() || !caps->is_object()) {
    return Status::InvalidArgument("the capability manifest is not a JSON object");
  }
  if (caps->get_object().size() > kMaxContentTypes) {
    return Status::InvalidArgument("the manifest lists more than 16 content types");
  }
  return Status::Ok();
}

std::string EncodeEnrollRequest(const DeviceInfo& device, const crypto::SigningKey& key,
                                int64_t now_s) {
  json::object o = DeviceJson(device);
  const std::string pub = crypto::Base64Encode(
      std::string_view(reinterpret_cast<const char*>(key.public_key().bytes.data()), 32));
  o["public_key"] = pub;
  o["timestamp_s"] = now_s;
  o["proof"] =
      crypto::Base64Encode(key.Sign(crypto::EnrollProofMessage(device.device_id, pub, now_s)));
  return json::serialize(o);
}

std::string EncodeSessionRequest(const std::string& device_id, const crypto::SigningKey& key,
                                 int64_t now_s) {
  json::object o;
  o["device_id"] = device_id;
  o["timestamp_s"] = now_s;
  o["signature"] = crypto::Base64Encode(key.Sign(crypto::SessionRequestMessage(device_id, now_s)));
  return json::serialize(o);
}

std::string EncodeCheckinRequest(const DeviceInfo& device, int64_t seq,
                                 const std::vector<ChannelReport>& channels, int64_t crashes,
                                 int64_t errors, const std::vector<ApplyResult>& apply,
                                 const std::vector<QuarantinedVersion>& quarantined) {
  json::object o = DeviceJson(device);
  o["seq"] = seq;
  json::object chans;
  for (const ChannelReport& c : channels) {
    json::object co;
    if (c.current) co["current"] = RefJson(*c.current);
    if (c.lkg) co["lkg"] = RefJson(*c.lkg);
    chans[c.channel] = std::move(co);
  }
  o["channels"] = std::move(chans);
  json::object h;
  h["crashes"] = crashes;
  h["errors"] = errors;
  json::array apply_list, quarantined_list;
  for (const ApplyResult& a : apply) {
    json::object e{{"channel", a.channel},
                   {"version", a.version},
                   {"sha256", a.sha256},
                   {"result", ApplyOutcomeName(a.result)}};
    if (!a.reason.empty()) e["reason"] = CutReason(a.reason);
    apply_list.push_back(std::move(e));
  }
  for (const QuarantinedVersion& q : quarantined) {
    quarantined_list.push_back({{"channel", q.channel},
                                {"version", q.version},
                                {"sha256", q.sha256},
                                {"reason", CutReason(q.reason)}});
  }
  h["apply"] = std::move(apply_list);
  h["quarantined"] = std::move(quarantined_list);
  o["health"] = std::move(h);
  return EncodeCanonicalJson(o);
}

// ----- responses -----

std::string EncodeSessionResponse(std::string_view device_id, int64_t poll_after_s,
                                  std::string_view token, int64_t expires_s) {
  std::string body = "{\"device_id\":";
  AppendJsonString(&body, device_id);
  body += ",\"poll_after_s\":";
  AppendInt(&body, poll_after_s);
  body += ",\"session_token\":";
  AppendJsonString(&body, token);
  body += ",\"session_expires_s\":";
  AppendInt(&body, expires_s);
  body += '}';
  return body;
}

Result<DeviceSession> DecodeSessionResponse(std::string_view body) {
  constexpr std::string_view w = "session response";
  auto v = ParseJson(body, 4);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("session response is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(
      CheckKeys(o, {"device_id", "poll_after_s", "session_token", "session_expires_s"}, w));
  DeviceSession s;
  RF_ASSIGN_OR_RETURN(s.token, GetString(o, "session_token", w));
  RF_ASSIGN_OR_RETURN(s.expires_s, GetInt(o, "session_expires_s", w));
  RF_ASSIGN_OR_RETURN(s.poll_after_s, GetInt(o, "poll_after_s", w));
  if (s.token.empty() || s.token.size() > 512) {
    return Status::InvalidArgument("session response: 'session_token' must be 1-512 characters");
  }
  for (char c : s.token) {
    if (c <= ' ' || c > '~') {
      return Status::InvalidArgument("session response: 'session_token' is not printable ASCII");
    }
  }
  return s;
}

CheckinResponseWriter::CheckinResponseWriter(int64_t poll_after_s, int64_t server_time_s) {
  // The common answer ("keep what you have") fits the reservation: one allocation.
  body_.reserve(128);
  body_ += "{\"poll_after_s\":";
  AppendInt(&body_, poll_after_s);
  body_ += ",\"server_time_s\":";
  AppendInt(&body_, server_time_s);
  body_ += ",\"channels\":{";
}

void CheckinResponseWriter::Install(std::string_view channel, int64_t version,
                                    std::string_view sha256, std::string_view release_statement,
                                    int64_t lkg_after_ms) {
  if (!first_) body_ += ',';
  first_ = false;
  AppendJsonString(&body_, channel);
  body_ += ":{\"action\":\"install\",\"version\":";
  AppendInt(&body_, version);
  body_ += ",\"sha256\":\"";
  body_ += sha256;
  body_ += "\",\"bundle_url\":\"/v1/bundles/";
  body_ += sha256;
  body_ += "\",\"approvals_url\":\"/v1/bundles/";
  body_ += sha256;
  body_ += "/approvals\",\"release\":";
  AppendJsonString(&body_, release_statement);
  if (lkg_after_ms >= 0) {
    body_ += ",\"lkg_after_ms\":";
    AppendInt(&body_, lkg_after_ms);
  }
  body_ += '}';
}

void CheckinResponseWriter::Revert(std::string_view channel, int64_t version,
                                   std::string_view sha256, std::string_view reason,
                                   std::string_view release_statement) {
  if (!first_) body_ += ',';
  first_ = false;
  AppendJsonString(&body_, channel);
  body_ += ":{\"action\":\"revert\",\"version\":";
  AppendInt(&body_, version);
  body_ += ",\"sha256\":\"";
  body_ += sha256;
  body_ += "\",\"reason\":";
  AppendJsonString(&body_, reason);
  body_ += ",\"release\":";
  AppendJsonString(&body_, release_statement);
  body_ += '}';
}

std::string CheckinResponseWriter::Finish() && {
  body_ += '}';
  if (confirm_after_ms_ > 0) {
    body_ += ",\"confirm_after_ms\":";
    AppendInt(&body_, confirm_after_ms_);
  }
  body_ += '}';
  return std::move(body_);
}

namespace {

// Decodes one directive into `d`; on an error `d` keeps the fields decoded so far (channel
// always, version and sha256 once valid).
Status DecodeDirective(std::string_view channel, const json::value& v, Directive* d) {
  d->channel = std::string(channel);
  RF_RETURN_IF_ERROR(CheckChannel(channel, "check-in response: channel"));
  const std::string w = "check-in response: channels." + std::string(channel);
  if (!v.is_object()) return Status::InvalidArgument(w + " is not an object");
  const auto& o = v.get_object();
  RF_ASSIGN_OR_RETURN(const int64_t version, GetInt(o, "version", w));
  if (version < 1) return Status::InvalidArgument(w + ": 'version' must be >= 1");
  d->version = version;
  RF_ASSIGN_OR_RETURN(std::string sha, GetString(o, "sha256", w));
  if (!IsSha256Hex(sha)) {
    return Status::InvalidArgument(w + ": 'sha256' is not a SHA-256 hex digest");
  }
  d->sha256 = std::move(sha);
  RF_ASSIGN_OR_RETURN(d->action, GetString(o, "action", w));
  if (d->action == "install") {
    RF_RETURN_IF_ERROR(CheckKeys(o,
                                 {"action", "version", "sha256", "bundle_url", "approvals_url",
                                  "release", "lkg_after_ms"},
                                 w));
    RF_ASSIGN_OR_RETURN(d->bundle_url, GetString(o, "bundle_url", w));
    RF_ASSIGN_OR_RETURN(d->approvals_url, GetString(o, "approvals_url", w));
    if (o.contains("lkg_after_ms")) {
      RF_ASSIGN_OR_RETURN(const int64_t lkg_after, GetInt(o, "lkg_after_ms", w));
      if (lkg_after < 0 || lkg_after > kMaxLkgAfterMs) {
        return Status::InvalidArgument(w + ": 'lkg_after_ms' outside 0.." +
                                       std::to_string(kMaxLkgAfterMs));
      }
      d->lkg_after_ms = lkg_after;
    }
  } else if (d->action == "revert") {
    RF_RETURN_IF_ERROR(CheckKeys(o, {"action", "version", "sha256", "reason", "release"}, w));
    if (o.contains("reason")) {
      RF_ASSIGN_OR_RETURN(d->reason, GetString(o, "reason", w));
    }
    if (d->reason.size() > kMaxRevertReasonBytes) d->reason.resize(kMaxRevertReasonBytes);
  } else {
    const std::string action = d->action.substr(0, 32);
    d->action.clear();
    return Status::InvalidArgument(w + ": unknown action '" + action + "'");
  }
  RF_ASSIGN_OR_RETURN(d->release, GetString(o, "release", w));
  return Status::Ok();
}

}  // namespace

std::string EncodeApprovalsResponse(const std::vector<std::string>& envelopes) {
  std::string body = "{\"approvals\":[";
  for (size_t i = 0; i < envelopes.size(); ++i) {
    if (i) body += ',';
    AppendJsonString(&body, envelopes[i]);
  }
  body += "]}";
  return body;
}

Result<std::vector<std::string>> DecodeApprovalsResponse(std::string_view body) {
  constexpr std::string_view w = "approvals response";
  auto v = ParseJson(body, 4);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("approvals response is not a JSON object");
  RF_RETURN_IF_ERROR(CheckKeys(v->get_object(), {"approvals"}, w));
  const auto* a = v->get_object().if_contains("approvals");
  if (!a || !a->is_array()) {
    return Status::InvalidArgument("approvals response: 'approvals' is missing or not an array");
  }
  std::vector<std::string> out;
  for (const auto& e : a->get_array()) {
    if (!e.is_string()) {
      return Status::InvalidArgument("approvals response: an entry is not a string");
    }
    out.emplace_back(e.get_string());
  }
  return out;
}

Result<CheckinResponse> DecodeCheckinResponse(std::string_view body) {
  constexpr std::string_view w = "check-in response";
  auto v = ParseJson(body, 8);
  if (!v.ok()) return v.status().WithPrefix(w);
  if (!v->is_object()) return Status::InvalidArgument("check-in response is not a JSON object");
  const auto& o = v->get_object();
  RF_RETURN_IF_ERROR(
      CheckKeys(o, {"poll_after_s", "server_time_s", "channels", "confirm_after_ms"}, w));
  CheckinResponse r;
  RF_ASSIGN_OR_RETURN(r.poll_after_s, GetInt(o, "poll_after_s", w));
  if (r.poll_after_s < 0) {
    return Status::InvalidArgument("check-in response: 'poll_after_s' is negative");
  }
  if (o.contains("server_time_s")) {
    RF_ASSIGN_OR_RETURN(r.server_time_s, GetInt(o, "server_time_s", w));
  }
  if (o.contains("confirm_after_ms")) {
    RF_ASSIGN_OR_RETURN(r.confirm_after_ms, GetInt(o, "confirm_after_ms", w));
    if (r.confirm_after_ms < 0 || r.confirm_after_ms > kMaxConfirmAfterMs) {
      return Status::InvalidArgument("check-in response: 'confirm_after_ms' outside 0.." +
                                     std::to_string(kMaxConfirmAfterMs));
    }
  }
  if (const auto* ch = o.if_contains("channels")) {
    if (!ch->is_object()) {
      return Status::InvalidArgument("check-in response: 'channels' is not an object");
    }
    if (ch->get_object().size() > kMaxResponseChannels) {
      return Status::InvalidArgument("check-in response: more than " +
                                     std::to_string(kMaxResponseChannels) + " channels");
    }
    for (const auto& kv : ch->get_object()) {
      Directive d;
      if (Status s = DecodeDirective(kv.key(), kv.value(), &d); !s.ok()) {
        r.rejected.push_back({std::move(d), std::move(s)});
      } else {
        r.directives.push_back(std::move(d));
      }
    }
  }
  return r;
}

}  // namespace rf::protocol
