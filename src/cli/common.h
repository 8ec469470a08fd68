// Helpers shared by the CLI's subcommands: file loading through the Env, bundle loading in either
// form, exit codes.
#ifndef RINGFENCE_CLI_COMMON_H_
#define RINGFENCE_CLI_COMMON_H_

#include <string>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"
#include "core/status.h"
#include "crypto/crypto.h"
#include "platform/env.h"

namespace rf::cli {

inline constexpr int kExitOk = 0;        // success, accepted
inline constexpr int kExitRejected = 1;  // content rejected / verification failed
inline constexpr int kExitUnusable = 2;  // unusable input or usage error

inline constexpr size_t kMaxInputFileBytes = 512u << 20;

Result<std::string> ReadInput(Env env, const std::string& path);
Result<ContentType> LoadContentType(Env env, const std::string& path);
// A private key file (docs/bundle-format.md). Refused, as ssh refuses, when its group or others may
// read or write it: PermissionDenied naming the file, its mode and the fix (chmod 600).
Result<crypto::SigningKey> LoadPrivateKey(Env env, const std::string& path);

// A bundle loaded from a source YAML or a built envelope.
struct LoadedBundle {
  Bundle bundle;
  std::string payload;             // canonical payload bytes
  std::vector<Finding> findings;   // item-level decode findings
  bool built = false;              // came from a DSSE envelope
};

// Detects the form by content: a JSON object is an envelope, anything else bundle source YAML.
// A channel outside the identifier rule (protocol::CheckChannel) is refused, naming the file.
Result<LoadedBundle> LoadBundle(Env env, const std::string& path, const ContentType& type);

// Prints "ringfence: error: <message>" to stderr and returns kExitUnusable.
int UsageError(const Status& status);

}  // namespace rf::cli

#endif  // RINGFENCE_CLI_COMMON_H_
