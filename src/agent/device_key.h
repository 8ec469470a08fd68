// The device's own Ed25519 key (docs/protocol.md "Device credentials", docs/agent.md "State
// directory"): STATE/device.key, a private key file (crypto::EncodePrivateKeyFile), mode 0600.
//
// Created from libsodium's CSPRNG on the agent's first start, durably (WriteFileAtomic: temp,
// fsync, rename, fsync dir) BEFORE the first enrollment sends its public key, so a kill -9 at any
// point either leaves no key (nothing was sent) or the key the server may have registered (the
// restarted agent re-enrolls with it: idempotent). Never regenerated over an existing file: a
// corrupt file is DataLoss (a new key would be refused by the server until an operator resets
// the device).
#ifndef RINGFENCE_AGENT_DEVICE_KEY_H_
#define RINGFENCE_AGENT_DEVICE_KEY_H_

#include <string>

#include "agent/fault_points.h"
#include "core/status.h"
#include "crypto/crypto.h"
#include "platform/env.h"

namespace rf::agent {

// Loads `path`, or creates it if absent. `faults` may be null; fault point "device_key.saved"
// follows a creation.
Result<crypto::SigningKey> LoadOrCreateDeviceKey(Filesystem* fs, const std::string& path,
                                                 FaultPoints* faults);

}  // namespace rf::agent

#endif  // RINGFENCE_AGENT_DEVICE_KEY_H_
