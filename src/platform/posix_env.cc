// The real Env. This file (and the rest of src/platform) is the only place that reads clocks,
// draws OS randomness or touches files directly.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "platform/env.h"
#include "platform/sim_env.h"

namespace rf {
namespace {

Status ErrnoStatus(const std::string& what, int err) {
  std::string m = what + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(m);
  if (err == EACCES || err == EPERM) return Status::PermissionDenied(m);
  return Status::Unavailable(m);
}

class PosixClock final : public Clock {
 public:
  int64_t NowUnixMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A SeededRandom seeded from /dev/urandom, behind a mutex so that it is thread-safe.
class OsRandom final : public Random {
 public:
  OsRandom() : inner_(OsSeed()) {}
  uint64_t Next64() override {
    std::lock_guard<std::mutex> l(mu_);
    return inner_.Next64();
  }

 private:
  static uint64_t OsSeed() {
    uint64_t seed = 0;
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (::read(fd, &seed, sizeof(seed)) != static_cast<ssize_t>(sizeof(seed))) seed = 0;
      ::close(fd);
    }
    if (seed == 0) {
      seed = static_cast<uint64_t>(
          std::chrono::steady_clock::now().time_since_epoch().count()) ^ static_cast<uint64_t>(getpid());
    }
    return seed;
  }
  std::mutex mu_;
  SeededRandom inner_;
};

std::string DirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class PosixFilesystem final : public Filesystem {
 public:
  Result<std::string> ReadFile(const std::string& path, size_t max_bytes) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return ErrnoStatus(path, e);
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(path + ": is a directory");
    }
    std::string out;
    if (st.st_size > 0) out.reserve(std::min<size_t>(static_cast<size_t>(st.st_size), max_bytes + 1));
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        return ErrnoStatus(path, e);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max_bytes) {
        ::close(fd);
        return Status::ResourceExhausted(path + ": file is larger than the limit of " +
                                         std::to_string(max_bytes) + " bytes");
      }
    }
    ::close(fd);
    return out;
  }

  Status WriteFileAtomic(const std::string& path, std::string_view data, int mode) override {
    const std::string tmp = path + ".tmp." + std::to_string(getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return ErrnoStatus(tmp, errno);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return ErrnoStatus(tmp, e);
      }
      off += static_cast<size_t>(n);
    }
    if (::fchmod(fd, static_cast<mode_t>(mode)) != 0 || ::fsync(fd) != 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(tmp, e);
    }
    if (::close(fd) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus(tmp, e);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus(path, e);
    }
    return SyncDir(DirName(path));
  }

  Status AppendDurable(const std::string& path, std::string_view data, int mode) override {
    const bool created = !Exists(path);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
    if (fd < 0) return ErrnoStatus(path, errno);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        return ErrnoStatus(path, e);
      }
      off += static_cast<size_t>(n);
    }
    if (::fdatasync(fd) != 0) {
      int e = errno;
      ::close(fd);
      return ErrnoStatus(path, e);
    }
    if (::close(fd) != 0) return ErrnoStatus(path, errno);
    return created ? SyncDir(DirName(path)) : Status::Ok();
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Status CreateDirs(const std::string& path, int mode) override {
    if (path.empty()) return Status::InvalidArgument("empty directory path");
    std::string cur;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      cur = path.substr(0, pos);
      if (cur.empty()) continue;
      if (::mkdir(cur.c_str(), pos == std::string::npos ? mode : 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus(cur, errno);
      }
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (!d) return ErrnoStatus(path, errno);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(std::move(n));
    }
    ::closedir(d);
    return out;
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(path, errno);
    return Status::Ok();
  }

  Result<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
    FileInfo info;
    info.is_dir = S_ISDIR(st.st_mode);
    info.mode = static_cast<int>(st.st_mode & 07777);
    info.size = static_cast<uint64_t>(st.st_size);
    return info;
  }

  Status Chmod(const std::string& path, int mode) override {
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) return ErrnoStatus(path, errno);
    return Status::Ok();
  }

  // flock(2) locks belong to the open file description, so a second LockFile on the same path
  // fails in this process too, and the kernel drops the lock when the process dies.
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus(path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      char buf[32] = {};
      const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
      ::close(fd);
      if (e != EWOULDBLOCK) return ErrnoStatus(path, e);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return Status::FailedPrecondition(path + ": locked by another process (pid " + holder + ")");
    }
    const std::string pid = std::to_string(getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      const int e = errno;
      ::close(fd);
      return ErrnoStatus(path, e);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }

 private:
  class PosixFileLock final : public FileLock {
   public:
    explicit PosixFileLock(int fd) : fd_(fd) {}
    ~PosixFileLock() override { ::close(fd_); }

   private:
    int fd_;
  };

  static Status SyncDir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(dir, errno);
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(dir, e);
    return Status::Ok();
  }
};

}  // namespace

Env PosixEnv() {
  static PosixClock clock;
  static PosixFilesystem fs;
  static OsRandom random;
  return Env{&clock, &fs, &random};
}

}  // namespace rf
