// Column encodings shared by the SQL stores (SqliteStore, PgStore), so that both store and decode
// a record the same way: publisher keys as a JSON array text, and a release row's state and plan.
#ifndef RINGFENCE_STORE_ROW_CODEC_H_
#define RINGFENCE_STORE_ROW_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/store.h"

namespace rf::store {

// Public key files are single-line JSON objects; a policy's list is stored as a JSON array text.
std::string EncodePublisherKeys(const std::vector<std::string>& keys);
// DataLoss if `text` is not a JSON array of strings.
Result<std::vector<std::string>> DecodePublisherKeys(std::string_view text);

// Completes a release read from a row: decodes `state_json` (release_codec.h) into r->state and
// re-parses r->plan_yaml into r->plan. REQUIRES: r->release_id and r->plan_yaml are set.
// DataLoss naming the release if either does not decode.
Status DecodeReleaseColumns(std::string_view state_json, admission::ReleaseRecord* r);

}  // namespace rf::store

#endif  // RINGFENCE_STORE_ROW_CODEC_H_
