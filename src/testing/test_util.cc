#include "testing/test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "platform/process.h"

namespace rf::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ringfence-test-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string SourcePath(const std::string& relative) {
#ifdef RF_SOURCE_DIR
  return std::string(RF_SOURCE_DIR) + "/" + relative;
#else
  return relative;
#endif
}

std::string BinaryPath(const std::string& relative) {
#ifdef RF_BINARY_DIR
  return std::string(RF_BINARY_DIR) + "/" + relative;
#else
  return relative;
#endif
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    std::abort();
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) {
    ADD_FAILURE() << "cannot write " << path;
    std::abort();
  }
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  // The one process runner (docs/process.md), with the test's environment and no time limit.
  ProcessOptions o;
  o.argv = argv;
  o.env = std::nullopt;
  o.wall_timeout_ms = 0;
  o.max_output_bytes = size_t{1} << 30;
  Result<ProcessResult> p = RunProcess(o);
  if (!p.ok()) ADD_FAILURE() << "cannot run " << argv.front() << ": " << p.status().ToString();
  CommandResult r;
  if (!p.ok()) return r;
  r.exit_code = p->exit_code;
  r.out = std::move(p->out);
  r.err = std::move(p->err);
  return r;
}

std::string RingfenceBinary() { return BinaryPath("apps/ringfence"); }

}  // namespace rf::testing
