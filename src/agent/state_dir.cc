#include "agent/state_dir.h"

#include <set>

namespace rf::agent {
namespace {

constexpr size_t kMaxSlotBytes = 256u << 20;  // the envelope format's own ceiling
constexpr size_t kMaxStateBytes = 4u << 20;
constexpr std::string_view kBundleSuffix = ".bundle";

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StateDir::StateDir(Filesystem* fs, std::string root, const TrustRoot* trust, FaultPoints* faults)
    : fs_(fs), root_(std::move(root)), trust_(trust), faults_(faults) {}

std::string StateDir::ActivePath(const std::string& channel) const {
  return root_ + "/active/" + channel + std::string(kBundleSuffix);
}

std::string StateDir::LkgPath(const std::string& channel) const {
  return root_ + "/lkg/" + channel + std::string(kBundleSuffix);
}

Status StateDir::Save(const AgentState& state) {
  Fault("state.save.begin");
  Status s = fs_->WriteFileAtomic(root_ + "/state.json", EncodeAgentState(state), 0600);
  Fault("state.save.done");
  return s;
}

bool StateDir::IsQuarantined(const AgentState& s, const std::string& channel, const BundleRef& r) {
  for (const auto& q : s.quarantined) {
    if (q.channel == channel && q.version == r.version && q.sha256 == r.sha256) return true;
  }
  return false;
}

Result<SlotBundle> StateDir::ReadSlot(const std::string& path, const std::string& channel) {
  RF_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFile(path, kMaxSlotBytes));
  auto v = VerifyStoredBundle(*trust_, bytes);
  if (!v.ok()) return Status::DataLoss(path + ": " + v.status().message());
  if (v->header.channel != channel) {
    return Status::DataLoss(path + ": holds a bundle of channel '" + v->header.channel + "'");
  }
  return v;
}

Result<AgentState> StateDir::Open(std::vector<std::string>* notes) {
  for (const char* sub : {"", "/active", "/lkg", "/staging"}) {
    RF_RETURN_IF_ERROR(fs_->CreateDirs(root_ + sub, 0700));
  }
  AgentState state;
  auto text = fs_->ReadFile(root_ + "/state.json", kMaxStateBytes);
  if (text.ok()) {
    RF_ASSIGN_OR_RETURN(state, DecodeAgentState(*text));
  } else if (text.status().code() != StatusCode::kNotFound) {
    return text.status();
  }
  const std::string before = EncodeAgentState(state);

  // Leftovers: staged downloads (never trusted across a restart) and temp files of atomic writes.
  RF_ASSIGN_OR_RETURN(auto staged, fs_->ListDir(root_ + "/staging"));
  for (const auto& n : staged) (void)fs_->Remove(root_ + "/staging/" + n);
  std::set<std::string> names;
  for (const auto& n : state.channels) names.insert(n.first);
  for (const char* slot : {"/active", "/lkg"}) {
    RF_ASSIGN_OR_RETURN(auto files, fs_->ListDir(root_ + slot));
    for (const auto& f : files) {
      const std::string channel = f.substr(0, f.size() - kBundleSuffix.size());
      if (EndsWith(f, kBundleSuffix) && IsValidChannel(channel)) {
        names.insert(channel);
      } else {
        (void)fs_->Remove(root_ + slot + "/" + f);
      }
    }
  }
  if (auto top = fs_->ListDir(root_); top.ok()) {
    for (const auto& f : *top) {
      if (f.find(".tmp.") != std::string::npos) (void)fs_->Remove(root_ + "/" + f);
    }
  }

  for (const auto& ch : names) {
    ChannelState& c = state.channels[ch];
    std::optional<BundleRef> active, lkg;
    auto a = ReadSlot(ActivePath(ch), ch);
    if (a.ok()) {
      active = BundleRef{a->header.version, a->sha256};
    } else if (a.status().code() != StatusCode::kNotFound) {
      notes->push_back("dropped active bundle of channel " + ch + ": " + a.status().message());
      (void)fs_->Remove(ActivePath(ch));
    }
    auto l = ReadSlot(LkgPath(ch), ch);
    if (l.ok()) {
      lkg = BundleRef{l->header.version, l->sha256};
    } else if (l.status().code() != StatusCode::kNotFound) {
      notes->push_back("dropped lkg bundle of channel " + ch + ": " + l.status().message());
      (void)fs_->Remove(LkgPath(ch));
    }
    if (lkg && IsQuarantined(state, ch, *lkg)) {
      notes->push_back("dropped quarantined lkg bundle of channel " + ch);
      (void)fs_->Remove(LkgPath(ch));
      lkg.reset();
    }
    // An interrupted revert, or an active slot lost to corruption: fall back to the LKG.
    const bool active_quarantined = active && IsQuarantined(state, ch, *active);
    if (!active || active_quarantined) {
      if (active_quarantined) {
        notes->push_back("channel " + ch + ": active version " + std::to_string(active->version) +
                         " is quarantined, finishing its revert");
      }
      if (lkg) {
        RF_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFile(LkgPath(ch), kMaxSlotBytes));
        Fault("recover.restore_lkg");
        RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(ActivePath(ch), bytes, 0600));
        active = lkg;
        notes->push_back("channel " + ch + ": active restored from lkg version " +
                         std::to_string(lkg->version));
      } else if (active_quarantined) {
        RF_RETURN_IF_ERROR(fs_->Remove(ActivePath(ch)));
        active.reset();
      }
    }
    // An apply interrupted after the active slot was written but before state.json was.
    if (active && c.current != active && (!c.current || active->version > c.current->version)) {
      state.Report({ch, active->version, active->sha256, "applied", ""});
      notes->push_back("channel " + ch + ": adopted version " + std::to_string(active->version) +
                       " found in the active slot");
    }
    c.current = active;
    c.lkg = lkg;
  }
  for (auto it = state.channels.begin(); it != state.channels.end();) {
    if (!it->second.current && !it->second.lkg) {
      it = state.channels.erase(it);
    } else {
      ++it;
    }
  }
  if (EncodeAgentState(state) != before) RF_RETURN_IF_ERROR(Save(state));
  return state;
}

