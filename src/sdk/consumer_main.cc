// rf_consumer_main: the consumer process protocol of docs/sdk.md ("manifest", "validate", "load",
// "replay"), which the agent's pre-flight and layer 2 run in a sandboxed child.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "crypto/dsse.h"
#include "platform/env.h"
#include "ringfence/consumer.h"
#include "sdk/internal.h"

namespace rf::sdk {

std::string ExtractPayload(std::string text, std::string* payload) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text.compare(first, 2, "{\"") == 0 &&
      text.find("\"payloadType\"") != std::string::npos &&
      text.find("\"signatures\"") != std::string::npos) {
    auto env = crypto::ParseEnvelope(text);
    if (!env.ok()) return env.status().message();
    if (env->payload_type != crypto::kBundlePayloadType) {
      return "envelope payloadType is '" + env->payload_type + "', expected '" +
             std::string(crypto::kBundlePayloadType) + "'";
    }
    *payload = std::move(env->payload);
    return "";
  }
  *payload = std::move(text);
  return "";
}

namespace {

constexpr int kExitOk = 0, kExitRejected = 1, kExitUsage = 2;
constexpr size_t kMaxFileBytes = 512u << 20;

const char* HealthName(rf_health_state s) {
  switch (s) {
    case RF_HEALTH_OK: return "ok";
    case RF_HEALTH_DEGRADED: return "degraded";
    case RF_HEALTH_FAILED: return "failed";
  }
  return "unknown";
}

void PrintHealth(void*, rf_health_state state, const char* detail) {
  std::fprintf(stderr, "health: %s: %s\n", HealthName(state), detail);
}

int Usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s manifest | validate FILE | load FILE | replay FILE EVENTS\n"
               "  FILE: a canonical bundle payload or a DSSE envelope holding one\n"
               "  EVENTS: JSON Lines, one event object (field name -> value) per line\n",
               prog);
  return kExitUsage;
}

bool ReadPayloadFile(const char* path, std::string* payload) {
  auto text = PosixEnv().fs->ReadFile(path, kMaxFileBytes);
  if (!text.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", path, text.status().message().c_str());
    return false;
  }
  if (std::string err = ExtractPayload(std::move(*text), payload); !err.empty()) {
    std::fprintf(stderr, "error: %s: %s\n", path, err.c_str());
    return false;
  }
  return true;
}

// Loads and reports; returns true when the consumer took the content and is not FAILED.
bool LoadAndReport(rf_consumer* c, const std::string& payload, const char* path) {
  char msg[2048];
  rf_status s = rf_consumer_load(c, reinterpret_cast<const uint8_t*>(payload.data()),
                                 payload.size(), msg, sizeof msg);
  if (s != RF_OK) {
    std::fprintf(stderr, "rejected: %s: %s: %s\n", path, rf_status_name(s), msg);
    return false;
  }
  char detail[1024];
  rf_health_state h = rf_consumer_health(c, detail, sizeof detail);
  if (h == RF_HEALTH_FAILED) {
    std::fprintf(stderr, "unhealthy after load: %s: %s\n", path, detail);
    return false;
  }
  std::fprintf(stderr, "loaded: %s (%zu bytes), health %s\n", path, payload.size(), HealthName(h));
  return true;
}

void CollectMatch(void* ctx, const char* id, size_t n) {
  static_cast<std::vector<std::string>*>(ctx)->emplace_back(id, n);
}

int Replay(rf_consumer* c, const std::string& payload, const char* path, const char* events_path) {
  auto events = PosixEnv().fs->ReadFile(events_path, kMaxFileBytes);
  if (!events.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", events_path, events.status().message().c_str());
    return kExitUsage;
  }
  if (!LoadAndReport(c, payload, path)) return kExitRejected;
  std::string_view rest = *events;
  size_t n = 0;
  std::vector<std::string> ids;
  std::string line_out;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ++n;
    ids.clear();
    char msg[1024];
    rf_status s = rf_consumer_match(c, line.data(), line.size(), &CollectMatch, &ids, msg,
                                    sizeof msg);
    line_out = "{\"event\":" + std::to_string(n);
    if (s == RF_OK) {
      line_out += ",\"matches\":[";
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) line_out += ',';
        AppendJsonString(&line_out, ids[i]);
      }
      line_out += "]}\n";
    } else {
      line_out += ",\"error\":";
      AppendJsonString(&line_out, std::string(rf_status_name(s)) + ": " + msg);
      line_out += "}\n";
    }
    // Flushed per event: if the interpreter crashes on the next one, what came before is kept.
    std::fwrite(line_out.data(), 1, line_out.size(), stdout);
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace
}  // namespace rf::sdk

extern "C" int rf_consumer_main(rf_consumer* consumer, int argc, char** argv) {
  using namespace rf::sdk;
  const char* prog = argc > 0 && argv[0] != nullptr ? argv[0] : "consumer";
  if (consumer == nullptr) {
    std::fprintf(stderr, "%s: no consumer\n", prog);
    return kExitUsage;
  }
  if (argc < 2) return Usage(prog);
  const std::string_view cmd = argv[1];
  rf_consumer_set_health_callback(consumer, &PrintHealth, nullptr);
  if (cmd == "manifest" && argc == 2) {
    size_t needed = 0;
    (void)rf_consumer_manifest(consumer, nullptr, 0, &needed);
    std::string m(needed, '\0');
    if (rf_consumer_manifest(consumer, m.data(), m.size(), &needed) != RF_OK) return kExitUsage;
    m.back() = '\n';
    std::fwrite(m.data(), 1, m.size(), stdout);
    return kExitOk;
  }
  if (cmd == "validate" && argc == 3) {
    std::string payload;
    if (!ReadPayloadFile(argv[2], &payload)) return kExitUsage;
    char msg[2048];
    rf_status s = rf_consumer_validate(consumer, reinterpret_cast<const uint8_t*>(payload.data()),
                                       payload.size(), msg, sizeof msg);
    if (s != RF_OK) {
      std::fprintf(stderr, "rejected: %s: %s: %s\n", argv[2], rf_status_name(s), msg);
      return kExitRejected;
    }
    std::fprintf(stderr, "valid: %s\n", argv[2]);
    return kExitOk;
  }
  if (cmd == "load" && argc == 3) {
    std::string payload;
    if (!ReadPayloadFile(argv[2], &payload)) return kExitUsage;
    return LoadAndReport(consumer, payload, argv[2]) ? kExitOk : kExitRejected;
  }
  if (cmd == "replay" && argc == 4) {
    std::string payload;
    if (!ReadPayloadFile(argv[2], &payload)) return kExitUsage;
    return Replay(consumer, payload, argv[2], argv[3]);
  }
  return Usage(prog);
}
