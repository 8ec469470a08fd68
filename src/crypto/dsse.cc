#include "crypto/dsse.h"

#include <boost/json.hpp>

namespace rf::crypto {

std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

Result<Envelope> ParseEnvelope(std::string_view json, const EnvelopeLimits& limits) {
  if (json.size() > limits.max_envelope_bytes) {
    return Status::ResourceExhausted("envelope is " + std::to_string(json.size()) +
                                     " bytes, over the limit of " +
                                     std::to_string(limits.max_envelope_bytes));
  }
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.max_depth = 8;
  boost::json::value v = boost::json::parse(json, ec, {}, po);
  if (ec) return Status::InvalidArgument("envelope is not valid JSON (" + ec.message() + ")");
  if (!v.is_object()) return Status::InvalidArgument("envelope is not a JSON object");
  const auto& o = v.as_object();
  for (const auto& kv : o) {
    if (kv.key() != "payloadType" && kv.key() != "payload" && kv.key() != "signatures") {
      return Status::InvalidArgument("envelope has unknown key '" + std::string(kv.key()) + "'");
    }
  }
  Envelope env;
  const auto* pt = o.if_contains("payloadType");
  if (!pt || !pt->is_string()) {
    return Status::InvalidArgument("envelope: 'payloadType' is missing or not a string");
  }
  env.payload_type = std::string(pt->as_string());
  const auto* pl = o.if_contains("payload");
  if (!pl || !pl->is_string()) {
    return Status::InvalidArgument("envelope: 'payload' is missing or not a string");
  }
  auto payload = Base64Decode(std::string_view(pl->as_string()));
  if (!payload.ok()) return Status::InvalidArgument("envelope: 'payload' is not valid base64");
  env.payload = std::move(*payload);
  const auto* sigs = o.if_contains("signatures");
  if (!sigs || !sigs->is_array()) {
    return Status::InvalidArgument("envelope: 'signatures' is missing or not an array");
  }
  if (sigs->as_array().size() > limits.max_signatures) {
    return Status::ResourceExhausted("envelope has more than " +
                                     std::to_string(limits.max_signatures) + " signatures");
  }
  for (size_t i = 0; i < sigs->as_array().size(); ++i) {
    const auto& s = sigs->as_array()[i];
    const std::string where = "envelope: signatures[" + std::to_string(i) + "]";
    if (!s.is_object()) return Status::InvalidArgument(where + " is not an object");
    for (const auto& kv : s.as_object()) {
      if (kv.key() != "keyid" && kv.key() != "sig") {
        return Status::InvalidArgument(where + " has unknown key '" + std::string(kv.key()) + "'");
      }
    }
    const auto* kid = s.as_object().if_contains("keyid");
    const auto* sig = s.as_object().if_contains("sig");
    if (!kid || !kid->is_string() || kid->as_string().size() > 128) {
      return Status::InvalidArgument(where + ": 'keyid' is missing, not a string or too long");
    }
    if (!sig || !sig->is_string()) {
      return Status::InvalidArgument(where + ": 'sig' is missing or not a string");
    }
    auto raw = Base64Decode(std::string_view(sig->as_string()));
    if (!raw.ok()) return Status::InvalidArgument(where + ": 'sig' is not valid base64");
    if (raw->size() != 64) {
      return Status::DataLoss(where + ": 'sig' is " + std::to_string(raw->size()) +
                              " bytes, an Ed25519 signature is 64");
    }
    env.signatures.push_back({std::string(kid->as_string()), std::move(*raw)});
  }
  return env;
}

std::string SerializeEnvelope(const Envelope& env) {
  // Fixed key order; boost::json::serialize escapes strings correctly.
  std::string out = "{\"payloadType\":";
  out += boost::json::serialize(boost::json::value(env.payload_type));
  out += ",\"payload\":\"";
  out += Base64Encode(env.payload);
  out += "\",\"signatures\":[";
  for (size_t i = 0; i < env.signatures.size(); ++i) {
    if (i) out += ',';
    out += "{\"keyid\":";
    out += boost::json::serialize(boost::json::value(env.signatures[i].keyid));
    out += ",\"sig\":\"";
    out += Base64Encode(env.signatures[i].sig);
    out += "\"}";
  }
  out += "]}\n";
  return out;
}

void SignEnvelope(Envelope* env, const SigningKey& key) {
  std::string sig = key.Sign(PreAuthEncoding(env->payload_type, env->payload));
  const std::string id = key.KeyId();
  for (auto& s : env->signatures) {
    if (s.keyid == id) {
      s.sig = std::move(sig);
      return;
    }
  }
  env->signatures.push_back({id, std::move(sig)});
}

Status VerifyEnvelope(const Envelope& env, const PublicKey& key) {
  const std::string id = key.KeyId();
  const std::string pae = PreAuthEncoding(env.payload_type, env.payload);
  bool listed = false;
  for (const auto& s : env.signatures) {
    if (s.keyid != id) continue;
    listed = true;
    if (Verify(key, pae, s.sig).ok()) return Status::Ok();
  }
  if (env.signatures.empty()) return Status::DataLoss("envelope is unsigned");
  if (!listed) {
    return Status::DataLoss("envelope has no signature by key " + id.substr(0, 16) +
                            "… (signed by " + std::to_string(env.signatures.size()) +
                            " other key(s))");
  }
  return Status::DataLoss("signature by key " + id.substr(0, 16) +
                          "… does not verify: the payload or signature was altered");
}

}  // namespace rf::crypto
