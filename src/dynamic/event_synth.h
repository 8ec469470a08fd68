// Generated events for layer 2: for every item, events that drive a consumer through every
// non-wildcard field of that item.
//
// For each item: one "match" event whose values satisfy every concrete field (so an interpreter
// that short-circuits still reaches the last field), and for each regex field one "stress" event:
// the match event with that field's value replaced by the regex's repetitions pumped and a tail
// that makes the match fail, the classic input on which a backtracking matcher explodes
// (e.g. ^(a+)+$ on "aaaa…a!"). Values: regex -> a sample string that matches where the pattern
// is simple enough to generate from (verified with RE2 when it compiles there), else the pattern
// text; glob -> '*' removed, '?' -> 'x'; ipv4_prefix -> its network address; others as written.
// Events are JSON lines in the format of docs/sdk.md (field name -> string, integer or bool);
// absent and wildcard fields are left out.
#ifndef RINGFENCE_DYNAMIC_EVENT_SYNTH_H_
#define RINGFENCE_DYNAMIC_EVENT_SYNTH_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/content_type.h"

namespace rf::dynamic {

struct SynthesizedEvent {
  std::string json;     // one line, no newline
  std::string purpose;  // "match" or "stress:<field>"
};

struct RegexSample {
  std::string text;
  bool generated = false;  // false: the pattern is not supported by the generator
};

inline constexpr int kStressRepetitions = 28;

// A string the regex (ECMAScript/RE2 common syntax) should match. With `stress`, unbounded
// repetitions are pumped kStressRepetitions times and "!" is appended.
RegexSample SampleForRegex(std::string_view pattern, bool stress = false);

// The events for one item (match event first). REQUIRES: item.values.size() == type.fields.size().
std::vector<SynthesizedEvent> SynthesizeEvents(const ContentType& type, const Item& item);

}  // namespace rf::dynamic

#endif  // RINGFENCE_DYNAMIC_EVENT_SYNTH_H_
