// Helpers shared by tests: hermetic temp directories and the paths of shipped samples.
#ifndef RINGFENCE_TESTING_TEST_UTIL_H_
#define RINGFENCE_TESTING_TEST_UTIL_H_

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace rf::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path()/name
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Absolute path of a file in the source tree, e.g. SourcePath("samples/content/fleet.json").
std::string SourcePath(const std::string& relative);
// Absolute path of a built binary, e.g. BinaryPath("apps/ringfence/ringfence").
std::string BinaryPath(const std::string& relative);
// Reads a whole file or aborts the test.
std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, const std::string& data);

struct CommandResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string out, err;
};
// Runs argv[0] with arguments (no shell), waits, and captures stdout and stderr.
CommandResult RunCommand(const std::vector<std::string>& argv);

// The built `ringfence` binary.
std::string RingfenceBinary();

// Waits (real time, generous deadline: the machine may be loaded) until `done` holds; its last
// answer.
template <typename F>
bool WaitFor(F&& done, std::chrono::seconds deadline = std::chrono::seconds(60)) {
  for (int i = 0; i < deadline.count() * 100; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace rf::testing

#endif  // RINGFENCE_TESTING_TEST_UTIL_H_
