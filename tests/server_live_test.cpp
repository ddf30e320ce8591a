// evstored black-box tests: Server-Sent Events and WebSocket subscriptions,
// consumers over WebSocket (see support/server_fixture.hpp for the harness).
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

TEST_F(server_test, sse_catch_up_then_caught_up_then_live_and_last_event_id_resume) {
  auto& s = start();
  append_ok("sse-1", batch_json(3));
  {
    sse_client c(s.base() + "/streams/sse-1?live=true", {}, scratch() + "/evstored-sse.err");
    EXPECT_NE(lower(c.headers()).find("content-type: text/event-stream"), std::string::npos) << c.headers();
    EXPECT_NE(c.headers().find(" 200"), std::string::npos) << c.headers();
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      auto m = c.next();
      ASSERT_TRUE(m) << "catch-up event " << i;
      EXPECT_EQ(m->event, "event");
      ids.push_back(m->id);
      const auto d = parse_json(m->data);
      ASSERT_TRUE(d.is_object()) << m->data;
      EXPECT_EQ(std::to_string(u64(d.at("version"))), m->id);
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"0", "1", "2"}));
    auto caught = c.next();
    ASSERT_TRUE(caught);
    EXPECT_EQ(caught->event, "caughtUp");
    append_ok("sse-1", event_json("Live", "{\"n\":3}"));
    append_ok("sse-1", event_json("Live", "{\"n\":4}"));
    for (const char* want : {"3", "4"}) {
      auto m = c.next();
      ASSERT_TRUE(m) << "live event " << want;
      EXPECT_EQ(m->id, want);
      EXPECT_EQ(parse_json(m->data).at("type"), "Live");
    }
    c.stop();
  }
  {
    // Resume: Last-Event-ID 3 gives 4, then caughtUp.
    sse_client c(s.base() + "/streams/sse-1?live=true", {"Last-Event-ID: 3"},
                 scratch() + "/evstored-sse.err");
    auto m = c.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, "4");
    auto caught = c.next();
    ASSERT_TRUE(caught);
    EXPECT_EQ(caught->event, "caughtUp");
    c.stop();
  }
  {
    // $all: id is the position.
    append_ok("sse-2", event_json("Other"));
    sse_client c(s.base() + "/streams/$all?live=true", {"Last-Event-ID: 4"}, scratch() + "/evstored-sse.err");
    auto m = c.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->id, "5");
    EXPECT_EQ(parse_json(m->data).at("stream"), "sse-2");
    c.stop();
  }
  // The server still answers after the streams were dropped.
  EXPECT_EQ(get("/health").status, 200);
}

// An SSE subscription to a read stream that is deleted ends with an error
// event saying so (the engine's code and detail), then the server closes it.
TEST_F(server_test, sse_subscription_to_a_deleted_read_stream_ends_with_stream_deleted) {
  auto& s = start();
  append_ok("o-1", event_json("Paid", "{}"));
  auto put =
      http({.method = "PUT", .path = "/read-streams/paid", .body = R"({"filter":{"types":["Paid"]}})"});
  ASSERT_EQ(put.status, 201) << put;
  wait_for_events("/streams/paid", 1);
  sse_client c(s.base() + "/streams/paid?live=true", {}, scratch() + "/evstored-sse.err");
  auto first = c.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->event, "event");
  auto caught = c.next();
  ASSERT_TRUE(caught);
  EXPECT_EQ(caught->event, "caughtUp");
  auto del = http({.method = "DELETE", .path = "/read-streams/paid"});
  ASSERT_TRUE(del.status == 200 || del.status == 204) << del;
  auto end = c.next();
  ASSERT_TRUE(end) << "no event after the read stream was deleted";
  EXPECT_EQ(end->event, "error");
  const auto d = parse_json(end->data);
  ASSERT_TRUE(d.is_object()) << end->data;
  EXPECT_EQ(d.at("error"), "stream_deleted") << end->data;
  EXPECT_NE(end->data.find("read stream 'paid' was deleted"), std::string::npos) << end->data;
  EXPECT_FALSE(c.next(2s)) << "the stream stays open after its error event";
}

