// Test-only helpers for the agent's tests (header-only, so rf_module keeps it out of rf_agent):
// real keys and signed statements, and a loopback HTTP server playing the ringfence server.
#ifndef RINGFENCE_AGENT_AGENT_TEST_FIXTURES_H_
#define RINGFENCE_AGENT_AGENT_TEST_FIXTURES_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <optional>
#include <set>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "agent/canonical_json.h"
#include "agent/statements.h"
#include "agent/trust_root.h"
#include "crypto/crypto.h"
#include "crypto/device_auth.h"
#include "crypto/dsse.h"
#include "platform/env.h"

namespace rf::agent::testing {

inline crypto::SigningKey KeyFromByte(uint8_t b) {
  std::string seed(32, static_cast<char>(b));
  return *crypto::SigningKey::FromSeed(seed);
}

// A fixed cast of keys: one publisher, three reviewers, one release key, one attacker.
struct Keys {
  crypto::SigningKey publisher = KeyFromByte(1);
  crypto::SigningKey reviewer1 = KeyFromByte(2);
  crypto::SigningKey reviewer2 = KeyFromByte(3);
  crypto::SigningKey reviewer3 = KeyFromByte(4);
  crypto::SigningKey release = KeyFromByte(5);
  crypto::SigningKey attacker = KeyFromByte(6);

