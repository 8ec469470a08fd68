// PCRE2 (8-bit code units, no UTF, interpreter; what a consumer built with `regex_engine: pcre2`
// links): compile check, and the engine dispatch of RunRegexAttack.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>

#include "core/regex_cost.h"
#include "core/regex_engines.h"

namespace rf {
namespace {

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
};
struct MatchContextDeleter {
  void operator()(pcre2_match_context* c) const { pcre2_match_context_free(c); }
};

Result<std::unique_ptr<pcre2_code, CodeDeleter>> CompilePcre2Code(std::string_view pattern,
                                                                   RegexMode mode, uint32_t extra_options = 0) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  uint32_t options = (mode == RegexMode::kMatch ? (PCRE2_ANCHORED | PCRE2_ENDANCHORED) : 0) | extra_options;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buffer[256];
    pcre2_get_error_message(error, buffer, sizeof buffer);
    return Status::InvalidArgument("does not compile under PCRE2: " +
                                   std::string(reinterpret_cast<const char*>(buffer)) +
                                   " at offset " + std::to_string(offset));
  }
  return std::unique_ptr<pcre2_code, CodeDeleter>(code);
}

}  // namespace

Status CompilePcre2(std::string_view pattern) {
  auto code = CompilePcre2Code(pattern, RegexMode::kSearch);
  return code.ok() ? Status::Ok() : code.status();
}

int Pcre2RequiredByte(std::string_view pattern, RegexMode mode) {
  auto code = CompilePcre2Code(pattern, mode);
  if (!code.ok()) return -1;
  uint32_t type = 0, unit = 0;
  if (pcre2_pattern_info(code->get(), PCRE2_INFO_LASTCODETYPE, &type) != 0 || type != 1) return -1;
  if (pcre2_pattern_info(code->get(), PCRE2_INFO_LASTCODEUNIT, &unit) != 0 || unit > 0xff) return -1;
  return static_cast<int>(unit);
}

SearchStarts Pcre2SearchStarts(std::string_view pattern) {
  auto code = CompilePcre2Code(pattern, RegexMode::kSearch);
  if (!code.ok()) return SearchStarts::kAnywhere;
  uint32_t options = 0, first_type = 0, newline = 0;
  if (pcre2_pattern_info(code->get(), PCRE2_INFO_ALLOPTIONS, &options) == 0 && (options & PCRE2_ANCHORED) != 0) {
    return SearchStarts::kStartOnly;
  }
  if (pcre2_pattern_info(code->get(), PCRE2_INFO_FIRSTCODETYPE, &first_type) == 0 && first_type == 2 &&
      pcre2_pattern_info(code->get(), PCRE2_INFO_NEWLINE, &newline) == 0 && newline == PCRE2_NEWLINE_LF) {
    return SearchStarts::kLineStarts;
  }
  return SearchStarts::kAnywhere;
}

Result<uint64_t> Pcre2SearchSteps(std::string_view pattern, std::string_view input) {
  RF_ASSIGN_OR_RETURN(auto code, CompilePcre2Code(pattern, RegexMode::kSearch, PCRE2_AUTO_CALLOUT));
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code.get(), nullptr));
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context(pcre2_match_context_create(nullptr));
  if (!data || !context) return Status::ResourceExhausted("PCRE2 could not allocate match data");
  // Attempts come in increasing order of their start: each one's reach is added when the next
  // begins (and the last one's at the end).
  struct Count {
    uint64_t steps = 0;
    PCRE2_SIZE start = PCRE2_UNSET, furthest = 0;
    void Flush() {
      if (start != PCRE2_UNSET) steps += furthest - start;
    }
  } count;
  pcre2_set_callout(
      context.get(),
      [](pcre2_callout_block* b, void* user) {
        Count& c = *static_cast<Count*>(user);
        if (b->start_match != c.start) {
          c.Flush();
          c.start = c.furthest = b->start_match;
        }
        c.furthest = std::max(c.furthest, b->current_position);
        ++c.steps;
        return 0;
      },
      &count);
  const int rc = pcre2_match(code.get(), reinterpret_cast<PCRE2_SPTR>(input.data()), input.size(), 0, 0,
                             data.get(), context.get());
  if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) return Status::ResourceExhausted("PCRE2 stopped with error " + std::to_string(rc));
  count.Flush();
  return count.steps;
}

Result<std::chrono::nanoseconds> RunRegexAttack(
    std::string_view pattern, RegexDialect dialect, RegexMode mode, std::string_view input,
    const std::function<std::chrono::nanoseconds()>& now, uint32_t pcre2_match_limit) {
  if (dialect == RegexDialect::kEcmaScript) return RunEcmaScriptAttack(pattern, mode, input, now);
  if (input.size() > 64 * 1024) return Status::InvalidArgument("attack input over 64 KiB");
  RF_ASSIGN_OR_RETURN(auto code, CompilePcre2Code(pattern, mode));
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code.get(), nullptr));
  std::unique_ptr<pcre2_match_context, MatchContextDeleter> context(pcre2_match_context_create(nullptr));
  if (!data || !context) return Status::ResourceExhausted("PCRE2 could not allocate match data");
  pcre2_set_match_limit(context.get(), pcre2_match_limit);
  const auto start = now();
  int rc = pcre2_match(code.get(), reinterpret_cast<PCRE2_SPTR>(input.data()), input.size(), 0, 0,
                       data.get(), context.get());
  const auto took = now() - start;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT) {
    return Status::ResourceExhausted("PCRE2 hit its match limit of " + std::to_string(pcre2_match_limit) +
                                     " after " + std::to_string(took.count() / 1000000) + " ms");
  }
  return took;
}

}  // namespace rf
