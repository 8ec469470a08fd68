// CredentialJournal: device credentials in an append-only journal file in the data directory
// (`DATA/credentials.log`, docs/server.md "Data directory"); the CredentialStore of a server on
// SQLite, the only writer of its data directory.
//
// Format: a header line "ringfence-credentials v1", then one line per change:
//   K DEVICE PUBLIC_KEY_HEX EPOCH TIME_S     a key registered (state active)
//   V DEVICE TIME_S ACTOR                    revoked
//   X DEVICE TIME_S ACTOR                    reset
// Every change is appended with Filesystem::AppendDurable (fdatasync) before Change returns.
// Load replays the journal, drops a torn last line (an append never acknowledged) and rewrites
// the journal with the live state when it was torn or holds far more lines than devices.
//
// Thread-compatible: the caller serializes Change calls (DeviceCredentials does).
#ifndef RINGFENCE_SERVER_CREDENTIAL_JOURNAL_H_
#define RINGFENCE_SERVER_CREDENTIAL_JOURNAL_H_

#include <string>

#include "platform/env.h"
#include "server/credential_store.h"

namespace rf::server {

class CredentialJournal final : public CredentialStore {
 public:
  // `path` empty: in memory only (tests); nothing is written. `fs` must outlive the journal.
  CredentialJournal(Filesystem* fs, std::string path);

  Status Load(const Sink& sink) override;
  Result<std::optional<CredentialInfo>> Change(std::string_view device_id,
                                               const std::optional<CredentialInfo>& cached,
                                               std::string_view actor, int64_t now_s,
                                               const Decide& decide) override;
  bool shared() const override { return false; }
  Status Follow(int, const Sink&) override { return Status::Ok(); }

 private:
  Status Append(const std::string& lines);

  Filesystem* fs_;
  const std::string path_;
};

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CREDENTIAL_JOURNAL_H_