  TrustRoot Trust(int64_t approval_threshold = 2) const {
    TrustRoot t;
    t.publisher_keys = {publisher.public_key()};
    t.publisher_threshold = 1;
    t.reviewer_keys = {reviewer1.public_key(), reviewer2.public_key(), reviewer3.public_key()};
    t.approval_threshold = approval_threshold;
    t.release_keys = {release.public_key()};
    t.clock_skew_s = 300;
    return t;
  }
};

inline std::string Envelope(std::string_view type, std::string payload,
                            const std::vector<const crypto::SigningKey*>& signers) {
  crypto::Envelope env;
  env.payload_type = std::string(type);
  env.payload = std::move(payload);
  for (const auto* k : signers) crypto::SignEnvelope(&env, *k);
  return crypto::SerializeEnvelope(env);
}

// A canonical test_rule payload; `items` are objects (each gets an "id").
inline std::string BundlePayload(const std::string& channel, int64_t version,
                                 std::vector<boost::json::object> items = {}) {
  boost::json::array arr;
  if (items.empty()) items.push_back({{"name", "pipe-" + std::to_string(version)}});
  for (size_t i = 0; i < items.size(); ++i) {
    boost::json::object it = items[i];
    it["id"] = "r-" + std::to_string(i + 1);
    arr.push_back(std::move(it));
  }
  boost::json::object o{{"channel", channel}, {"content_type", "test_rule"}, {"items", std::move(arr)},
                        {"schema_version", 1}, {"version", version}};
  return EncodeCanonicalJson(o);
}

// One release as the server would publish it: bundle, approvals and a release statement.
struct Release {
  std::string channel;
  int64_t version = 0;
  std::string payload;
  std::string sha256;
  std::string bundle;                  // envelope text
  std::vector<std::string> approvals;  // envelope texts
  std::string statement;               // release statement envelope text
};

inline std::string ReleaseStatementFor(const crypto::SigningKey& key, const std::string& action,
                                       const std::string& channel, int64_t version,
                                       const std::string& sha, int64_t issued_s, int64_t expires_s) {
  ReleaseStatement s{action, sha, channel, expires_s, issued_s, "r-" + std::to_string(version), version};
  return Envelope(kReleasePayloadType, EncodeReleaseStatement(s), {&key});
}

inline std::string ApprovalFor(const crypto::SigningKey& key, const std::string& channel,
                               int64_t version, const std::string& sha, const std::string& who) {
  ApprovalStatement a{sha, channel, "r-" + std::to_string(version), std::string(64, '0'), who,
                      "reviewer", version};
  return Envelope(kApprovalPayloadType, EncodeApprovalStatement(a), {&key});
}

// A release of an arbitrary canonical payload (e.g. one built from samples/content).
inline Release ReleaseOfPayload(const Keys& k, const std::string& channel, int64_t version,
                                std::string payload, int64_t now_s) {
  Release r;
  r.channel = channel;
  r.version = version;
  r.payload = std::move(payload);
  r.sha256 = crypto::Sha256Hex(r.payload);
  r.bundle = Envelope(crypto::kBundlePayloadType, r.payload, {&k.publisher});
  r.approvals = {ApprovalFor(k.reviewer1, channel, version, r.sha256, "bob"),
                 ApprovalFor(k.reviewer2, channel, version, r.sha256, "carol")};
  r.statement = ReleaseStatementFor(k.release, "install", channel, version, r.sha256, now_s - 60,
                                    now_s + 86400);
  return r;
}

inline Release MakeRelease(const Keys& k, const std::string& channel, int64_t version, int64_t now_s,
                           std::vector<boost::json::object> items = {}) {
  Release r;
  r.channel = channel;
  r.version = version;
  r.payload = BundlePayload(channel, version, std::move(items));
  r.sha256 = crypto::Sha256Hex(r.payload);
  r.bundle = Envelope(crypto::kBundlePayloadType, r.payload, {&k.publisher});
  r.approvals = {ApprovalFor(k.reviewer1, channel, version, r.sha256, "bob"),
                 ApprovalFor(k.reviewer2, channel, version, r.sha256, "carol")};
  r.statement = ReleaseStatementFor(k.release, "install", channel, version, r.sha256, now_s - 60,
                                    now_s + 86400);
  return r;
}

// ---------------------------------------------------------------------------------------------
// A loopback HTTP/1.1 server: one request per connection, answered by a handler on its own thread.

struct RawRequest {
  std::string method, path, body, authorization;
};

struct RawResponse {
  int status = 200;
  std::string body;
  std::string raw;               // when set, sent verbatim instead of an HTTP response
  size_t chunk_bytes = 0;        // > 0: send the body in pieces of this size...
  int chunk_delay_ms = 0;        // ...with this pause between them
  int delay_before_ms = 0;       // pause before sending anything
  bool close_silently = false;   // close the connection without a byte
  bool lie_length = false;       // announce no Content-Length (body until close)
};

class LoopbackServer {
 public:
  using Handler = std::function<RawResponse(const RawRequest&)>;
  explicit LoopbackServer(Handler handler) : handler_(std::move(handler)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 64);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      Serve(c);
      ::close(c);
    }
  }
  static bool SendAll(int c, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(c, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void Serve(int c) {
    std::string in;
    char buf[8192];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower = in.substr(0, header_end);
          for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          auto cl = lower.find("content-length:");
          if (cl != std::string::npos) content_length = std::stoul(lower.substr(cl + 15));
        }
      }
      if (header_end != std::string::npos && in.size() >= header_end + 4 + content_length) break;
    }
    RawRequest req;
    auto sp1 = in.find(' '), sp2 = in.find(' ', sp1 + 1);
    req.method = in.substr(0, sp1);
    req.path = in.substr(sp1 + 1, sp2 - sp1 - 1);
    req.body = in.substr(header_end + 4, content_length);
    auto auth = in.find("Authorization: ");
    if (auth != std::string::npos && auth < header_end) {
      req.authorization = in.substr(auth + 15, in.find("\r\n", auth) - auth - 15);
    }
    RawResponse r = handler_(req);
    if (r.delay_before_ms) std::this_thread::sleep_for(std::chrono::milliseconds(r.delay_before_ms));
    if (r.close_silently) return;
    if (!r.raw.empty()) {
      SendAll(c, r.raw);
      return;
    }
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " X\r\nContent-Type: application/json\r\n";
    if (!r.lie_length) head += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    head += "Connection: close\r\n\r\n";
    if (!SendAll(c, head)) return;
    if (r.chunk_bytes == 0) {
      SendAll(c, r.body);
      return;
    }
    for (size_t off = 0; off < r.body.size() && !stop_; off += r.chunk_bytes) {
      if (!SendAll(c, std::string_view(r.body).substr(off, r.chunk_bytes))) return;
      if (r.chunk_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(r.chunk_delay_ms));
    }
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The ringfence server's agent API, as far as the agent's tests need it. Thread-safe.
class FakeFleetServer {
 public:
  FakeFleetServer() : server_([this](const RawRequest& r) { return Handle(r); }) {}
  std::string url() const { return server_.url(); }

