// The ipc_rule template as this sensor build understands it: one table, used by the payload
// decoder, the interpreter, the event decoder and (through SuppliedInputs) the capability manifest.
// It mirrors samples/content/ipc_rule.type.yaml, schema version 3: 21 matcher fields.
#ifndef RINGFENCE_EXAMPLES_SENSOR_IPC_FIELDS_H_
#define RINGFENCE_EXAMPLES_SENSOR_IPC_FIELDS_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace sensor {

enum class MatchKind : uint8_t { kRegex, kGlob, kString, kEnum, kInt, kBool, kSha256, kIpv4Prefix };

struct IpcField {
  std::string_view name;
  MatchKind kind;
};

inline constexpr std::array<IpcField, 21> kIpcFields = {{
    {"pipe_name", MatchKind::kRegex},       {"image_path", MatchKind::kGlob},
    {"parent_image", MatchKind::kGlob},     {"command_line", MatchKind::kRegex},
    {"user_sid", MatchKind::kString},       {"integrity_level", MatchKind::kEnum},
    {"session_id", MatchKind::kInt},        {"access_mask", MatchKind::kInt},
    {"server_image", MatchKind::kGlob},     {"client_image", MatchKind::kGlob},
    {"is_remote", MatchKind::kBool},        {"signer", MatchKind::kString},
    {"image_sha256", MatchKind::kSha256},   {"parent_sha256", MatchKind::kSha256},
    {"token_elevation", MatchKind::kEnum},  {"logon_type", MatchKind::kInt},
    {"pipe_mode", MatchKind::kEnum},        {"max_instances", MatchKind::kInt},
    {"host_tag", MatchKind::kString},       {"src_prefix", MatchKind::kIpv4Prefix},
    {"peer_pipe_regex", MatchKind::kRegex},
}};

// How many fields the interpreter evaluates: every field of the template type.
inline constexpr int kTemplateFields = static_cast<int>(kIpcFields.size());
inline constexpr std::string_view kContentType = "ipc_rule";
inline constexpr int64_t kSchemaVersion = 3;
inline constexpr std::string_view kWildcard = "*";
// This build's preallocated limits, reported in the manifest.
inline constexpr int64_t kMaxRules = 5000;
inline constexpr int64_t kMaxPayloadBytes = 4 << 20;
inline constexpr size_t kMaxEventBytes = 64 << 10;

// Position of `name`, or -1.
constexpr int FieldPosition(std::string_view name) {
  for (int i = 0; i < kTemplateFields; ++i) {
    if (kIpcFields[static_cast<size_t>(i)].name == name) return i;
  }
  return -1;
}

}  // namespace sensor

#endif  // RINGFENCE_EXAMPLES_SENSOR_IPC_FIELDS_H_
