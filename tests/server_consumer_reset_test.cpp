// evstored: consumers advanced with {"commit": next} (and the older
// {"ack": last}), and rewound with PUT /consumers/{name}?stream=.
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

TEST_F(server_test, a_websocket_consumer_commits_the_next_position_and_ack_stays_its_alias) {
  auto& s = start();
  append_ok("cr-1", batch_json(5));
  {
    auto c = ws(s, "/subscribe?stream=cr-1&consumer=proj",
                {"events=3", R"(send={"commit":3,"state":{"seen":3}})", "until=committed"});
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(json::serialize(got.messages.back()), R"({"committed":3})") << got.transcript();
  }
  auto after_commit = get("/consumers/proj?stream=cr-1");
  EXPECT_EQ(u64(after_commit.json().at("position")), 3u) << after_commit;
  {
    // {"ack": 3} is {"commit": 4}; both at once, or a commit backwards, are refused.
    auto c = ws(s, "/subscribe?stream=cr-1&consumer=proj",
                {"events=1", R"(send={"ack":3})", "until=acked", R"(send={"ack":3,"commit":4})",
                 "until=error", R"(send={"commit":2})", "until=error"});
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    ASSERT_GE(got.messages.size(), 3u) << got.transcript();
    const auto& last = got.messages.back();
    EXPECT_EQ(last.at("error"), "invalid_argument") << got.transcript();
    EXPECT_EQ(u64(last.at("commit")), 2u) << got.transcript();
    EXPECT_NE(json::serialize(last).find("behind the committed position 4"), std::string::npos)
        << got.transcript();
    EXPECT_EQ(got.messages[got.messages.size() - 2].at("error"), "invalid_message") << got.transcript();
  }
  EXPECT_EQ(u64(get("/consumers/proj?stream=cr-1").json().at("position")), 4u);
}

TEST_F(server_test, put_consumer_rewinds_it_and_a_new_session_replays_from_there) {
  auto& s = start();
  append_ok("cr-2", batch_json(4));
  {
    // While a session holds the consumer, a reset is refused: it would move
    // the position under a client that is still committing.
    auto c = ws(s, "/subscribe?stream=cr-2&consumer=proj",
                {"events=4", R"(send={"commit":4})", "until=committed", "mark=held", "wait_close"});
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK held"; }))
        << got.transcript();
    auto busy = http({.method = "PUT", .path = "/consumers/proj?stream=cr-2", .body = R"({"position":0})"});
    EXPECT_EQ(busy.status, 409) << busy;
    EXPECT_EQ(busy.error_code(), "consumer_busy") << busy;
  }
  // The session is gone once its connection is: retry until the lock is free.
  http_response reset;
  for (int i = 0; i < 100; ++i) {
    reset = http({.method = "PUT",
                  .path = "/consumers/proj?stream=cr-2",
                  .body = R"({"position":1,"state":{"rebuilt":true}})"});
    if (reset.status != 409) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(reset.status, 200) << reset;
  EXPECT_EQ(json::serialize(reset.json()),
            R"({"stream":"cr-2","consumer":"proj","position":1,"state":{"rebuilt":true}})");
  auto stored = get("/consumers/proj?stream=cr-2");
  EXPECT_EQ(u64(stored.json().at("position")), 1u) << stored;
  EXPECT_EQ(json::serialize(stored.json().at("state")), R"({"rebuilt":true})") << stored;
  {
    auto c = ws(s, "/subscribe?stream=cr-2&consumer=proj", {"until=caughtUp"});
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{1, 2, 3})) << got.transcript();
  }
  // A consumer that never ran can be placed, e.g. at the end of the stream.
  auto placed = http({.method = "PUT", .path = "/consumers/late?stream=cr-2", .body = R"({"position":4})"});
  ASSERT_EQ(placed.status, 200) << placed;
  EXPECT_EQ(placed.json().at("state"), nullptr) << placed;
}

TEST_F(server_test, a_bad_consumer_reset_is_a_clear_400_and_changes_nothing) {
  start();
  append_ok("cr-3", batch_json(2));
  ASSERT_EQ(
      http({.method = "PUT", .path = "/consumers/proj?stream=cr-3", .body = R"({"position":2,"state":[1]})"})
          .status,
      200);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"/consumers/proj", "?stream="},
      {"/consumers/proj?stream=cr-3", "the body must be a JSON object"},
      {"/consumers/proj?stream=cr-3", "position is required"},
      {"/consumers/proj?stream=cr-3", "position must be a non-negative integer"},
      {"/consumers/proj?stream=cr-3", "unknown member 'from'"},
      {"/consumers/proj?stream=cr-3", "beyond the 2 published events"},
  };
  const std::vector<std::string> bodies = {R"({"position":0})", "[]",
                                           R"({"state":{}})",   R"({"position":-1})",
                                           R"({"from":0})",     R"({"position":3})"};
  for (std::size_t i = 0; i < bad.size(); ++i) {
    auto r = http({.method = "PUT", .path = bad[i].first, .body = bodies[i]});
    EXPECT_EQ(r.status, 400) << bodies[i] << ": " << r;
    EXPECT_NE(r.error_message().find(bad[i].second), std::string::npos) << bodies[i] << ": " << r;
  }
  auto bad_name = http({.method = "PUT", .path = "/consumers/..?stream=cr-3", .body = R"({"position":0})"});
  EXPECT_EQ(bad_name.status, 400) << bad_name;
  auto stored = get("/consumers/proj?stream=cr-3");
  EXPECT_EQ(u64(stored.json().at("position")), 2u) << stored;
  EXPECT_EQ(json::serialize(stored.json().at("state")), "[1]") << stored;
}

}  // namespace