// ============================================================================
// WebSocket
// ============================================================================

TEST_F(server_test, websocket_catch_up_caught_up_then_live_in_order_without_gap) {
  auto& s = start();
  append_ok("ws-1", batch_json(300));  // more than one catch-up batch
  append_ok("ws-other", event_json("Noise"));
  auto c = ws(s, "/subscribe?stream=ws-1&from=0", {"until=caughtUp", "mark=ready", "events=320"});
  // Racing the catch-up: appends while the client is still reading history.
  for (int i = 0; i < 10; ++i) append_ok("ws-1", event_json("Racing", "{\"i\":" + std::to_string(i) + "}"));
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; }))
      << got.transcript();
  // Live: appends after caughtUp.
  for (int i = 0; i < 5; ++i) append_ok("ws-1", event_json("Live", "{\"i\":" + std::to_string(i) + "}"));
  append_ok("ws-other", event_json("Noise"));
  append_ok("ws-1", batch_json(5, "LiveBatch"));
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  EXPECT_EQ(c->wait_exit(5s), 0);
  EXPECT_EQ(event_versions(got), iota_vec(0, 320)) << "gap, duplicate or reordering";
  int caught_up = 0;
  for (const auto& m : got.messages) {
    if (const auto* o = m.if_object(); o && o->contains("caughtUp")) {
      ++caught_up;
      EXPECT_EQ(m.at("caughtUp"), true);
      EXPECT_TRUE(o->contains("version")) << json::serialize(m);
    }
  }
  EXPECT_EQ(caught_up, 1);
  for (const auto& m : got.messages) {
    if (const auto* o = m.if_object(); o && o->contains("event")) {
      EXPECT_EQ(m.at("event").at("stream"), "ws-1");
    }
  }
}

TEST_F(server_test, websocket_default_from_is_the_end_and_all_is_the_default_stream) {
  auto& s = start();
  append_ok("wd-1", batch_json(3));
  auto c = ws(s, "/subscribe", {"until=caughtUp", "mark=ready", "events=2"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; }))
      << got.transcript();
  EXPECT_TRUE(event_versions(got).empty()) << "only new events by default: " << got.transcript();
  append_ok("wd-2", event_json("New"));
  append_ok("wd-1", event_json("New"));
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  EXPECT_EQ(event_versions(got, "position"), (std::vector<std::uint64_t>{3, 4}));
}

