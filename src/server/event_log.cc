#include "server/event_log.h"

#include <ctime>

#include "core/bundle.h"

namespace rf::server {
namespace {

// RFC 3339 UTC with microseconds.
std::string Timestamp(int64_t unix_micros) {
  const time_t secs = static_cast<time_t>(unix_micros / 1'000'000);
  const int64_t micros = unix_micros % 1'000'000;
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros < 0 ? 0 : micros));
  return buf;
}

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return Status::InvalidArgument("log level '" + std::string(name) +
                                 "' is not one of debug, info, warn, error");
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "error";
}

void EventLog::Write(LogLevel level, std::string_view event,
                     std::initializer_list<LogField> fields) {
  if (!Enabled(level)) return;
  std::string line = "{\"ts\":\"" + Timestamp(clock_.NowUnixMicros()) + "\",\"level\":\"";
  line += LogLevelName(level);
  line += "\",\"event\":";
  AppendJsonString(&line, event);
  for (const LogField& f : fields) {
    line += ',';
    AppendJsonString(&line, f.key);
    line += ':';
    if (const auto* s = std::get_if<std::string_view>(&f.value)) {
      AppendJsonString(&line, *s);
    } else {
      line += std::to_string(std::get<int64_t>(f.value));
    }
  }
  line += "}\n";
  std::lock_guard<std::mutex> l(mu_);
  out_ << line << std::flush;
}

}  // namespace rf::server
