#include "server/credential_journal.h"

#include <charconv>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "protocol/identifiers.h"
#include "server/checkin.h"  // IsValidId

namespace rf::server {
namespace {

constexpr std::string_view kJournalMagic = "ringfence-credentials v1";
constexpr size_t kMaxJournalBytes = size_t{1} << 30;

bool ParseInt(std::string_view s, int64_t* out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// Splits `line` at single spaces into exactly `n` fields.
bool SplitFields(std::string_view line, std::string_view* f, int n) {
  for (int i = 0; i < n; ++i) {
    const size_t sp = i + 1 < n ? line.find(' ') : line.size();
    if (sp == std::string_view::npos || sp == 0) return false;
    f[i] = line.substr(0, sp);
    line.remove_prefix(i + 1 < n ? sp + 1 : sp);
  }
  return true;
}

std::string KeyLine(std::string_view id, const CredentialInfo& c, int64_t now_s) {
  std::string line = "K ";
  line.append(id);
  line += ' ';
  line += crypto::ToHex(std::string_view(reinterpret_cast<const char*>(c.key.bytes.data()), 32));
  line += ' ';
  AppendInt(&line, c.epoch);
  line += ' ';
  AppendInt(&line, now_s);
  line += '\n';
  return line;
}

std::string StateLine(CredentialState s, std::string_view id, std::string_view actor,
                      int64_t now_s) {
  std::string line(1, s == CredentialState::kRevoked ? 'V' : 'X');
  line += ' ';
  line.append(id);
  line += ' ';
  AppendInt(&line, now_s);
  line += ' ';
  line.append(actor);
  line += '\n';
  return line;
}

using Map = std::unordered_map<std::string, CredentialInfo>;

// Replays `text` into *devices; *valid_bytes: the prefix of whole lines (a torn last append,
// never acknowledged, is left out).
Status Replay(const std::string& path, std::string_view text, Map* devices, size_t* lines,
              size_t* valid_bytes) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) break;  // a torn last append: never acknowledged
    const std::string_view line = text.substr(pos, eol - pos);
    ++*lines;
    auto corrupt = [&](std::string_view why) {
      return Status::DataLoss(path + ":" + std::to_string(*lines) + ": " + std::string(why));
    };
    if (*lines == 1) {
      if (line != kJournalMagic) return corrupt("not a credentials journal");
    } else if (line.starts_with("K ")) {
      std::string_view f[4];
      int64_t epoch, t;
      if (!SplitFields(line.substr(2), f, 4) || !IsValidId(f[0]) || f[1].size() != 64 ||
          !ParseInt(f[2], &epoch) || epoch < 1 || epoch > UINT32_MAX || !ParseInt(f[3], &t)) {
        return corrupt("malformed key line");
      }
      auto raw = crypto::FromHex(f[1]);
      if (!raw.ok() || raw->size() != 32) return corrupt("malformed public key");
      CredentialInfo c;
      std::memcpy(c.key.bytes.data(), raw->data(), 32);
      c.epoch = static_cast<uint32_t>(epoch);
      (*devices)[std::string(f[0])] = c;
    } else if (line.starts_with("V ") || line.starts_with("X ")) {
      std::string_view f[3];
      int64_t t;
      if (!SplitFields(line.substr(2), f, 3) || !IsValidId(f[0]) || !ParseInt(f[1], &t) ||
          !protocol::IsValidPrincipalName(f[2])) {
        return corrupt("malformed state line");
      }
      auto it = devices->find(std::string(f[0]));
      if (it == devices->end()) return corrupt("state change of a device without a key");
      it->second.state = line[0] == 'V' ? CredentialState::kRevoked : CredentialState::kReset;
    } else {
      return corrupt("unknown line kind");
    }
    pos = eol + 1;
  }
  *valid_bytes = pos;  // 0 when even the header is torn (the journal was being created)
  return Status::Ok();
}

}  // namespace

CredentialJournal::CredentialJournal(Filesystem* fs, std::string path)
    : fs_(fs), path_(std::move(path)) {}

Status CredentialJournal::Load(const Sink& sink) {
  if (path_.empty() || !fs_->Exists(path_)) return Status::Ok();
  RF_ASSIGN_OR_RETURN(std::string text, fs_->ReadFile(path_, kMaxJournalBytes));
  Map devices;
  size_t lines = 0, valid = 0;
  RF_RETURN_IF_ERROR(Replay(path_, text, &devices, &lines, &valid));
  if (valid != text.size() || lines > 2 * devices.size() + 1024) {
    // A torn tail (never acknowledged) or mostly superseded lines: rewrite the live state.
    std::string out(kJournalMagic);
    out += '\n';
    std::string states;
    for (const auto& [id, c] : devices) {
      out += KeyLine(id, c, 0);
      if (c.state != CredentialState::kActive) states += StateLine(c.state, id, "compaction", 0);
    }
    out += states;
    RF_RETURN_IF_ERROR(fs_->WriteFileAtomic(path_, out, 0600));
  }
  for (auto it = devices.begin(); it != devices.end(); it = devices.erase(it)) {
    sink(it->first, it->second);
  }
  return Status::Ok();
}

Status CredentialJournal::Append(const std::string& lines) {
  if (path_.empty()) return Status::Ok();
  if (!fs_->Exists(path_)) {
    return fs_->AppendDurable(path_, std::string(kJournalMagic) + "\n" + lines, 0600);
  }
  return fs_->AppendDurable(path_, lines, 0600);
}

Result<std::optional<CredentialInfo>> CredentialJournal::Change(
    std::string_view device_id, const std::optional<CredentialInfo>& cached,
    std::string_view actor, int64_t now_s, const Decide& decide) {
  RF_ASSIGN_OR_RETURN(std::optional<CredentialInfo> next, decide(cached));
  if (!next) return cached;
  std::string lines;
  const bool new_key = !cached || cached->key.bytes != next->key.bytes ||
                       cached->epoch != next->epoch;
  if (new_key) lines += KeyLine(device_id, *next, now_s);  // a key line means "active"
  if (next->state != CredentialState::kActive &&
      (new_key || cached->state != next->state)) {
    lines += StateLine(next->state, device_id, actor, now_s);
  }
  if (!lines.empty()) RF_RETURN_IF_ERROR(Append(lines));
  return next;
}

}  // namespace rf::server
