// kill -9 at random points: every acknowledged approval, state change and audit entry survives,
// the audit chain verifies, and a halted release never advances. See durability/durability_helper.cc.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "platform/sim_env.h"
#include "service/release_service.h"
#include "service/testing/fixtures.h"
#include "store/sqlite_store.h"
#include "testing/test_util.h"

namespace rf::service {
namespace {

struct Acked {
  struct State {
    int64_t time_us = 0;
    std::string phase;
    int wave = -1;
  };
  std::map<std::string, State> last_state;             // release -> last acknowledged state
  std::map<std::string, std::set<int64_t>> in_flight;  // release -> B times after its last S
  std::set<std::pair<std::string, std::string>> approvals;
  std::map<std::string, int> halted;  // release -> wave
  std::map<int64_t, std::string> audit;
  int64_t acks = 0;
};

struct RunResult {
  bool killed = false;
  bool done = false;
  std::string out, err;
  int64_t micros = 0;
};

// Runs the helper; kills it with SIGKILL once it has printed `kill_after_lines` lines plus
// `extra_delay_us` (so kills land inside operations as well as between them), unless
// kill_after_lines < 0. Stops on acknowledgements rather than wall time, so the kill points spread
// over the whole script however busy the machine is.
RunResult RunHelper(const std::string& dir, uint64_t seed, int64_t kill_after_lines,
                    int64_t extra_delay_us) {
  const std::string helper = rf::testing::BinaryPath("src/service/rf_durability_helper");
  const std::string err_path = dir + "/helper.err";
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fds[1], 1);
    ::dup2(err, 2);
    ::close(fds[0]);
    const std::string seed_s = std::to_string(seed);
    const std::string data = dir + "/data";
    ::execl(helper.c_str(), helper.c_str(), data.c_str(), seed_s.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  RunResult r;
  int64_t lines = 0;
  bool sent = false;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    r.out.append(buf, static_cast<size_t>(n));
    for (ssize_t i = 0; i < n; ++i) lines += buf[i] == '\n';
    if (!sent && kill_after_lines >= 0 && lines >= kill_after_lines) {
      ::usleep(static_cast<useconds_t>(extra_delay_us));
      ::kill(pid, SIGKILL);
      sent = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.micros = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::steady_clock::now() - t0).count();
  r.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  r.err = rf::testing::ReadFileOrDie(err_path);
  EXPECT_TRUE(r.killed || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
      << "helper failed: status " << status << "\n" << r.err << r.out;
  return r;
}

// Merges the acknowledgements of one run into `acked`.
void Parse(const RunResult& r, Acked* acked, bool* done) {
  std::istringstream in(r.out);
  std::string line;
  const bool complete = !r.out.empty() && r.out.back() == '\n';
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  if (!complete && !lines.empty()) lines.pop_back();  // cut by the kill: never acknowledged
  for (const std::string& l : lines) {
    std::istringstream f(l);
    std::string tag;
    f >> tag;
    if (tag == "X") {
      ADD_FAILURE() << "helper reported a violation: " << l;
    } else if (tag == "D") {
      *done = true;
    } else if (tag == "B") {
      std::string id;
      int64_t t = 0;
      f >> id >> t;
      acked->in_flight[id].insert(t);
    } else if (tag == "S") {
      Acked::State s;
      std::string id;
      f >> id >> s.time_us >> s.phase >> s.wave;
      acked->last_state[id] = s;
      acked->in_flight[id].clear();
      ++acked->acks;
    } else if (tag == "P") {
      std::string id, who;
      f >> id >> who;
      acked->approvals.insert({id, who});
      ++acked->acks;
    } else if (tag == "H") {
      std::string id;
      int wave = 0;
      f >> id >> wave;
      acked->halted[id] = wave;
      ++acked->acks;
    } else if (tag == "A") {
      int64_t seq = 0;
      std::string hash;
      f >> seq >> hash;
      acked->audit[seq] = hash;
      ++acked->acks;
    }
  }
}

// Reopens the data directory as a restarted server would and checks every acknowledgement.
void Verify(const std::string& dir, const Acked& acked, int trial) {
  SCOPED_TRACE("after trial " + std::to_string(trial));
  auto store = store::SqliteStore::Open(dir + "/data/" + store::kDatabaseFileName);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  testing::FakeFleet fleet;
  SimulatedClock clock;
  auto service = ReleaseService::Open(**store, fleet, clock);
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  auto chain = (*service)->audit().Verify();
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  for (const auto& [seq, hash] : acked.audit) {
    auto e = (*store)->ReadAudit(seq - 1, 1);
    ASSERT_TRUE(e.ok());
    ASSERT_EQ(e->size(), 1u) << "acknowledged audit entry " << seq << " lost";
    EXPECT_EQ((*e)[0].hash, hash) << "audit entry " << seq << " differs from the acknowledged one";
  }
  for (const auto& [id, who] : acked.approvals) {
    auto v = (*service)->releases().Get(id);
    ASSERT_TRUE(v.ok()) << id;
    bool found = false;
    for (const auto& a : v->approvals) found = found || a.reviewer == who;
    EXPECT_TRUE(found) << "acknowledged approval of " << id << " by " << who << " lost";
  }
  for (const auto& [id, s] : acked.last_state) {
    auto v = (*service)->releases().Get(id);
    ASSERT_TRUE(v.ok()) << "acknowledged release " << id << " lost";
    const rollout::ReleaseState& st = v->record.state;
    if (st.last_event_micros == s.time_us) {
      EXPECT_EQ(rollout::PhaseName(st.phase), s.phase) << id;
      EXPECT_EQ(st.wave, s.wave) << id;
    } else {
      // Only the one operation in flight at the kill may have committed without its ack.
      auto it = acked.in_flight.find(id);
      EXPECT_TRUE(st.last_event_micros > s.time_us && it != acked.in_flight.end() &&
                  it->second.count(st.last_event_micros))
          << id << ": stored state at " << st.last_event_micros << " ("
          << rollout::PhaseName(st.phase) << ") is not the acknowledged one at " << s.time_us
          << " (" << s.phase << ") nor the operation in flight";
    }
  }
  for (const auto& [id, wave] : acked.halted) {
    auto v = (*service)->releases().Get(id);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->record.state.phase, rollout::Phase::kHalted) << id << " advanced after halt";
    EXPECT_EQ(v->record.state.wave, wave) << id << " advanced after halt";
  }
}

TEST(Durability, KillNineAtRandomPointsLosesNothingAcknowledged) {
  uint64_t seed = 20261126;
  if (const char* s = std::getenv("RF_DURABILITY_SEED")) seed = std::strtoull(s, nullptr, 10);
  int kills_wanted = 50;
  if (const char* s = std::getenv("RF_DURABILITY_KILLS")) kills_wanted = std::atoi(s);
  std::printf("durability seed %llu (replay with RF_DURABILITY_SEED)\n",
              static_cast<unsigned long long>(seed));
  SeededRandom rnd(seed);
  rf::testing::TempDir dir;
  Acked acked;
  // Calibration: one full run without a kill, to learn how many lines a run prints.
  RunResult first = RunHelper(dir.path(), rnd.Next64(), -1, 0);
  bool done = false;
  Parse(first, &acked, &done);
  ASSERT_TRUE(done) << first.err;
  Verify(dir.path(), acked, 0);
  const int64_t full_us = first.micros;
  const int64_t full_lines = std::count(first.out.begin(), first.out.end(), '\n');
  int kills = 0, trials = 0, completed = 1;
  while (kills < kills_wanted && trials < 4 * kills_wanted) {
    ++trials;
    // Kill after 0..all lines (0: during start-up), plus up to 3 ms into the next operation.
    const int64_t after = static_cast<int64_t>(rnd.Below(static_cast<uint64_t>(full_lines + 1)));
    RunResult r = RunHelper(dir.path(), rnd.Next64(), after, static_cast<int64_t>(rnd.Below(3000)));
    bool finished = false;
    Parse(r, &acked, &finished);
    // Only kills before the script's end count (a kill after "D" hits the exiting process).
    kills += r.killed && !finished ? 1 : 0;
    completed += finished ? 1 : 0;
    Verify(dir.path(), acked, trials);
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("durability: %d trials, %d killed by SIGKILL mid-script, %d ran to completion, %lld "
              "acknowledgements checked after every restart (%zu audit entries, %zu approvals, "
              "%zu releases, %zu halted); one full run takes %.1f ms\n",
              trials, kills, completed, static_cast<long long>(acked.acks), acked.audit.size(),
              acked.approvals.size(), acked.last_state.size(), acked.halted.size(),
              static_cast<double>(full_us) / 1000.0);
  EXPECT_GE(kills, kills_wanted);
}

}  // namespace
}  // namespace rf::service

namespace rf::service {
namespace {

// The checker itself must catch a lost acknowledgement (so the test above can fail).
TEST(Durability, CheckerDetectsALostAcknowledgement) {
  rf::testing::TempDir dir;
  Acked acked;
  bool done = false;
  Parse(RunHelper(dir.path(), 1, -1, 0), &acked, &done);
  ASSERT_TRUE(done);
  Acked lost_approval = acked;
  lost_approval.approvals.insert({"r-1", "zed"});
  EXPECT_NONFATAL_FAILURE(Verify(dir.path(), lost_approval, 1), "acknowledged approval");
  Acked lost_state = acked;
  lost_state.last_state["r-1"].time_us += 1;
  EXPECT_NONFATAL_FAILURE(Verify(dir.path(), lost_state, 1), "is not the acknowledged one");
  Acked lost_audit = acked;
  lost_audit.audit[lost_audit.audit.rbegin()->first] = std::string(64, '0');
  EXPECT_NONFATAL_FAILURE(Verify(dir.path(), lost_audit, 1), "differs from the acknowledged one");
}

}  // namespace
}  // namespace rf::service
