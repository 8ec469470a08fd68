#include "platform/sim_env.h"

namespace rf {

uint64_t Random::Below(uint64_t n) {
  // Lemire's multiply-shift with rejection: unbiased.
  uint64_t x = Next64();
  __uint128_t m = static_cast<__uint128_t>(x) * n;
  uint64_t l = static_cast<uint64_t>(m);
  if (l < n) {
    uint64_t t = -n % n;
    while (l < t) {
      x = Next64();
      m = static_cast<__uint128_t>(x) * n;
      l = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

SeededRandom::SeededRandom(uint64_t seed) {
  for (auto& s : s_) {
    seed += 0x9e3779b97f4a7c15ULL;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s = z ^ (z >> 31);
  }
}

static inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t SeededRandom::Next64() {
  const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = Rotl(s_[3], 45);
  return result;
}

Result<std::string> MemFilesystem::ReadFile(const std::string& path, size_t max_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(path + ": no such file");
  if (it->second.size() > max_bytes) {
    return Status::ResourceExhausted(path + ": file is larger than " + std::to_string(max_bytes) +
                                     " bytes");
  }
  return it->second;
}

Status MemFilesystem::WriteFileAtomic(const std::string& path, std::string_view data, int mode) {
  std::lock_guard<std::mutex> l(mu_);
  files_[path] = std::string(data);
  file_modes_[path] = mode;
  return Status::Ok();
}

Status MemFilesystem::AppendDurable(const std::string& path, std::string_view data, int) {
  std::lock_guard<std::mutex> l(mu_);
  files_[path].append(data);
  return Status::Ok();
}

bool MemFilesystem::Exists(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  return files_.count(path) > 0 || dirs_.count(path) > 0;
}

Status MemFilesystem::CreateDirs(const std::string& path, int mode) {
  std::lock_guard<std::mutex> l(mu_);
  dirs_[path] = mode;
  return Status::Ok();
}

Result<std::vector<std::string>> MemFilesystem::ListDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  std::string prefix = path.empty() || path.back() == '/' ? path : path + "/";
  for (const auto& [name, _] : files_) {
    if (name.compare(0, prefix.size(), prefix) == 0 &&
        name.find('/', prefix.size()) == std::string::npos) {
      out.push_back(name.substr(prefix.size()));
    }
  }
  return out;
}

Status MemFilesystem::Remove(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (files_.erase(path) == 0) return Status::NotFound(path + ": no such file");
  file_modes_.erase(path);
  return Status::Ok();
}

Result<FileInfo> MemFilesystem::Stat(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  FileInfo info;
  if (auto d = dirs_.find(path); d != dirs_.end()) {
    info.is_dir = true;
    info.mode = d->second;
    return info;
  }
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(path + ": no such file");
  auto m = file_modes_.find(path);
  info.mode = m == file_modes_.end() ? 0644 : m->second;
  info.size = it->second.size();
  return info;
}

Status MemFilesystem::Chmod(const std::string& path, int mode) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto d = dirs_.find(path); d != dirs_.end()) {
    d->second = mode;
    return Status::Ok();
  }
  if (!files_.count(path)) return Status::NotFound(path + ": no such file");
  file_modes_[path] = mode;
  return Status::Ok();
}

class MemFilesystem::MemFileLock final : public FileLock {
 public:
  MemFileLock(MemFilesystem* fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  ~MemFileLock() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    fs_->locked_.erase(path_);
  }

 private:
  MemFilesystem* fs_;
  std::string path_;
};

Result<std::unique_ptr<FileLock>> MemFilesystem::LockFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (!locked_.insert(path).second) {
    return Status::FailedPrecondition(path + ": locked by another process (pid this process)");
  }
  files_.emplace(path, std::string());
  file_modes_.emplace(path, 0600);
  return std::unique_ptr<FileLock>(new MemFileLock(this, path));
}

}  // namespace rf
