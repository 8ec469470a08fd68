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

Status MemFilesystem::WriteFileAtomic(const std::string& path, std::string_view data, int) {
  std::lock_guard<std::mutex> l(mu_);
  files_[path] = std::string(data);
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
  return Status::Ok();
}

}  // namespace rf
