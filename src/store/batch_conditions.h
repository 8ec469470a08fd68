// The one definition of how a store judges a WriteBatch's conditions (store.h: expected_releases,
// fencing_epoch), shared by MemStore, SqliteStore and PgStore so the three refuse alike.
#ifndef RINGFENCE_STORE_BATCH_CONDITIONS_H_
#define RINGFENCE_STORE_BATCH_CONDITIONS_H_

#include <cstdint>
#include <optional>

#include "core/status.h"
#include "store/store.h"

namespace rf::store {

// OK if `stored` (the release's state in the store, nullopt if absent) is what `e` expects;
// otherwise Aborted naming the release and what changed.
Status CheckReleaseExpectation(const ReleaseExpectation& e,
                               const std::optional<rollout::ReleaseState>& stored);

// OK if a batch of `fencing_epoch` may commit while the controller lease's epoch is `current`
// (0 for a store without a lease): epoch 0 always may; otherwise FailedPrecondition ("fenced").
Status CheckFencingEpoch(int64_t fencing_epoch, int64_t current);

}  // namespace rf::store

#endif  // RINGFENCE_STORE_BATCH_CONDITIONS_H_