TEST_F(server_test, websocket_consumer_acks_and_resumes_after_reconnect) {
  auto& s = start();
  append_ok("cs-1", batch_json(5));
  {
    auto c = ws(s, "/subscribe?stream=cs-1&consumer=mailer",
                {"events=3", R"(send={"ack":2,"state":{"seen":3}})", "until=acked"});
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(c->wait_exit(5s), 0);
    const auto v = event_versions(got);
    ASSERT_GE(v.size(), 3u) << got.transcript();
    EXPECT_EQ(std::vector<std::uint64_t>(v.begin(), v.begin() + 3), iota_vec(0, 3));
    ASSERT_FALSE(got.messages.empty());
    EXPECT_EQ(json::serialize(got.messages.back()), R"({"acked":2})") << got.transcript();
  }
  auto state = get("/consumers/mailer?stream=cs-1");
  ASSERT_EQ(state.status, 200) << state;
  EXPECT_EQ(state.json().at("stream"), "cs-1");
  EXPECT_EQ(u64(state.json().at("position")), 3u) << "the next event to deliver: " << state;
  EXPECT_EQ(json::serialize(state.json().at("state")), R"({"seen":3})") << state;
  {
    // Reconnect at once: resumes after the ack (3, 4), then caughtUp, then live.
    std::unique_ptr<child_process> c;
    ws_messages got;
    c = ws(s, "/subscribe?stream=cs-1&consumer=mailer",
           {"until=caughtUp", "mark=ready", "events=3", R"(send={"ack":5})", "until=acked"});
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) {
      return l == "MARK ready" || l.rfind("CLOSE", 0) == 0;
    })) << got.transcript();
    ASSERT_EQ(got.lines.back(), "MARK ready") << "reconnecting right after a clean close was refused:\n"
                                              << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{3, 4})) << got.transcript();
    append_ok("cs-1", event_json("Live"));
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{3, 4, 5}));
    EXPECT_EQ(json::serialize(got.messages.back()), R"({"acked":5})") << got.transcript();
  }
  auto after = get("/consumers/mailer?stream=cs-1");
  EXPECT_EQ(u64(after.json().at("position")), 6u) << after;
  // The name alone finds it while it is the only "mailer"; GET /consumers lists all.
  auto by_name = get("/consumers/mailer");
  ASSERT_EQ(by_name.status, 200) << by_name;
  EXPECT_EQ(by_name.json().at("stream"), "cs-1");
  EXPECT_EQ(u64(by_name.json().at("position")), 6u) << by_name;
  {
    auto c =
        ws(s, "/subscribe?stream=cs-2&consumer=mailer", {"events=1", R"(send={"ack":0})", "until=acked"});
    append_ok("cs-2", event_json("A"));
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }
  auto ambiguous = get("/consumers/mailer");
  EXPECT_EQ(ambiguous.status, 409) << ambiguous;
  EXPECT_EQ(ambiguous.error_code(), "ambiguous_consumer") << ambiguous;
  EXPECT_EQ(json::serialize(ambiguous.json().at("streams")), R"(["cs-1","cs-2"])") << ambiguous;
  auto all = get("/consumers");
  ASSERT_EQ(all.status, 200) << all;
  ASSERT_EQ(all.json().as_array().size(), 2u) << all;
  EXPECT_EQ(all.json().as_array()[1].at("stream"), "cs-2") << all;
  EXPECT_EQ(u64(all.json().as_array()[1].at("position")), 1u) << all;
}

TEST_F(server_test, websocket_bad_parameters_close_4400_and_oversized_message_closes_1009) {
  auto& s = start({"--ws-max-message", "1024"});
  append_ok("wb-1", event_json("A"));
  for (const std::string q :
       {"/subscribe?stream=..%2Fx", "/subscribe?stream=wb-1&from=abc", "/subscribe?stream=wb-1&from=-1",
        "/subscribe?stream=", "/subscribe?stream=a%00b", "/subscribe?stream=wb-1&consumer=..%2F..%2Fescape",
        "/subscribe?stream=wb-1&consumer="}) {
    auto c = ws(s, q, {"wait_close"}, {}, 2);
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) {
      return l.rfind("CLOSE", 0) == 0 || l.rfind("REJECTED", 0) == 0;
    });
    ASSERT_FALSE(got.lines.empty()) << q;
    EXPECT_EQ(got.lines.back().substr(0, 10), "CLOSE 4400") << q << "\n" << got.transcript();
    EXPECT_EQ(get("/health").status, 200) << "after " << q;
  }
  {
    auto c = ws(s, "/subscribe?stream=wb-1&from=0", {"until=caughtUp", "sendbytes=4096", "wait_close"});
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("CLOSE", 0) == 0; });
    ASSERT_FALSE(got.lines.empty());
    EXPECT_EQ(got.lines.back().substr(0, 10), "CLOSE 1009") << got.transcript();
  }
  {
    // A message that is not an ack on a plain subscription is answered with an error, not a crash.
    auto c = ws(s, "/subscribe?stream=wb-1&from=0", {"until=caughtUp", "send={nonsense", "until=error"});
    ws_messages got;
    EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }
  EXPECT_EQ(get("/health").status, 200);
  EXPECT_TRUE(files_outside_data().empty());
}

// ============================================================================
// Bad inputs over HTTP
// ============================================================================

}  // namespace
