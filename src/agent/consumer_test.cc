#include "agent/consumer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "dynamic/dynamic_check.h"
#include "platform/env.h"

namespace rf::agent {
namespace {

// Regression: the agent's child set-up applied RLIMIT_NOFILE before opening /dev/null for the
// child's stdin and ignored the failure, so with the agent holding more descriptors than the
// pre-flight limit (256) the pre-flight child inherited the agent's stdin instead of /dev/null
// (platform/subprocess had the fix; the agent's copy did not). One runner now: docs/process.md.
TEST(ConsumerPreflightTest, StdinIsDevNullWhenTheAgentHoldsManyDescriptors) {
  // This process's stdin becomes a pipe for the test, so an inherited stdin is visible.
  int stdin_pipe[2];
  ASSERT_EQ(::pipe2(stdin_pipe, O_CLOEXEC), 0);
  const int saved_stdin = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(saved_stdin, 0);
  ASSERT_EQ(::dup2(stdin_pipe[0], 0), 0);
  std::vector<int> held;  // the lowest free descriptor ends up above the limit
  for (int i = 0; i < 300; ++i) held.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));

  ConsumerOptions o;
  o.argv = {"/bin/sh", "-c", "readlink /proc/self/fd/0", "consumer"};
  o.preflight_limits.max_open_files = 256;
  o.preflight_limits.address_space_bytes = 0;  // no RLIMIT_AS: ASan builds reserve terabytes
  ConsumerCommand consumer(o);
  auto r = consumer.Preflight(PosixEnv().clock, "/nonexistent/staged.bundle");

  for (int fd : held) ::close(fd);
  ::dup2(saved_stdin, 0);
  for (int fd : {saved_stdin, stdin_pipe[0], stdin_pipe[1]}) ::close(fd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->Describe();
  EXPECT_EQ(r->out, "/dev/null\n");
}

struct SplitCase {
  std::string line;
  std::vector<std::string> words;  // empty: the line is refused
};

// Regression: the server's layer 2 (dynamic::SplitCommand) and the device (a splitter in
// ringfence-agent's main) split the same --consumer string differently: backslashes were literal
// in layer 2 and an unterminated quote was accepted there, so layer 2 tested another command than
// the devices ran. Both now use rf::SplitCommandLine (docs/process.md "Command lines").
TEST(ConsumerCommandLineTest, TheDeviceAndLayerTwoSplitTheSameWay) {
  const std::vector<SplitCase> cases = {
      {"/usr/bin/sensor --integration legacy", {"/usr/bin/sensor", "--integration", "legacy"}},
      {"sensor --name a\\ b", {"sensor", "--name", "a b"}},
      {"sensor 'x y' \"z\"", {"sensor", "x y", "z"}},
      {"sensor \"x\\\"y\"", {"sensor", "x\"y"}},
      {"sensor a\\\\b", {"sensor", "a\\b"}},
      {"sensor \"C:\\dir\"", {"sensor", "C:\\dir"}},
      {"sensor 'unterminated", {}},
      {"sensor \"unterminated", {}},
      {"sensor trailing\\", {}},
      {"   ", {}},
  };
  for (const SplitCase& c : cases) {
    ConsumerOptions device;
    Status s = SetConsumerCommandLines(c.line, "manifest", "load {bundle}", "run {bundles}", &device);
    auto layer2 = dynamic::ConsumerSpecFromCommandLine(c.line);
    if (c.words.empty()) {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.line;
      EXPECT_EQ(layer2.status().code(), StatusCode::kInvalidArgument) << c.line;
      EXPECT_TRUE(device.argv.empty()) << c.line;
      continue;
    }
    ASSERT_TRUE(s.ok()) << c.line << ": " << s.ToString();
    ASSERT_TRUE(layer2.ok()) << c.line << ": " << layer2.status().ToString();
    EXPECT_EQ(device.argv, c.words) << c.line;
    EXPECT_EQ(layer2->argv, c.words) << c.line;
    EXPECT_EQ(layer2->name, c.line);
  }
}

TEST(ConsumerCommandLineTest, TemplatesAreSplitToo) {
  ConsumerOptions o;
  ASSERT_TRUE(SetConsumerCommandLines("sensor", "manifest --format 'json lines'", "load {bundle}",
                                      "run --dir '/var/lib/x y' {bundles}", &o)
                  .ok());
  EXPECT_EQ(o.manifest_args, (std::vector<std::string>{"manifest", "--format", "json lines"}));
  ConsumerCommand c(o);
  EXPECT_EQ(c.RunArgv({"/a", "/b"}),
            (std::vector<std::string>{"sensor", "run", "--dir", "/var/lib/x y", "/a", "/b"}));
  Status bad = SetConsumerCommandLines("sensor", "manifest", "load '{bundle}", "run", &o);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("--consumer-load-args"), std::string::npos) << bad.ToString();
}

}  // namespace
}  // namespace rf::agent
