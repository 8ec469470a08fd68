// `ringfence bundle build|sign|verify|digest` and `ringfence key gen`.
#include <sys/stat.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/stage1.h"
#include "crypto/dsse.h"
#include "protocol/identifiers.h"

namespace rf::cli {
namespace {

struct BundleArgs {
  std::string source, type, out, key, bundle;
  std::vector<std::string> pubs;
  int threshold = 1;
};

int Build(const BundleArgs& a) {
  Env env = PosixEnv();
  auto type = LoadContentType(env, a.type);
  if (!type.ok()) return UsageError(type.status());
  auto text = ReadInput(env, a.source);
  if (!text.ok()) return UsageError(text.status());
  std::vector<Finding> findings;
  auto bundle = DecodeBundleSource(*text, a.source, *type, &findings);
  if (!bundle.ok()) return UsageError(bundle.status());
  // The server refuses such a channel at upload and devices refuse it in directives
  // (protocol/identifiers.h): refuse it here, before anything is written.
  if (Status st = protocol::CheckChannel(bundle->channel, a.source + ": channel"); !st.ok()) {
    return UsageError(st);
  }
  std::string payload = EncodeCanonicalPayload(*bundle, *type);
  StageOneInput in;
  in.type = &*type;
  in.bundle = &*bundle;
  in.payload_bytes = payload.size();
  StageOneReport report = RunStageOne(in, std::move(findings));
  if (!report.accepted) {
    std::cerr << "ringfence: bundle not built: " << report.errors
              << " error(s) against content type " << type->name << ":\n";
    for (const Finding& f : report.findings) {
      if (f.severity != Severity::kError) continue;
      std::cerr << "  " << f.check << " " << (f.item.empty() ? "" : f.item + " ")
                << (f.field.empty() ? "" : f.field + ": ") << f.message << "\n";
    }
    return kExitRejected;
  }
  crypto::Envelope envl;
  envl.payload_type = std::string(crypto::kBundlePayloadType);
  envl.payload = std::move(payload);
  if (!a.key.empty()) {
    auto key = LoadPrivateKey(env, a.key);
    if (!key.ok()) return UsageError(key.status());
    crypto::SignEnvelope(&envl, *key);
  }
  Status st = env.fs->WriteFileAtomic(a.out, crypto::SerializeEnvelope(envl), 0644);
  if (!st.ok()) return UsageError(st);
  std::cout << "built " << a.out << ": " << type->name << " channel " << bundle->channel
            << " version " << bundle->version << ", " << bundle->items.size() << " items, "
            << envl.payload.size() << " bytes, sha256 " << crypto::Sha256Hex(envl.payload)
            << (a.key.empty() ? " (unsigned)" : ", signed") << "\n";
  return kExitOk;
}

Result<crypto::Envelope> LoadEnvelope(Env env, const std::string& path) {
  RF_ASSIGN_OR_RETURN(std::string text, ReadInput(env, path));
  auto e = crypto::ParseEnvelope(text);
  if (!e.ok()) return e.status().WithPrefix(path);
  return e;
}

int Sign(const BundleArgs& a) {
  Env env = PosixEnv();
  auto envl = LoadEnvelope(env, a.bundle);
  if (!envl.ok()) return UsageError(envl.status());
  auto key = LoadPrivateKey(env, a.key);
  if (!key.ok()) return UsageError(key.status());
  crypto::SignEnvelope(&*envl, *key);
  const std::string out = a.out.empty() ? a.bundle : a.out;
  Status st = env.fs->WriteFileAtomic(out, crypto::SerializeEnvelope(*envl), 0644);
  if (!st.ok()) return UsageError(st);
  std::cout << "signed " << out << " with key " << key->KeyId().substr(0, 16) << "… ("
            << envl->signatures.size() << " signature(s))\n";
  return kExitOk;
}

int Verify(const BundleArgs& a) {
  Env env = PosixEnv();
  std::vector<crypto::PublicKey> keys;
  for (const auto& p : a.pubs) {
    auto text = env.fs->ReadFile(p, 1 << 16);
    if (!text.ok()) return UsageError(text.status());
    auto k = crypto::DecodePublicKeyFile(*text);
    if (!k.ok()) return UsageError(k.status().WithPrefix(p));
    keys.push_back(*k);
  }
  if (Status st = crypto::CheckDistinctKeys(keys, "--pub"); !st.ok()) return UsageError(st);
  if (a.threshold < 1 || a.threshold > static_cast<int>(keys.size())) {
    return UsageError(Status::InvalidArgument("--threshold must be between 1 and the number of --pub keys"));
  }
  auto text = ReadInput(env, a.bundle);
  if (!text.ok()) return UsageError(text.status());
  auto envl = crypto::ParseEnvelope(*text);
  if (!envl.ok()) {
    std::cerr << "ringfence: verify FAILED: " << a.bundle << ": " << envl.status().message() << "\n";
    return kExitRejected;
  }
  if (envl->payload_type != crypto::kBundlePayloadType) {
    std::cerr << "ringfence: verify FAILED: " << a.bundle << ": payloadType '"
              << envl->payload_type << "' is not a ringfence bundle\n";
    return kExitRejected;
  }
  // Distinct keys, every key against every signature (crypto::TrustedSigners, the one rule).
  const std::vector<size_t> signers = crypto::TrustedSigners(*envl, keys);
  const int good = static_cast<int>(signers.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::find(signers.begin(), signers.end(), i) != signers.end()) continue;
    std::cerr << "  key " << keys[i].KeyId().substr(0, 16) << "… (" << a.pubs[i]
              << "): " << crypto::VerifyEnvelope(*envl, keys[i]).message() << "\n";
  }
  if (good < a.threshold) {
    std::cerr << "ringfence: verify FAILED: " << a.bundle << ": " << good << " of " << keys.size()
              << " keys verified, " << a.threshold << " required\n";
    return kExitRejected;
  }
  std::cout << "verified " << a.bundle << ": " << good << " of " << keys.size()
            << " keys, sha256 " << crypto::Sha256Hex(envl->payload) << "\n";
  return kExitOk;
}

int KeyGen(const std::string& out, bool force) {
  Env env = PosixEnv();
  const std::string priv = out + ".key", pub = out + ".pub";
  if (!force && (env.fs->Exists(priv) || env.fs->Exists(pub))) {
    return UsageError(Status::AlreadyExists(priv + " or " + pub + " exists (use --force to replace)"));
  }
  crypto::SigningKey k = crypto::SigningKey::Generate();
  Status st = env.fs->WriteFileAtomic(priv, crypto::EncodePrivateKeyFile(k), 0600);
  if (st.ok()) st = env.fs->WriteFileAtomic(pub, crypto::EncodePublicKeyFile(k.public_key()), 0644);
  if (!st.ok()) return UsageError(st);
  std::cout << "wrote " << priv << " (private, mode 0600) and " << pub << "\nkeyid " << k.KeyId()
            << "\n";
  return kExitOk;
}

}  // namespace

void RegisterBundleCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<BundleArgs>();
  CLI::App* bundle = app.add_subcommand("bundle", "build, sign and verify bundles");
  bundle->require_subcommand(1);

  CLI::App* build = bundle->add_subcommand(
      "build", "canonical JSON payload in a DSSE envelope; refuses content that fails its type");
  build->add_option("source", a->source, "bundle source (.yaml)")->required();
  build->add_option("--type", a->type, "content type (.yaml)")->required();
  build->add_option("-o,--out", a->out, "output file")->required();
  build->add_option("--key", a->key, "sign with this private key file as well");
  build->callback([a, exit_code] { *exit_code = Build(*a); });

  CLI::App* sign = bundle->add_subcommand("sign", "add an Ed25519 signature to a built bundle");
  sign->add_option("bundle", a->bundle, "built bundle")->required();
  sign->add_option("--key", a->key, "private key file")->required();
  sign->add_option("-o,--out", a->out, "output file (default: in place)");
  sign->callback([a, exit_code] { *exit_code = Sign(*a); });

  CLI::App* verify = bundle->add_subcommand(
      "verify", "check a built bundle's signatures; exit 0 verified, 1 not verified");
  verify->add_option("bundle", a->bundle, "built bundle")->required();
  verify->add_option("--pub", a->pubs, "public key file (repeatable)")->required();
  verify->add_option("--threshold", a->threshold,
                     "distinct --pub keys whose signature is required (default 1)");
  verify->callback([a, exit_code] { *exit_code = Verify(*a); });
}

void RegisterKeyCommand(CLI::App& app, int* exit_code) {
  auto out = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  CLI::App* key = app.add_subcommand("key", "manage Ed25519 signing keys");
  key->require_subcommand(1);
  CLI::App* gen = key->add_subcommand("gen", "generate NAME.key (private) and NAME.pub");
  gen->add_option("-o,--out", *out, "path prefix NAME")->required();
  gen->add_flag("--force", *force, "replace existing files");
  gen->callback([out, force, exit_code] { *exit_code = KeyGen(*out, *force); });
}

}  // namespace rf::cli
