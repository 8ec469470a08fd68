#include "server/data_dir.h"

#include <vector>

#include "core/bundle.h"

namespace rf::server {
namespace {

constexpr int kDirMode = 0700;
constexpr int kFileMode = 0600;
constexpr size_t kSecretFileMax = 4096;

// Everything under `dir` to 0700 (directories) and 0600 (files), recursively.
Status Tighten(Env env, const std::string& dir, std::ostream* log, int depth) {
  if (depth > 8) return Status::Ok();  // the layout is shallow; never follow a loop
  RF_ASSIGN_OR_RETURN(FileInfo self, env.fs->Stat(dir));
  if (self.mode != kDirMode) {
    RF_RETURN_IF_ERROR(env.fs->Chmod(dir, kDirMode));
    if (log) *log << "ringfence server: " << dir << ": mode tightened to 0700\n";
  }
  RF_ASSIGN_OR_RETURN(std::vector<std::string> names, env.fs->ListDir(dir));
  for (const std::string& name : names) {
    const std::string p = dir + "/" + name;
    auto info = env.fs->Stat(p);
    if (!info.ok()) {
      if (info.status().code() == StatusCode::kNotFound) continue;  // removed meanwhile
      return info.status();
    }
    if (info->is_dir) {
      RF_RETURN_IF_ERROR(Tighten(env, p, log, depth + 1));
    } else if (info->mode != kFileMode) {
      RF_RETURN_IF_ERROR(env.fs->Chmod(p, kFileMode));
      if (log) *log << "ringfence server: " << p << ": mode tightened to 0600\n";
    }
  }
  return Status::Ok();
}

}  // namespace

std::string ServerSecrets::TrustJson() const {
  std::string pub = crypto::EncodePublicKeyFile(release_key.public_key());
  while (!pub.empty() && pub.back() == '\n') pub.pop_back();
  std::string trust = "{\"release_keys\":[";
  AppendJsonString(&trust, pub);
  trust += "]}";
  return trust;
}

Result<DataDir> DataDir::Open(Env env, const std::string& path, std::ostream* log) {
  if (path.empty()) return Status::InvalidArgument("--data is required");
  RF_RETURN_IF_ERROR(env.fs->CreateDirs(path, kDirMode));
  auto lock = env.fs->LockFile(path + "/lock");
  if (!lock.ok()) {
    return Status::FailedPrecondition("data directory " + path +
                                      " is in use: " + lock.status().message());
  }
  RF_RETURN_IF_ERROR(Tighten(env, path, log, 0));
  return DataDir(env, path, std::move(*lock));
}

Status DataDir::WriteNewToken(const std::string& name) {
  return env_.fs->WriteFileAtomic(path_ + "/" + name, crypto::SecretSource::BearerToken() + "\n",
                                  kFileMode);
}

Status DataDir::WriteNewReleaseKey() {
  const crypto::SigningKey key = crypto::SigningKey::Generate();
  return env_.fs->WriteFileAtomic(path_ + "/release.key", crypto::EncodePrivateKeyFile(key),
                                  kFileMode);
}

Result<std::string> DataDir::ReadToken(const std::string& name) {
  const std::string p = path_ + "/" + name;
  RF_ASSIGN_OR_RETURN(std::string text, env_.fs->ReadFile(p, kSecretFileMax));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.size() < 16) return Status::DataLoss(p + ": token shorter than 16 characters");
  return text;
}

Result<ServerSecrets> DataDir::EnsureSecrets() {
  for (const char* name : {"admin.token", "agent.token"}) {
    if (!env_.fs->Exists(path_ + "/" + name)) RF_RETURN_IF_ERROR(WriteNewToken(name));
  }
  if (!env_.fs->Exists(path_ + "/release.key")) RF_RETURN_IF_ERROR(WriteNewReleaseKey());
  RF_ASSIGN_OR_RETURN(std::string admin, ReadToken("admin.token"));
  RF_ASSIGN_OR_RETURN(std::string agent, ReadToken("agent.token"));
  const std::string key_path = path_ + "/release.key";
  RF_ASSIGN_OR_RETURN(std::string key_text, env_.fs->ReadFile(key_path, kSecretFileMax));
  auto key = crypto::DecodePrivateKeyFile(key_text);
  if (!key.ok()) return key.status().WithPrefix(key_path);
  return ServerSecrets{std::move(admin), std::move(agent), *key};
}

Result<ServerSecrets> DataDir::RotateSecrets(const RotateOptions& options) {
  if (options.admin_token) RF_RETURN_IF_ERROR(WriteNewToken("admin.token"));
  if (options.agent_token) RF_RETURN_IF_ERROR(WriteNewToken("agent.token"));
  if (options.release_key) RF_RETURN_IF_ERROR(WriteNewReleaseKey());
  return EnsureSecrets();
}

}  // namespace rf::server
