// Deterministic Env implementations for the simulator and tests.
#ifndef RINGFENCE_PLATFORM_SIM_ENV_H_
#define RINGFENCE_PLATFORM_SIM_ENV_H_

#include <map>
#include <set>
#include <mutex>

#include "platform/env.h"

namespace rf {

// A clock that moves only when told to. Wall and monotonic time advance together.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(int64_t start_unix_micros = 1'700'000'000'000'000) : now_(start_unix_micros) {}
  int64_t NowUnixMicros() override { return now_; }
  int64_t MonotonicMicros() override { return now_; }
  void AdvanceMicros(int64_t d) { now_ += d; }
  void SetUnixMicros(int64_t t) { now_ = t; }

 private:
  int64_t now_;
};

// xoshiro256** seeded through splitmix64: fast, good quality, reproducible from one seed.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  uint64_t Next64() override;

 private:
  uint64_t s_[4];
};

// Files held in memory. Thread-safe.
class MemFilesystem final : public Filesystem {
 public:
  Result<std::string> ReadFile(const std::string& path, size_t max_bytes) override;
  Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) override;
  Status AppendDurable(const std::string& path, std::string_view data, int mode) override;
  bool Exists(const std::string& path) override;
  Status CreateDirs(const std::string& path, int mode) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Result<FileInfo> Stat(const std::string& path) override;
  Status Chmod(const std::string& path, int mode) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

 private:
  class MemFileLock;
  std::mutex mu_;
  std::map<std::string, int> file_modes_;  // GUARDED_BY(mu_)
  std::set<std::string> locked_;           // GUARDED_BY(mu_)
  std::map<std::string, std::string> files_;  // GUARDED_BY(mu_)
  std::map<std::string, int> dirs_;           // GUARDED_BY(mu_)
};

}  // namespace rf

#endif  // RINGFENCE_PLATFORM_SIM_ENV_H_
