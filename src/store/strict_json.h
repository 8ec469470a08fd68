// Strict decoding of JSON objects (Boost.JSON): every key must be read exactly as declared, and
// Finish() refuses keys nobody read. Used for stored records (errors are DataLoss) and API bodies
// (errors are InvalidArgument); each error names the key.
//
//   RF_ASSIGN_OR_RETURN(boost::json::object o, ParseJsonObject(text, "body", StatusCode::kInvalidArgument));
//   StrictObject r(o, "body", StatusCode::kInvalidArgument);
//   std::string name; int64_t k = 0;
//   RF_RETURN_IF_ERROR(r.String("name", &name));
//   RF_RETURN_IF_ERROR(r.OptInt("approvals", &k));
//   RF_RETURN_IF_ERROR(r.Finish());
#ifndef RINGFENCE_STORE_STRICT_JSON_H_
#define RINGFENCE_STORE_STRICT_JSON_H_

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "core/status.h"

namespace rf::store {

// Parses `text` as one JSON object (duplicate keys refused). Errors: "<where>: ..." with `code`.
Result<boost::json::object> ParseJsonObject(std::string_view text, std::string_view where,
                                            StatusCode code);

class StrictObject {
 public:
  // `o` must outlive this reader. `where` prefixes messages ("body", "release r-7 state").
  StrictObject(const boost::json::object& o, std::string where, StatusCode code);

  // Required keys: missing or mistyped is an error. Opt*: absent leaves *out unchanged (and sets
  // *present = false when given); JSON null is a type error.
  Status String(std::string_view key, std::string* out);
  Status OptString(std::string_view key, std::string* out, bool* present = nullptr);
  Status Int(std::string_view key, int64_t* out);
  Status OptInt(std::string_view key, int64_t* out, bool* present = nullptr);
  Status Bool(std::string_view key, bool* out);
  Status OptBool(std::string_view key, bool* out, bool* present = nullptr);
  Status Double(std::string_view key, double* out);
  Status StringArray(std::string_view key, std::vector<std::string>* out);
  Status OptStringArray(std::string_view key, std::vector<std::string>* out,
                        bool* present = nullptr);
  Status Array(std::string_view key, const boost::json::array** out);
  // Error for every key not read (the first, by name).
  Status Finish() const;

  Status Error(std::string_view key, std::string_view what) const;

 private:
  const boost::json::value* Find(std::string_view key);
  const boost::json::object& o_;
  std::string where_;
  StatusCode code_;
  std::set<std::string, std::less<>> seen_;
};

}  // namespace rf::store

#endif  // RINGFENCE_STORE_STRICT_JSON_H_
