// Test support for tests/contract_test.cc: docs/api/openapi.yaml loaded (YAML -> JSON through
// src/format/yaml.h) and a validator for the JSON-schema subset the spec uses, so that a test can
// check a real response against the operation it called.
//
//   auto spec = OpenApiSpec::Load(RF_SOURCE_DIR "/docs/api/openapi.yaml");   // Result<unique_ptr>
//   std::vector<std::string> errors = (*spec)->CheckResponse(*(*spec)->Find("getWhoami"), 200, body);
//
// Schema keywords understood: $ref (local "#/..."), type (object, array, string, integer, number,
// boolean), nullable, enum, required, properties, additionalProperties (bool or schema), items,
// allOf, oneOf (exactly one branch must match). Other keywords (pattern, minimum, description,
// ...) are ignored: they constrain requests, which the server checks itself.
//
// Stricter than JSON Schema on purpose: an object may carry only properties that its schema
// declares (in `properties`, across `allOf` branches and `$ref`s) unless the schema says
// `additionalProperties`, so an undocumented response field is an error.
//
// Not thread-safe to load; const methods may be called from any thread.
#ifndef RINGFENCE_TESTS_OPENAPI_CONTRACT_H_
#define RINGFENCE_TESTS_OPENAPI_CONTRACT_H_

#include <boost/json.hpp>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace rf::contract {

namespace json = boost::json;

// A YAML document as JSON: mappings -> objects, sequences -> arrays, plain scalars resolved by
// the YAML 1.2 core schema (null, bool, int, float), quoted scalars -> strings.
Result<json::value> YamlToJson(std::string_view text, std::string_view filename);

struct Operation {
  std::string id;              // operationId
  std::string method;          // "GET", "POST", ...
  std::string path;            // template, e.g. "/v1/releases/{id}"
  const json::object* spec;    // the operation object (owned by the OpenApiSpec)
};

class OpenApiSpec {
 public:
  static Result<std::unique_ptr<OpenApiSpec>> Load(const std::string& path);
  OpenApiSpec(const OpenApiSpec&) = delete;  // operations point into the document
  OpenApiSpec& operator=(const OpenApiSpec&) = delete;

  const std::vector<Operation>& operations() const { return operations_; }
  // The operation with this operationId, or nullptr.
  const Operation* Find(std::string_view operation_id) const;
  // Upper-case methods the spec lists for `path_template`.
  std::set<std::string> Methods(std::string_view path_template) const;

  // Problems with a response of `status` and JSON `body` to `op` (empty: conforms): the status
  // must be listed (exactly, or by its "4XX"/"5XX" range, or `default`), and the body must match
  // the response's application/json schema.
  std::vector<std::string> CheckResponse(const Operation& op, int status,
                                         std::string_view body) const;
  // Problems with `value` against `schema` (both in this spec; `where` prefixes messages).
  std::vector<std::string> Validate(const json::value& schema, const json::value& value,
                                    const std::string& where) const;

 private:
  OpenApiSpec() = default;
  // Follows $ref chains (and response/schema references); nullptr if dangling.
  const json::object* Resolve(const json::value& v) const;
  void ValidateInto(const json::object& schema, const json::value& value, const std::string& where,
                    std::vector<std::string>* errors) const;
  // `schema` and, recursively, every allOf branch of it (resolved).
  void Flatten(const json::object& schema, std::vector<const json::object*>* out) const;

  json::value doc_;
  std::vector<Operation> operations_;
};

}  // namespace rf::contract

#endif  // RINGFENCE_TESTS_OPENAPI_CONTRACT_H_
