// Runs recheck (npm, pinned by bench/regex_recheck.package.json) on every corpus candidate and
// prints one JSON line per pattern: {"pattern", "status", "complexity", "attack"}.
// Usage: node bench/regex_recheck.mjs tests/regex_corpus/candidates.tsv [DONE.jsonl] >> recheck.jsonl
// (run from a directory where `npm install` of bench/regex_recheck.package.json was done, or set
// NODE_PATH to its node_modules).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { checkSync } = require("recheck");

const lines = readFileSync(process.argv[2], "utf8").split("\n");
// Optional: a previous output whose patterns are skipped (resume after an interruption).
const done = new Set();
if (process.argv[3]) {
  for (const l of readFileSync(process.argv[3], "utf8").split("\n")) if (l) done.add(JSON.parse(l).pattern);
}
for (const line of lines) {
  if (!line || line.startsWith("#")) continue;
  const pattern = line.split("\t")[0];
  if (done.has(pattern)) continue;
  // recheck 4.5.0's agent dies on counts beyond 2^31 ({0,9007199254740991}) and then hangs.
  if ((pattern.match(/\d{10,}/g) || []).length) {
    console.log(JSON.stringify({ pattern, status: "error", complexity: null, attack: null,
                                 error: { kind: "skipped: count too large for recheck" }, ms: 0 }));
    continue;
  }
  const start = process.hrtime.bigint();
  let r;
  try {
    // Default checker ("hybrid": automaton, fuzzing when the automaton is too big), 10 s budget.
    r = checkSync(pattern, "", { timeout: 10000 });
  } catch (e) {
    r = { status: "error", error: { kind: String(e) } };
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const attack = r.attack ? { pumps: r.attack.pumps, suffix: r.attack.suffix } : null;
  console.log(JSON.stringify({ pattern, status: r.status, complexity: r.complexity ?? null,
                               attack, error: r.error ?? null, ms }));
}
