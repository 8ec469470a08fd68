// EventLog: the server's structured log on stderr (docs/server.md "Log"), one JSON object per line:
//
//   {"ts":"2026-12-06T07:40:01.123456Z","level":"warn","event":"http","method":"POST",
//    "path":"/v1/releases/r-1/approvals","status":403,"micros":812,"error":"forbidden_role",...}
//
//   EventLog log(std::cerr, *env.clock, LogLevel::kInfo);
//   log.Write(LogLevel::kInfo, "audit", {{"actor", "alice"}, {"action", "release.create"}});
//
// Levels: debug < info < warn < error; lines below the configured level are dropped before they
// are formatted. Field values are strings or integers; keys are the caller's literals. Thread-safe:
// each line is written whole under a mutex.
#ifndef RINGFENCE_SERVER_EVENT_LOG_H_
#define RINGFENCE_SERVER_EVENT_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include "core/status.h"
#include "platform/env.h"

namespace rf::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn" or "error".
Result<LogLevel> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(LogLevel level);

struct LogField {
  std::string_view key;
  std::variant<std::string_view, int64_t> value;
};

class EventLog {
 public:
  EventLog(std::ostream& out, Clock& clock, LogLevel min_level)
      : out_(out), clock_(clock), min_level_(min_level) {}
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  bool Enabled(LogLevel level) const { return level >= min_level_; }
  void Write(LogLevel level, std::string_view event, std::initializer_list<LogField> fields);

 private:
  std::mutex mu_;
  std::ostream& out_;  // GUARDED_BY(mu_)
  Clock& clock_;
  const LogLevel min_level_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_EVENT_LOG_H_