Result<std::string> StateDir::Stage(const VerifiedBundle& b) {
  const std::string path = root_ + "/staging/" + b.channel + "." + b.sha256 + std::string(kBundleSuffix);
  Fault("stage.begin");
  RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(path, b.envelope, 0600));
  Fault("stage.done");
  return path;
}

void StateDir::DropStaged(const std::string& path) { (void)fs_->Remove(path); }

Status StateDir::Apply(const VerifiedBundle& b, int64_t lkg_after_ms, AgentState* state) {
  ChannelState& c = state->channels[b.channel];
  Fault("apply.begin");
  if (c.current && c.current->sha256 == c.healthy_sha256 && c.lkg != c.current) {
    RF_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFile(ActivePath(b.channel), kMaxSlotBytes));
    Fault("apply.lkg.read");
    RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(LkgPath(b.channel), bytes, 0600));
    Fault("apply.lkg.written");
    c.lkg = c.current;
  }
  RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(ActivePath(b.channel), b.envelope, 0600));
  Fault("apply.active.written");
  c.current = BundleRef{b.version, b.sha256};
  c.proven_ms = 0;  // new content starts its probation (ChannelState::lkg_after_ms)
  c.lkg_after_ms = lkg_after_ms;
  state->Report({b.channel, b.version, b.sha256, "applied", ""});
  RF_RETURN_IF_ERROR(Save(*state));
  Fault("apply.done");
  return Status::Ok();
}

Status StateDir::Revert(const std::string& channel, const std::string& reason,
                        const std::string& result, AgentState* state) {
  auto it = state->channels.find(channel);
  if (it == state->channels.end() || !it->second.current) {
    return Status::FailedPrecondition("channel " + channel + " has no active bundle to revert");
  }
  ChannelState& c = it->second;
  const BundleRef bad = *c.current;
  Fault("revert.begin");
  state->Quarantine({channel, bad.version, bad.sha256, reason});
  state->Report({channel, bad.version, bad.sha256, result, reason});
  RF_RETURN_IF_ERROR(Save(*state));  // durable first: Open() finishes a revert from here
  Fault("revert.quarantined");
  if (c.lkg && !IsQuarantined(*state, channel, *c.lkg)) {
    RF_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFile(LkgPath(channel), kMaxSlotBytes));
    RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(ActivePath(channel), bytes, 0600));
    Fault("revert.active.written");
    c.current = c.lkg;
    // The LKG ran healthy before (only healthy bundles become LKG).
    c.healthy_sha256 = c.lkg->sha256;
    c.proven_ms = 0;
    c.lkg_after_ms = -1;
  } else {
    RF_RETURN_IF_ERROR(fs_->Remove(ActivePath(channel)));
    Fault("revert.active.removed");
    c.current.reset();
  }
  RF_RETURN_IF_ERROR(Save(*state));
  Fault("revert.done");
  return Status::Ok();
}

}  // namespace rf::agent
