#include "openapi_contract.h"

#include <algorithm>
#include <cmath>

#include "format/yaml.h"
#include "platform/env.h"

namespace rf::contract {
namespace {

json::value ScalarToJson(yaml::NodeRef n) {
  if (!n.IsPlain()) return json::string(n.Text());
  if (n.IsNull()) return nullptr;
  if (auto b = n.AsBool()) return *b;
  if (auto i = n.AsInt()) return *i;
  if (auto d = n.AsDouble()) return *d;
  return json::string(n.Text());
}

json::value NodeToJson(yaml::NodeRef n) {
  switch (n.kind()) {
    case yaml::Kind::kScalar:
      return ScalarToJson(n);
    case yaml::Kind::kSequence: {
      json::array a;
      n.ForEachItem([&](yaml::NodeRef item) { a.push_back(NodeToJson(item)); });
      return a;
    }
    case yaml::Kind::kMapping: {
      json::object o;
      n.ForEachEntry([&](yaml::NodeRef key, yaml::NodeRef value) { o[key.Text()] = NodeToJson(value); });
      return o;
    }
  }
  return nullptr;
}

const json::object* Obj(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool IsInteger(const json::value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  return v.is_double() && std::floor(v.as_double()) == v.as_double();
}

bool HasType(const json::value& v, std::string_view type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_bool();
  if (type == "integer") return IsInteger(v);
  if (type == "number") return v.is_number();
  return false;
}

constexpr std::string_view kMethods[] = {"get", "put", "post", "delete", "patch", "head", "options"};

}  // namespace

Result<json::value> YamlToJson(std::string_view text, std::string_view filename) {
  RF_ASSIGN_OR_RETURN(yaml::Document doc, yaml::Parse(text, filename));
  if (!doc.root()) return Status::InvalidArgument(std::string(filename) + ": empty document");
  return NodeToJson(doc.root());
}

Result<std::unique_ptr<OpenApiSpec>> OpenApiSpec::Load(const std::string& path) {
  Env env = PosixEnv();
  RF_ASSIGN_OR_RETURN(std::string text, env.fs->ReadFile(path, 16u << 20));
  std::unique_ptr<OpenApiSpec> spec(new OpenApiSpec());
  RF_ASSIGN_OR_RETURN(spec->doc_, YamlToJson(text, path));
  const json::object* paths = spec->doc_.is_object() ? Obj(spec->doc_.as_object(), "paths") : nullptr;
  if (paths == nullptr) return Status::InvalidArgument(path + ": no paths");
  for (const auto& [tmpl, item] : *paths) {
    if (!item.is_object()) return Status::InvalidArgument(path + ": path " + std::string(tmpl));
    for (std::string_view m : kMethods) {
      const json::object* op = Obj(item.as_object(), m);
      if (op == nullptr) continue;
      const json::value* id = op->if_contains("operationId");
      if (id == nullptr || !id->is_string()) {
        return Status::InvalidArgument(path + ": " + std::string(m) + " " + std::string(tmpl) +
                                       " has no operationId");
      }
      spec->operations_.push_back(
          {std::string(id->as_string()), Upper(std::string(m)), std::string(tmpl), op});
    }
  }
  return spec;
}

const Operation* OpenApiSpec::Find(std::string_view operation_id) const {
  for (const Operation& op : operations_) {
    if (op.id == operation_id) return &op;
  }
  return nullptr;
}

std::set<std::string> OpenApiSpec::Methods(std::string_view path_template) const {
  std::set<std::string> out;
  for (const Operation& op : operations_) {
    if (op.path == path_template) out.insert(op.method);
  }
  return out;
}

const json::object* OpenApiSpec::Resolve(const json::value& v) const {
  const json::object* o = v.if_object();
  for (int hops = 0; o != nullptr && hops < 16; ++hops) {
    const json::value* ref = o->if_contains("$ref");
    if (ref == nullptr) return o;
    if (!ref->is_string()) return nullptr;
    std::string_view r = ref->as_string();
    if (r.substr(0, 2) != "#/") return nullptr;
    boost::system::error_code ec;
    const json::value* target = doc_.find_pointer(r.substr(1), ec);
    if (ec || target == nullptr) return nullptr;
    o = target->if_object();
  }
  return nullptr;
}

std::vector<std::string> OpenApiSpec::CheckResponse(const Operation& op, int status,
                                                     std::string_view body) const {
  std::vector<std::string> errors;
  const std::string where = op.method + " " + op.path + " -> " + std::to_string(status);
  const json::object* responses = Obj(*op.spec, "responses");
  if (responses == nullptr) return {where + ": the operation lists no responses"};
  const json::value* r = responses->if_contains(std::to_string(status));
  if (r == nullptr) r = responses->if_contains(std::to_string(status / 100) + "XX");
  if (r == nullptr) r = responses->if_contains("default");
  if (r == nullptr) return {where + ": status not listed in the spec"};
  const json::object* response = Resolve(*r);
  if (response == nullptr) return {where + ": dangling response $ref"};
  const json::object* content = Obj(*response, "content");
  if (content == nullptr) {
    if (!body.empty()) errors.push_back(where + ": the spec lists no body, got " + std::string(body));
    return errors;
  }
  const json::object* media = Obj(*content, "application/json");
  if (media == nullptr || !media->contains("schema")) {
    return {where + ": no application/json schema"};
  }
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return {where + ": body is not JSON: " + std::string(body.substr(0, 200))};
  return Validate(media->at("schema"), v, where + " body");
}

std::vector<std::string> OpenApiSpec::Validate(const json::value& schema, const json::value& value,
                                               const std::string& where) const {
  std::vector<std::string> errors;
  const json::object* s = Resolve(schema);
  if (s == nullptr) return {where + ": dangling schema $ref"};
  ValidateInto(*s, value, where, &errors);
  return errors;
}

void OpenApiSpec::Flatten(const json::object& schema, std::vector<const json::object*>* out) const {
  out->push_back(&schema);
  if (const json::value* all = schema.if_contains("allOf"); all != nullptr && all->is_array()) {
    for (const json::value& branch : all->as_array()) {
      if (const json::object* b = Resolve(branch)) Flatten(*b, out);
    }
  }
}

void OpenApiSpec::ValidateInto(const json::object& schema, const json::value& value,
                               const std::string& where, std::vector<std::string>* errors) const {
  auto fail = [&](const std::string& what) { errors->push_back(where + ": " + what); };
  // The schema and every allOf branch below it apply together; properties are looked up across
  // all of them, so a branch that extends a property (ReleaseFull's `plan`) composes.
  std::vector<const json::object*> parts;
  Flatten(schema, &parts);
  if (value.is_null()) {
    const bool nullable = std::any_of(parts.begin(), parts.end(), [](const json::object* p) {
      const json::value* n = p->if_contains("nullable");
      return n != nullptr && n->is_bool() && n->as_bool();
    });
    if (!nullable) fail("null not allowed");
    return;
  }
  for (const json::object* p : parts) {
    if (const json::value* type = p->if_contains("type"); type != nullptr && type->is_string()) {
      if (!HasType(value, type->as_string())) {
        fail("expected " + std::string(type->as_string()) + ", got " +
             json::serialize(value).substr(0, 80));
        return;
      }
    }
    if (const json::value* e = p->if_contains("enum"); e != nullptr && e->is_array()) {
      const json::array& options = e->as_array();
      if (std::find(options.begin(), options.end(), value) == options.end()) {
        fail("value " + json::serialize(value) + " not in enum " + json::serialize(*e));
      }
    }
    if (const json::value* one = p->if_contains("oneOf"); one != nullptr && one->is_array()) {
      int matched = 0;
      std::vector<std::string> branch_errors;
      for (const json::value& branch : one->as_array()) {
        std::vector<std::string> e = Validate(branch, value, where);
        if (e.empty()) ++matched;
        branch_errors.insert(branch_errors.end(), e.begin(), e.end());
      }
      if (matched != 1) {
        fail("matches " + std::to_string(matched) + " oneOf branches, not 1");
        if (matched == 0) errors->insert(errors->end(), branch_errors.begin(), branch_errors.end());
      }
    }
  }
  // The schemas that apply to a member, combined with allOf when there are several.
  auto combined = [](const std::vector<const json::value*>& schemas) {
    if (schemas.size() == 1) return *schemas[0];
    json::array all;
    for (const json::value* x : schemas) all.push_back(*x);
    return json::value(json::object{{"allOf", std::move(all)}});
  };
  if (value.is_array()) {
    std::vector<const json::value*> items;
    for (const json::object* p : parts) {
      if (const json::value* it = p->if_contains("items")) items.push_back(it);
    }
    if (items.empty()) return;
    const json::value item_schema = combined(items);
    const json::array& a = value.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      for (auto& err : Validate(item_schema, a[i], where + "[" + std::to_string(i) + "]")) {
        errors->push_back(std::move(err));
      }
    }
    return;
  }
  if (!value.is_object()) return;
  // A oneOf has judged the whole object (each branch strictly): nothing is declared beside it.
  if (std::any_of(parts.begin(), parts.end(),
                  [](const json::object* p) { return p->contains("oneOf"); })) {
    return;
  }
  const json::object& o = value.as_object();
  for (const json::object* p : parts) {
    if (const json::value* req = p->if_contains("required"); req != nullptr && req->is_array()) {
      for (const json::value& k : req->as_array()) {
        if (k.is_string() && !o.contains(k.as_string())) {
          fail("missing required property '" + std::string(k.as_string()) + "'");
        }
      }
    }
  }
  for (const auto& [k, v] : o) {
    const std::string key(k);
    std::vector<const json::value*> declared, additional;
    bool open = false;
    for (const json::object* p : parts) {
      if (const json::object* props = Obj(*p, "properties"); props != nullptr && props->contains(k)) {
        declared.push_back(&props->at(k));
      }
      if (const json::value* ap = p->if_contains("additionalProperties")) {
        if (ap->is_object()) additional.push_back(ap);
        if (ap->is_bool() && ap->as_bool()) open = true;
      }
    }
    if (declared.empty() && !additional.empty()) declared = additional;
    if (declared.empty()) {
      if (!open) fail("undocumented property '" + key + "'");
      continue;
    }
    for (auto& err : Validate(combined(declared), v, where + "." + key)) errors->push_back(std::move(err));
  }
}

}  // namespace rf::contract
