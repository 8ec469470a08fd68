#include "protocol/http_status.h"

#include <gtest/gtest.h>

namespace rf::protocol {
namespace {

TEST(HttpStatus, ServerMapping) {
  EXPECT_EQ(HttpStatusFor(Status::Ok()), 200);
  EXPECT_EQ(HttpStatusFor(Status::InvalidArgument("")), 400);
  EXPECT_EQ(HttpStatusFor(Status::Unauthenticated("")), 401);
  EXPECT_EQ(HttpStatusFor(Status::PermissionDenied("")), 403);
  EXPECT_EQ(HttpStatusFor(Status::NotFound("")), 404);
  EXPECT_EQ(HttpStatusFor(Status::AlreadyExists("")), 409);
  EXPECT_EQ(HttpStatusFor(Status::Aborted("")), 409);
  EXPECT_EQ(HttpStatusFor(Status::FailedPrecondition("")), 409);
  EXPECT_EQ(HttpStatusFor(Status::OutOfRange("")), 409);
  EXPECT_EQ(HttpStatusFor(Status::ResourceExhausted("")), 413);
  EXPECT_EQ(HttpStatusFor(Status::Unavailable("")), 503);
  EXPECT_EQ(HttpStatusFor(Status::DeadlineExceeded("")), 504);
  EXPECT_EQ(HttpStatusFor(Status::Internal("")), 500);
  EXPECT_EQ(HttpStatusFor(Status::DataLoss("")), 500);
}

TEST(HttpStatus, ClientMapping) {
  EXPECT_EQ(StatusFromHttp(400, "m").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(401, "m").code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(StatusFromHttp(403, "m").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusFromHttp(404, "m").code(), StatusCode::kNotFound);
  EXPECT_EQ(StatusFromHttp(405, "m").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusFromHttp(409, "m").code(), StatusCode::kAborted);
  EXPECT_EQ(StatusFromHttp(413, "m").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusFromHttp(429, "m").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(500, "m").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(503, "m").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(504, "m").code(), StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromHttp(404, "the message").message(), "the message");
}

// What a client makes of every refusal the server can send keeps the refusal's class.
TEST(HttpStatus, RoundTripKeepsTheClass) {
  for (const Status& s : {Status::InvalidArgument(""), Status::Unauthenticated(""),
                          Status::PermissionDenied(""), Status::NotFound(""),
                          Status::ResourceExhausted(""), Status::Unavailable("")}) {
    EXPECT_EQ(StatusFromHttp(HttpStatusFor(s), "").code(), s.code()) << s.ToString();
  }
  for (const Status& s : {Status::AlreadyExists(""), Status::FailedPrecondition(""),
                          Status::OutOfRange(""), Status::Aborted("")}) {
    EXPECT_EQ(StatusFromHttp(HttpStatusFor(s), "").code(), StatusCode::kAborted) << s.ToString();
  }
}

TEST(HttpStatus, ErrorBodySummary) {
  EXPECT_EQ(ErrorBodySummary(R"({"error":{"code":"stale_checkin","message":"seq 3 <= 4"}})"),
            "stale_checkin: seq 3 <= 4");
  EXPECT_EQ(ErrorBodySummary("not json"), "");
  EXPECT_EQ(ErrorBodySummary(R"({"error":"x"})"), "");
  EXPECT_EQ(ErrorBodySummary(R"({"error":{"code":"x","message":")" + std::string(400, 'm') + "\"}}")
                .size(),
            3u + 300u);
}

}  // namespace
}  // namespace rf::protocol
