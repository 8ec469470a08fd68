#include "server/ui_what_if.h"

#include <gtest/gtest.h>

#include "server/ui_test_util.h"

namespace rf::server {
namespace {

struct Calls {
  double p = -1;
  std::string signal;
  std::string release;
};

WhatIfApi Make(Calls* calls) {
  return WhatIfApi(
      UiTestAuth,
      [](std::string_view id) -> Result<ReleaseRecord> {
        if (id != "r-1") return Status::NotFound("unknown release " + std::string(id));
        ReleaseRecord r;
        r.release_id = "r-1";
        return r;
      },
      [calls](const ReleaseRecord& r, double p, std::string_view signal) -> Result<std::string> {
        calls->p = p;
        calls->signal = std::string(signal);
        calls->release = r.release_id;
        return std::string("{\"policies\":[]}");
      });
}

TEST(WhatIfApi, HandlesOnlyItsPath) {
  EXPECT_TRUE(WhatIfApi::Handles("/v1/releases/r-1/what-if"));
  EXPECT_FALSE(WhatIfApi::Handles("/v1/releases/r-1/history"));
  EXPECT_FALSE(WhatIfApi::Handles("/v1/releases/a/b/what-if"));
}

TEST(WhatIfApi, PassesTheReleaseAndQueryToTheSimulation) {
  Calls calls;
  WhatIfApi api = Make(&calls);
  HttpResponse r = api.Handle(UiTestGet("/v1/releases/r-1/what-if"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"policies\":[]}");
  EXPECT_EQ(calls.p, 1.0);
  EXPECT_EQ(calls.signal, "crash");
  EXPECT_EQ(calls.release, "r-1");
  HttpRequest q = UiTestGet("/v1/releases/r-1/what-if");
  q.query["p"] = "0.25";
  q.query["signal"] = "silence";
  ASSERT_EQ(api.Handle(q).status, 200);
  EXPECT_EQ(calls.p, 0.25);
  EXPECT_EQ(calls.signal, "silence");
}

TEST(WhatIfApi, RefusesBadRequestsWithoutSimulating) {
  Calls calls;
  WhatIfApi api = Make(&calls);
  EXPECT_EQ(api.Handle(UiTestGet("/v1/releases/r-1/what-if", "nope")).status, 401);
  EXPECT_EQ(api.Handle(UiTestGet("/v1/releases/r-1/what-if", "agent")).status, 403);
  EXPECT_EQ(api.Handle(UiTestGet("/v1/releases/r-9/what-if")).status, 404);
  for (auto [k, v] : {std::pair<const char*, const char*>{"p", "1.5"}, {"p", "x"}, {"p", ""},
                      {"signal", "fire"}, {"limit", "3"}}) {
    HttpRequest q = UiTestGet("/v1/releases/r-1/what-if");
    q.query[k] = v;
    EXPECT_EQ(api.Handle(q).status, 400) << k << "=" << v;
  }
  HttpRequest post = UiTestGet("/v1/releases/r-1/what-if");
  post.method = "POST";
  EXPECT_EQ(api.Handle(post).status, 405);
  EXPECT_EQ(calls.p, -1) << "nothing was simulated";
}

TEST(WhatIfApi, WithoutASimulatorIs503) {
  WhatIfApi api(UiTestAuth, [](std::string_view) -> Result<ReleaseRecord> { return ReleaseRecord{}; }, nullptr);
  EXPECT_EQ(api.Handle(UiTestGet("/v1/releases/r-1/what-if")).status, 503);
}

}  // namespace
}  // namespace rf::server