  void Offer(const Release& r, const std::string& action = "install", const std::string& statement = "") {
    std::lock_guard<std::mutex> l(mu_);
    releases_[r.sha256] = r;
    Directive d{action, r, statement.empty() ? r.statement : statement};
    directives_[r.channel] = d;
  }
  void Clear(const std::string& channel) {
    std::lock_guard<std::mutex> l(mu_);
    directives_.erase(channel);
    raw_directives_.erase(channel);
  }
  // Serve `json` verbatim as the directive of `channel` (malformed ones, for the decoder).
  void OfferRaw(const std::string& channel, const std::string& json) {
    std::lock_guard<std::mutex> l(mu_);
    raw_directives_[channel] = boost::json::parse(json);
  }
  // Replace the bundle bytes served for `sha` (garbage, tampered...).
  void ServeBundleBytes(const std::string& sha, std::string bytes) {
    std::lock_guard<std::mutex> l(mu_);
    bundle_override_[sha] = std::move(bytes);
  }
  // Every response goes through `hook` first; a non-null result replaces it.
  void SetHook(std::function<std::optional<RawResponse>(const RawRequest&)> hook) {
    std::lock_guard<std::mutex> l(mu_);
    hook_ = std::move(hook);
  }
  void set_poll_after(int64_t s) { poll_after_ = s; }
  // Install directives carry `lkg_after_ms` (the plan's gate.lkg_after) when >= 0.
  void set_lkg_after_ms(int64_t ms) { lkg_after_ms_ = ms; }
  // A check-in that reports an `applied` result is answered with `confirm_after_ms` when > 0
  // (docs/protocol.md "Post-apply confirmation").
  void set_confirm_after_ms(int64_t ms) { confirm_after_ms_ = ms; }
  std::vector<boost::json::object> checkins() {
    std::lock_guard<std::mutex> l(mu_);
    return checkins_;
  }
  // When each accepted check-in arrived (monotonic µs), in the order of checkins().
  std::vector<int64_t> checkin_times() {
    std::lock_guard<std::mutex> l(mu_);
    return checkin_times_;
  }
  int64_t enrolls() const { return enrolls_; }
  // The public key (raw bytes) registered for `device`, "" if none.
  std::string KeyOf(const std::string& device) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = keys_.find(device);
    return it == keys_.end() ? "" : it->second;
  }
  // Every session token issued so far stops working (as after a server secret rotation).
  void DropSessions() {
    std::lock_guard<std::mutex> l(mu_);
    sessions_.clear();
  }
  int64_t sessions_issued() const { return sessions_issued_; }

 private:
  struct Directive {
    std::string action;
    Release release;
    std::string statement;
  };
  RawResponse Error(int status, const std::string& code) {
    RawResponse r;
    r.status = status;
    r.body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + code + "\"}}";
    return r;
  }
  // A session response for `dev` (REQUIRES: mu_ held).
  RawResponse NewSession(const std::string& dev) {
    const std::string token = "sess-" + dev + "-" + std::to_string(++sessions_issued_);
    sessions_[token] = dev;
    RawResponse r;
    r.body = boost::json::serialize(boost::json::object{
        {"device_id", dev}, {"poll_after_s", poll_after_.load()}, {"session_token", token},
        {"session_expires_s", int64_t{4'000'000'000}}});
    return r;
  }
  // Enrollment and session requests, checked as the real server does (docs/protocol.md "Device
  // credentials"), apart from the timestamp window.
  RawResponse Enroll(const RawRequest& req) {
    if (req.authorization != "Bearer test-token") return Error(401, "unauthenticated");
    ++enrolls_;
    auto v = boost::json::parse(req.body).as_object();
    const std::string dev(v.at("device_id").as_string());
    const std::string pub_b64(v.at("public_key").as_string());
    auto pub = crypto::Base64Decode(pub_b64);
    auto proof = crypto::Base64Decode(std::string(v.at("proof").as_string()));
    if (!pub.ok() || pub->size() != 32 || !proof.ok()) return Error(400, "invalid_request");
    crypto::PublicKey key;
    std::copy(pub->begin(), pub->end(), key.bytes.begin());
    const int64_t ts = v.at("timestamp_s").as_int64();
    if (!crypto::Verify(key, crypto::EnrollProofMessage(dev, pub_b64, ts), *proof).ok()) {
      return Error(401, "invalid_proof");
    }
    auto it = keys_.find(dev);
    if (it != keys_.end() && it->second != *pub) return Error(409, "key_conflict");
    keys_[dev] = *pub;
    enrolled_.insert(dev);
    return NewSession(dev);
  }
  RawResponse Session(const RawRequest& req) {
    auto v = boost::json::parse(req.body).as_object();
    const std::string dev(v.at("device_id").as_string());
    auto it = keys_.find(dev);
    if (it == keys_.end() || !enrolled_.count(dev)) return Error(404, "unknown_device");
    crypto::PublicKey key;
    std::copy(it->second.begin(), it->second.end(), key.bytes.begin());
    auto sig = crypto::Base64Decode(std::string(v.at("signature").as_string()));
    if (!sig.ok() || !crypto::Verify(key, crypto::SessionRequestMessage(dev, v.at("timestamp_s").as_int64()),
                                     *sig).ok()) {
      return Error(401, "unauthenticated");
    }
    return NewSession(dev);
  }
  // The device a bearer session token belongs to, "" if none.
  std::string SessionDevice(const RawRequest& req) {
    constexpr std::string_view kBearer = "Bearer ";
    if (req.authorization.rfind(kBearer, 0) != 0) return "";
    auto it = sessions_.find(req.authorization.substr(kBearer.size()));
    return it == sessions_.end() ? "" : it->second;
  }
  RawResponse Handle(const RawRequest& req) {
    std::lock_guard<std::mutex> l(mu_);
    if (hook_) {
      if (auto r = hook_(req)) return *r;
    }
    if (req.method == "POST" && req.path == "/v1/agent/enroll") return Enroll(req);
    if (req.method == "POST" && req.path == "/v1/agent/session") return Session(req);
    const std::string session_device = SessionDevice(req);
    if (session_device.empty() && req.authorization != "Bearer test-token") {
      return Error(401, "unauthenticated");
    }
    if (req.method == "POST" && req.path == "/v1/agent/checkin") {
      if (session_device.empty()) return Error(401, "unauthenticated");
      auto v = boost::json::parse(req.body).as_object();
      const std::string dev(v.at("device_id").as_string());
      if (dev != session_device) return Error(403, "forbidden_device");
      if (!enrolled_.count(dev)) return Error(404, "unknown_device");
      const int64_t seq = v.at("seq").as_int64();
      if (seq <= last_seq_[dev]) return Error(409, "stale_checkin");
      last_seq_[dev] = seq;
      checkins_.push_back(v);
      checkin_times_.push_back(PosixEnv().clock->MonotonicMicros());
      bool reports_apply = false;
      if (const auto* h = v.if_contains("health"); h && h->as_object().contains("apply")) {
        for (const auto& a : h->as_object().at("apply").as_array()) {
          reports_apply |= a.as_object().at("result").as_string() == "applied";
        }
      }
      boost::json::object chans;
      for (const auto& [ch, d] : directives_) {
        boost::json::object o{{"action", d.action}, {"version", d.release.version},
                              {"sha256", d.release.sha256}, {"release", d.statement}};
        if (d.action == "install") {
          o["bundle_url"] = "/v1/bundles/" + d.release.sha256;
          o["approvals_url"] = "/v1/bundles/" + d.release.sha256 + "/approvals";
          if (lkg_after_ms_ >= 0) o["lkg_after_ms"] = lkg_after_ms_.load();
        } else {
          o["reason"] = "halted";
        }
        chans[ch] = std::move(o);
      }
      for (const auto& [ch, raw] : raw_directives_) chans[ch] = raw;
      RawResponse r;
      boost::json::object body{
          {"poll_after_s", poll_after_.load()}, {"server_time_s", 0}, {"channels", std::move(chans)}};
      if (reports_apply && confirm_after_ms_ > 0) body["confirm_after_ms"] = confirm_after_ms_.load();
      r.body = boost::json::serialize(body);
      return r;
    }
    if (req.method == "GET" && req.path.rfind("/v1/bundles/", 0) == 0) {
      std::string rest = req.path.substr(12);
      bool approvals = false;
      if (rest.size() > 10 && rest.substr(rest.size() - 10) == "/approvals") {
        approvals = true;
        rest = rest.substr(0, rest.size() - 10);
      }
      auto it = releases_.find(rest);
      if (it == releases_.end()) return Error(404, "unknown_bundle");
      RawResponse r;
      if (approvals) {
        boost::json::array a;
        for (const auto& s : it->second.approvals) a.push_back(boost::json::string(s));
        r.body = boost::json::serialize(boost::json::object{{"approvals", std::move(a)}});
      } else {
        auto o = bundle_override_.find(rest);
        r.body = o != bundle_override_.end() ? o->second : it->second.bundle;
        r.chunk_bytes = bundle_chunk_bytes_;
        r.chunk_delay_ms = bundle_chunk_delay_ms_;
      }
      return r;
    }
    return Error(404, "not_found");
  }

 public:
  // Serve bundles in small pieces (so kill points land mid-download).
  void set_bundle_chunks(size_t bytes, int delay_ms) {
    std::lock_guard<std::mutex> l(mu_);
    bundle_chunk_bytes_ = bytes;
    bundle_chunk_delay_ms_ = delay_ms;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Release> releases_;
  std::map<std::string, Directive> directives_;
  std::map<std::string, boost::json::value> raw_directives_;
  std::map<std::string, std::string> bundle_override_;
  std::map<std::string, int64_t> last_seq_;
  std::set<std::string> enrolled_;
  std::map<std::string, std::string> keys_;      // device -> raw public key
  std::map<std::string, std::string> sessions_;  // session token -> device
  std::atomic<int64_t> sessions_issued_{0};
  std::vector<boost::json::object> checkins_;
  std::vector<int64_t> checkin_times_;
  std::atomic<int64_t> lkg_after_ms_{-1};
  std::atomic<int64_t> confirm_after_ms_{0};
  std::function<std::optional<RawResponse>(const RawRequest&)> hook_;
  std::atomic<int64_t> poll_after_{60};
  std::atomic<int64_t> enrolls_{0};
  size_t bundle_chunk_bytes_ = 0;
  int bundle_chunk_delay_ms_ = 0;
  LoopbackServer server_;  // last: its thread starts once everything above exists
};

}  // namespace rf::agent::testing

#endif  // RINGFENCE_AGENT_AGENT_TEST_FIXTURES_H_
