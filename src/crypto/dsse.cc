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
  auto payload = Base64DecodeAnyVariant(std::string_view(pl->as_string()));
  if (!payload.ok()) {
    return Status::InvalidArgument("envelope: 'payload' is not valid base64 (" +
                                   payload.status().message() + ")");
  }
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
    // keyid is optional (DSSE: unset is the same as empty); when present, a short string.
    if (kid && (!kid->is_string() || kid->as_string().size() > 128)) {
      return Status::InvalidArgument(where + ": 'keyid' is not a string of at most 128 bytes");
    }
    if (!sig || !sig->is_string()) {
      return Status::InvalidArgument(where + ": 'sig' is missing or not a string");
    }
    auto raw = Base64DecodeAnyVariant(std::string_view(sig->as_string()));
    if (!raw.ok()) {
      return Status::InvalidArgument(where + ": 'sig' is not valid base64 (" +
                                     raw.status().message() + ")");
    }
    if (raw->size() != 64) {
      return Status::DataLoss(where + ": 'sig' is " + std::to_string(raw->size()) +
                              " bytes, an Ed25519 signature is 64");
    }
    env.signatures.push_back(
        {kid ? std::string(kid->as_string()) : std::string(), std::move(*raw)});
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
    out += '{';
    if (!env.signatures[i].keyid.empty()) {
      out += "\"keyid\":";
      out += boost::json::serialize(boost::json::value(env.signatures[i].keyid));
      out += ',';
    }
    out += "\"sig\":\"";
    out += Base64Encode(env.signatures[i].sig);
    out += "\"}";
  }
  out += "]}\n";
  return out;
}

void SignEnvelope(Envelope* env, const SigningKey& key) {
  const std::string pae = PreAuthEncoding(env->payload_type, env->payload);
  DsseSignature fresh{key.KeyId(), key.Sign(pae)};
  auto& sigs = env->signatures;
  bool placed = false;
  for (auto it = sigs.begin(); it != sigs.end();) {
    // Only a signature that verifies under `key` is its own: one that merely names its key id
    // may be another signer's with a wrong hint, and is kept.
    if (!Verify(key.public_key(), pae, it->sig).ok()) {
      ++it;
      continue;
    }
    if (placed) {
      it = sigs.erase(it);  // a second signature by the same key
      continue;
    }
    *it = fresh;  // replaced where it was, so the other signatures keep their order
    placed = true;
    ++it;
  }
  if (!placed) sigs.push_back(std::move(fresh));
}

std::vector<size_t> TrustedSigners(const Envelope& env, std::span<const PublicKey> trusted) {
  // The candidates: the first occurrence of each distinct key, with its key id (for the hint).
  std::vector<size_t> candidates;
  std::vector<std::string> ids;
  for (size_t i = 0; i < trusted.size(); ++i) {
    bool repeat = false;
    for (size_t c : candidates) repeat = repeat || trusted[c].bytes == trusted[i].bytes;
    if (repeat) continue;
    candidates.push_back(i);
    ids.push_back(trusted[i].KeyId());
  }
  std::vector<bool> signed_by(candidates.size(), false);
  size_t found = 0;
  const std::string pae = PreAuthEncoding(env.payload_type, env.payload);
  for (const DsseSignature& s : env.signatures) {
    if (found == candidates.size()) break;
    // Keys the keyid names first (the only use of the hint), then every other unmatched key; the
    // first key the signature verifies under takes it.
    for (int pass = 0; pass < 2; ++pass) {
      bool taken = false;
      for (size_t c = 0; c < candidates.size() && !taken; ++c) {
        if (signed_by[c] || (ids[c] == s.keyid) != (pass == 0)) continue;
        if (Verify(trusted[candidates[c]], pae, s.sig).ok()) {
          signed_by[c] = true;
          ++found;
          taken = true;
        }
      }
      if (taken) break;
    }
  }
  std::vector<size_t> out;
  for (size_t c = 0; c < candidates.size(); ++c) {
    if (signed_by[c]) out.push_back(candidates[c]);
  }
  return out;
}

Status VerifyEnvelope(const Envelope& env, const PublicKey& key) {
  if (env.signatures.empty()) return Status::DataLoss("envelope is unsigned");
  if (!TrustedSigners(env, std::span<const PublicKey>(&key, 1)).empty()) return Status::Ok();
  // Diagnosis only: the keyid tells a tampered envelope from one signed by someone else.
  const std::string id = key.KeyId();
  for (const auto& s : env.signatures) {
    if (s.keyid == id) {
      return Status::DataLoss("signature by key " + id.substr(0, 16) +
                              "… does not verify: the payload or signature was altered");
    }
  }
  return Status::DataLoss("envelope has no signature by key " + id.substr(0, 16) +
                          "… (none of its " + std::to_string(env.signatures.size()) +
                          " signature(s) verifies under it)");
}

Status CheckDistinctKeys(std::span<const PublicKey> keys, std::string_view what) {
  for (size_t j = 0; j < keys.size(); ++j) {
    for (size_t i = 0; i < j; ++i) {
      if (keys[i].bytes == keys[j].bytes) {
        return Status::InvalidArgument(
            std::string(what) + "[" + std::to_string(j) + "] repeats key " + keys[j].KeyId() +
            ", listed at [" + std::to_string(i) + "] already (thresholds count distinct keys)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace rf::crypto
