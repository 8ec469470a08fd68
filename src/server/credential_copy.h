// CopyCredentials: moves every device credential from one CredentialStore into another that holds
// none, e.g. a SQLite server's journal (`credentials.log`) into a PostgreSQL store's
// `device_credentials` (`ringfence server copy-store`, docs/deploy.md "Moving from SQLite to
// PostgreSQL"). Revocations and resets move with the keys: a revoked device stays revoked on the
// new store.
//
// Each credential is one Change of `to` (on PostgreSQL one transaction, recorded in the change
// history with `actor`), storing the source's key, epoch and state. A device that `to` already
// holds with exactly that key, epoch and state is left alone, so an interrupted copy can be run
// again and finishes the rest; a device `to` holds differently is FailedPrecondition naming it,
// and nothing more is copied. A target holding devices the source does not have is
// FailedPrecondition before anything is written (copy only into a new store).
#ifndef RINGFENCE_SERVER_CREDENTIAL_COPY_H_
#define RINGFENCE_SERVER_CREDENTIAL_COPY_H_

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "server/credential_store.h"

namespace rf::server {

struct CredentialCopyStats {
  int64_t active = 0;
  int64_t revoked = 0;
  int64_t reset = 0;
  int64_t already_there = 0;  // identical in the target (a copy run again)
};

[[nodiscard]] Result<CredentialCopyStats> CopyCredentials(CredentialStore& from,
                                                          CredentialStore& to,
                                                          std::string_view actor, int64_t now_s);

}  // namespace rf::server

#endif  // RINGFENCE_SERVER_CREDENTIAL_COPY_H_
