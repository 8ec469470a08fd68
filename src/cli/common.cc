#include "cli/common.h"

#include <cstdio>
#include <iostream>

#include "crypto/dsse.h"
#include "protocol/identifiers.h"

namespace rf::cli {

Result<std::string> ReadInput(Env env, const std::string& path) {
  return env.fs->ReadFile(path, kMaxInputFileBytes);
}

Result<crypto::SigningKey> LoadPrivateKey(Env env, const std::string& path) {
  RF_ASSIGN_OR_RETURN(FileInfo info, env.fs->Stat(path));
  if ((info.mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", info.mode);
    return Status::PermissionDenied(path + ": private key is accessible by others (mode " + mode +
                                    "); refusing to use it: run chmod 600 " + path);
  }
  RF_ASSIGN_OR_RETURN(std::string text, env.fs->ReadFile(path, 1 << 16));
  auto key = crypto::DecodePrivateKeyFile(text);
  if (!key.ok()) return key.status().WithPrefix(path);
  return key;
}

Result<ContentType> LoadContentType(Env env, const std::string& path) {
  RF_ASSIGN_OR_RETURN(std::string text, ReadInput(env, path));
  return ParseContentType(text, path);
}

Result<LoadedBundle> LoadBundle(Env env, const std::string& path, const ContentType& type) {
  RF_ASSIGN_OR_RETURN(std::string text, ReadInput(env, path));
  size_t i = text.find_first_not_of(" \t\r\n");
  LoadedBundle out;
  if (i != std::string::npos && text[i] == '{') {
    auto env_or = crypto::ParseEnvelope(text);
    if (!env_or.ok()) return env_or.status().WithPrefix(path);
    if (env_or->payload_type != crypto::kBundlePayloadType) {
      return Status::InvalidArgument(path + ": envelope payloadType is '" + env_or->payload_type +
                                     "', expected '" + std::string(crypto::kBundlePayloadType) + "'");
    }
    auto b = DecodeBundlePayload(env_or->payload, type, &out.findings);
    if (!b.ok()) return b.status().WithPrefix(path);
    out.bundle = std::move(*b);
    out.payload = std::move(env_or->payload);
    out.built = true;
  } else {
    RF_ASSIGN_OR_RETURN(out.bundle, DecodeBundleSource(text, path, type, &out.findings));
    out.payload = EncodeCanonicalPayload(out.bundle, type);
  }
  // The server refuses such a channel at upload (admission) and devices in directives: a check that
  // passed it would promise what the upload then refuses.
  RF_RETURN_IF_ERROR(protocol::CheckChannel(out.bundle.channel, path + ": channel"));
  return out;
}

int UsageError(const Status& status) {
  std::cerr << "ringfence: error: " << status.message() << "\n";
  return kExitUnusable;
}

}  // namespace rf::cli
