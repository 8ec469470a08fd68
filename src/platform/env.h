// The Env seam: the only way ringfence code reaches time, randomness and files.
//
// Production uses PosixEnv(); the simulator and tests use SimulatedClock, SeededRandom and
// MemFilesystem (src/platform/sim_env.h). No other code calls std::chrono::*_clock::now(), rand()
// or the file APIs directly, so every decision can be replayed deterministically.
#ifndef RINGFENCE_PLATFORM_ENV_H_
#define RINGFENCE_PLATFORM_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace rf {

// Time. Wall time may jump (NTP); monotonic time never goes backwards.
// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowUnixMicros() = 0;
  virtual int64_t MonotonicMicros() = 0;
};

// A source of uniformly distributed 64-bit values. Not thread-safe unless stated by the subclass.
class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t Next64() = 0;
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next64() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n);
};

// A held file lock (Filesystem::LockFile); destroying it releases the lock.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

struct FileInfo {
  bool is_dir = false;
  int mode = 0;  // permission bits (st_mode & 07777)
  uint64_t size = 0;
};

// Files. Paths are plain POSIX paths. Thread-safe.
class Filesystem {
 public:
  virtual ~Filesystem() = default;
  // Reads the whole file; fails with NotFound, or ResourceExhausted when it exceeds max_bytes.
  virtual Result<std::string> ReadFile(const std::string& path, size_t max_bytes) = 0;
  // Durably replaces `path` with `data`: temp file in the same directory, fsync, rename, fsync dir.
  // After a crash at any point, `path` holds either the old or the new content, never a mix.
  virtual Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) = 0;
  // Durably appends `data` to `path` (created with `mode` if absent): write, fdatasync, and an
  // fsync of the directory when the file was created. After a crash the file holds everything
  // appended by calls that returned OK, possibly followed by a torn prefix of the one in flight;
  // readers of an append-only file must detect (and callers repair) such a tail.
  virtual Status AppendDurable(const std::string& path, std::string_view data, int mode) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Creates the directory and missing parents (mode applies to the last component).
  virtual Status CreateDirs(const std::string& path, int mode) = 0;
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  virtual Status Chmod(const std::string& path, int mode) = 0;
  // An exclusive lock on `path` (created 0600 if missing), held until the returned object is
  // destroyed or the process ends in any way (kill -9 included: the OS drops it). Any other holder,
  // in this process or another, makes it fail with FailedPrecondition naming the holder's pid.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
};

// The bundle of dependencies handed to components that need them.
struct Env {
  Clock* clock;
  Filesystem* fs;
  Random* random;
};

// The process-wide real environment (system clocks, POSIX files, a Random seeded from the OS).
Env PosixEnv();

}  // namespace rf

#endif  // RINGFENCE_PLATFORM_ENV_H_
