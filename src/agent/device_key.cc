#include "agent/device_key.h"

namespace rf::agent {

Result<crypto::SigningKey> LoadOrCreateDeviceKey(Filesystem* fs, const std::string& path,
                                                 FaultPoints* faults) {
  if (!fs->Exists(path)) {
    const crypto::SigningKey key = crypto::SigningKey::Generate();
    RF_RETURN_IF_ERROR(fs->WriteFileAtomic(path, crypto::EncodePrivateKeyFile(key), 0600));
    if (faults) faults->Hit("device_key.saved");
  }
  RF_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path, 4096));
  auto key = crypto::DecodePrivateKeyFile(text);
  if (!key.ok()) {
    return Status::DataLoss(path + ": the device key is unreadable (" + key.status().message() +
                            "); remove it and have an operator run `ringfence fleet reset DEVICE` "
                            "so that the device can enroll with a new key");
  }
  return key;
}

}  // namespace rf::agent
