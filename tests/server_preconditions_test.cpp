// HTTP's own conditional requests on a stream: reads send ETag: "<version>",
// writes take If-Match: "<version>" or * and If-None-Match: * as they take
// Expected-Version, and a mismatch answers 412 with the actual version; and
// `to`, which makes the pages of a read one snapshot up to that version.
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

// The 412 of a failed precondition: the conflict body and the actual ETag.
void precondition_failed(const http_response& r, const std::string& actual) {
  EXPECT_EQ(r.status, 412) << r;
  EXPECT_EQ(r.error_code(), "wrong_expected_version") << r;
  EXPECT_EQ(json::serialize(r.json().at("actual")), actual) << r;
  if (actual != "null") {
    EXPECT_EQ(r.header("ETag").value_or(""), "\"" + actual + "\"") << r;
  }
}

TEST_F(server_test, reads_send_the_streams_version_as_etag_and_writes_take_it_back) {
  start();
  // If-None-Match: * creates the stream, once.
  auto created = post("/streams/cart-1", event_json("Opened"), {"If-None-Match: *"});
  ASSERT_EQ(created.status, 201) << created;
  precondition_failed(post("/streams/cart-1", event_json("Opened"), {"If-None-Match: *"}), "0");
  // If-Match: * needs the stream; a missing one has no version to send.
  precondition_failed(post("/streams/cart-9", event_json("A"), {"If-Match: *"}), "null");
  EXPECT_EQ(get("/streams/cart-9").status, 404);

  append_ok("cart-1", batch_json(2, "ItemAdded"), {"If-Match: *"});
  auto page = get("/streams/cart-1");
  ASSERT_EQ(page.status, 200) << page;
  EXPECT_EQ(page.header("ETag").value_or(""), "\"2\"") << page;
  auto head = http({.method = "HEAD", .path = "/streams/cart-1"});
  EXPECT_EQ(head.header("ETag").value_or(""), "\"2\"") << head;

  // Read, decide, write with what the read sent: the first writer wins.
  const std::string tag = "If-Match: " + page.header("ETag").value_or("");
  auto won = post("/streams/cart-1", event_json("CheckedOut"), {tag});
  ASSERT_EQ(won.status, 201) << won;
  precondition_failed(post("/streams/cart-1", event_json("CheckedOut"), {tag}), "3");
  EXPECT_EQ(get("/streams/cart-1").json().at("events").as_array().size(), 4u) << "the loser wrote nothing";

  // Deletes and metadata changes take them too.
  precondition_failed(http({.method = "DELETE", .path = "/streams/cart-1", .headers = {"If-Match: \"1\""}}),
                      "3");
  auto limited = http(
      {.method = "PUT", .path = "/streams/cart-1/metadata", .body = R"({"maxCount":2})", .headers = {tag}});
  precondition_failed(limited, "3");
  auto deleted = http({.method = "DELETE", .path = "/streams/cart-1", .headers = {"If-Match: \"3\""}});
  EXPECT_EQ(deleted.status, 200) << deleted;
  // Expected-Version keeps answering 409.
  EXPECT_EQ(post("/streams/cart-2", event_json("A"), {"Expected-Version: 5"}).status, 409);
}

TEST_F(server_test, a_malformed_or_doubled_precondition_is_400_and_writes_nothing) {
  start();
  append_ok("cart-1", event_json("Opened"));
  for (const std::vector<std::string>& headers : std::vector<std::vector<std::string>>{
           {"If-Match: 0"},                            // not quoted
           {"If-Match: W/\"0\""},                      // weak: never matches a write
           {"If-Match: \"0\", \"1\""},                 // a list
           {"If-Match: \"-1\""},                       // not a version
           {"If-None-Match: \"0\""},                   // only * on a write
           {"If-Match: \"0\"", "If-None-Match: *"},    // both
           {"If-Match: \"0\"", "Expected-Version: 0"}  // two ways at once
       }) {
    auto r = post("/streams/cart-1", event_json("A"), headers);
    EXPECT_EQ(r.status, 400) << headers.front() << ": " << r;
    EXPECT_EQ(r.error_code(), "invalid_expected_version") << r;
  }
  EXPECT_EQ(get("/streams/cart-1").json().at("events").as_array().size(), 1u);
}

TEST_F(server_test, pages_up_to_to_read_one_snapshot_while_appends_go_on) {
  start();
  append_ok("log-1", batch_json(5, "A"));
  auto first = get("/streams/log-1?limit=2");
  ASSERT_EQ(first.status, 200) << first;
  const std::string to = json::serialize(first.json().at("version"));
  ASSERT_EQ(to, "4");
  append_ok("log-1", batch_json(3, "A"));  // after the snapshot began
  std::vector<std::uint64_t> seen = versions_of(first.json());
  for (std::string from = json::serialize(first.json().at("next")); from != "null";) {
    auto page = get("/streams/log-1?limit=2&from=" + from + "&to=" + to);
    ASSERT_EQ(page.status, 200) << page;
    for (const auto v : versions_of(page.json())) seen.push_back(v);
    from = json::serialize(page.json().at("next"));
  }
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
  // A page's version and ETag are its snapshot's: with `to`, at most `to`.
  auto bounded = get("/streams/log-1?to=2");
  EXPECT_EQ(json::serialize(bounded.json().at("version")), "2");
  EXPECT_EQ(bounded.header("ETag").value_or(""), "\"2\"");
  EXPECT_EQ(post("/streams/log-1", event_json("A"), {"If-Match: \"2\""}).status, 412)
      << "the stream went on past the snapshot";
  EXPECT_EQ(json::serialize(get("/streams/log-1?to=99").json().at("version")), "7");
  auto back = get("/streams/log-1?direction=backward&limit=2&to=3").json();
  EXPECT_EQ(versions_of(back), (std::vector<std::uint64_t>{3, 2}));
  for (const std::string bad : {"-1", "x", ""}) {
    auto r = get("/streams/log-1?to=" + bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r;
    EXPECT_EQ(r.error_code(), "invalid_argument") << r;
  }
}

}  // namespace
