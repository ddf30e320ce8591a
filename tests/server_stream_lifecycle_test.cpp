// evstored's stream lifecycle routes: DELETE /streams/{stream} (soft, hard,
// erase), PUT/GET /streams/{stream}/metadata and POST/GET /admin/scavenge,
// with their errors and tokens.
#include "support/server_fixture.hpp"

using namespace evstore::test::server;
using evstore::test::files_holding;

namespace {

class lifecycle_server_test : public server_test {
 protected:
  http_response del(const std::string& path, std::vector<std::string> headers = {}) {
    return http({.method = "DELETE", .path = path, .headers = std::move(headers)});
  }
  http_response put(const std::string& path, const std::string& body, std::vector<std::string> headers = {}) {
    return http({.method = "PUT", .path = path, .body = body, .headers = std::move(headers)});
  }
};

TEST_F(lifecycle_server_test, a_soft_delete_answers_404_stream_deleted_until_an_append_recreates_the_stream) {
  start();
  append_ok("order-1", batch_json(3));
  append_ok("order-2", batch_json(1));

  auto stale = del("/streams/order-1", {"Expected-Version: 1"});
  EXPECT_EQ(stale.status, 409) << stale;
  EXPECT_EQ(stale.error_code(), "wrong_expected_version");
  EXPECT_EQ(u64(stale.json().as_object().at("actual")), 2u);

  auto deleted = del("/streams/order-1", {"Expected-Version: 2"});
  ASSERT_EQ(deleted.status, 200) << deleted;
  EXPECT_EQ(u64(deleted.json().as_object().at("version")), 2u);
  EXPECT_EQ(u64(deleted.json().as_object().at("position")), 4u);

  auto gone = get("/streams/order-1");
  EXPECT_EQ(gone.status, 404) << gone;
  EXPECT_EQ(gone.error_code(), "stream_deleted");
  auto all = get("/streams/$all");
  ASSERT_EQ(all.status, 200) << all;
  std::vector<std::string> streams;
  const auto page = all.json();
  for (const auto& e : page.as_object().at("events").as_array())
    streams.emplace_back(e.as_object().at("stream").as_string().c_str());
  EXPECT_EQ(streams, (std::vector<std::string>{"order-2", "$lifecycle"}));
  auto head = http({.method = "HEAD", .path = "/streams/order-1"});
  EXPECT_EQ(head.header("Stream-Version"), std::optional<std::string>("2")) << head;
  EXPECT_EQ(get("/streams/order-1/metadata").json().as_object().at("truncateBefore").as_int64(), 3);

  auto again = post("/streams/order-1", event_json("Reopened"), {"Expected-Version: 2"});
  ASSERT_EQ(again.status, 201) << again;
  EXPECT_EQ(u64(again.json().as_object().at("version")), 3u);
  EXPECT_EQ(versions_of(get("/streams/order-1").json()), std::vector<std::uint64_t>{3});

  EXPECT_EQ(del("/streams/never-1").error_code(), "stream_not_found");
  EXPECT_EQ(del("/streams/order-2?hard=maybe").status, 400);
  EXPECT_EQ(del("/streams/order-2?erase=maybe").status, 400);
  EXPECT_EQ(del("/streams/$all").status, 400);
}

TEST_F(lifecycle_server_test, a_hard_delete_answers_410_to_every_later_write) {
  start();
  append_ok("user-1", batch_json(2));
  ASSERT_EQ(del("/streams/user-1?hard=true").status, 200);
  auto append = post("/streams/user-1", event_json("Back"));
  EXPECT_EQ(append.status, 410) << append;
  EXPECT_EQ(append.error_code(), "stream_tombstoned");
  EXPECT_EQ(del("/streams/user-1").status, 410);
  EXPECT_EQ(put("/streams/user-1/metadata", "{}").status, 410);
  EXPECT_EQ(get("/streams/user-1").error_code(), "stream_deleted");
}

TEST_F(lifecycle_server_test, metadata_limits_reads_and_bad_metadata_is_refused_with_nothing_written) {
  start();
  append_ok("log-1", batch_json(5));
  for (const std::string bad :
       {"[]", "{\"maxCount\":-1}", "{\"maxCount\":\"3\"}", "{\"maxLength\":3}", "{"}) {
    auto r = put("/streams/log-1/metadata", bad);
    EXPECT_EQ(r.status, 400) << bad << ": " << r;
  }
  EXPECT_EQ(get("/streams/$lifecycle").status, 404) << "nothing refused was written";

  auto set = put("/streams/log-1/metadata", R"({"maxCount":2,"truncateBefore":1,"maxAge":null})");
  ASSERT_EQ(set.status, 200) << set;
  EXPECT_EQ(versions_of(get("/streams/log-1").json()), (std::vector<std::uint64_t>{3, 4}));
  auto got = get("/streams/log-1/metadata");
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(got.json(),
            parse_json(R"({"stream":"log-1","maxCount":2,"maxAge":null,"truncateBefore":1,"acl":null})"));
  ASSERT_EQ(put("/streams/log-1/metadata", "{}").status, 200);
  EXPECT_EQ(versions_of(get("/streams/log-1").json()).size(), 5u);
  EXPECT_EQ(http({.method = "POST", .path = "/streams/log-1/metadata", .body = "{}"}).status, 405);
}

TEST_F(lifecycle_server_test, deleting_needs_a_write_token_whose_prefixes_hold_the_stream) {
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens,
             "write  admin-token-0123456789ab\nwrite  orders-writer-0123456789 orders-\n"
             "append orders-feeder-0123456789 orders-\nread   orders-reader-0123456789 orders-\n");
  start({"--token-file", tokens});
  const auto as = [](const std::string& t) { return std::vector<std::string>{"Authorization: Bearer " + t}; };
  append_ok("orders-1", batch_json(1), as("admin-token-0123456789ab"));
  append_ok("carts-1", batch_json(1), as("admin-token-0123456789ab"));
  EXPECT_EQ(del("/streams/orders-1", as("orders-feeder-0123456789")).status, 403);
  EXPECT_EQ(del("/streams/orders-1", as("orders-reader-0123456789")).status, 403);
  EXPECT_EQ(del("/streams/carts-1", as("orders-writer-0123456789")).status, 403);
  EXPECT_EQ(put("/streams/carts-1/metadata", "{}", as("orders-writer-0123456789")).status, 403);
  EXPECT_EQ(get("/streams/carts-1/metadata", as("orders-reader-0123456789")).status, 403);
  EXPECT_EQ(get("/streams/orders-1", as("admin-token-0123456789ab")).status, 200) << "nothing was deleted";
  EXPECT_EQ(del("/streams/orders-1", as("orders-writer-0123456789")).status, 200);
  EXPECT_EQ(get("/streams/orders-1/metadata", as("orders-reader-0123456789")).status, 200);
}

TEST_F(lifecycle_server_test, erase_removes_a_streams_event_bodies_from_every_file_before_answering) {
  start();
  const std::string marker = "erase-me-4b1d";
  append_ok("user-7", event_json("Registered", R"({"email":")" + marker + R"("})"));
  append_ok("user-7", event_json("Moved", R"({"city":")" + marker + R"("})"));
  append_ok("user-8", event_json("Registered", R"({"email":"kept@example.com"})"));
  ASSERT_FALSE(files_holding(data_dir(), marker).empty());
  auto erased = del("/streams/user-7?hard=true&erase=true", {"Expected-Version: 1"});
  ASSERT_EQ(erased.status, 200) << erased;
  const auto body = erased.json();
  EXPECT_EQ(u64(body.as_object().at("version")), 1u);
  EXPECT_EQ(u64(body.as_object().at("eventsErased")), 2u);
  EXPECT_GT(u64(body.as_object().at("bytesErased")), 2 * marker.size());
  EXPECT_EQ(files_holding(data_dir(), marker), std::vector<std::string>{});
  EXPECT_EQ(get("/streams/user-7").error_code(), "stream_deleted");
  EXPECT_EQ(post("/streams/user-7", event_json("Back")).status, 410);
  EXPECT_EQ(versions_of(get("/streams/user-8").json()), std::vector<std::uint64_t>{0});
  auto stale = del("/streams/user-8?erase=true", {"Expected-Version: 5"});
  EXPECT_EQ(stale.status, 409) << "a refused delete erases nothing";
  EXPECT_EQ(versions_of(get("/streams/user-8").json()), std::vector<std::uint64_t>{0});
}

TEST_F(lifecycle_server_test, admin_scavenge_starts_once_reports_progress_and_needs_an_admin_token) {
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens,
             "write  admin-token-0123456789ab\nwrite  orders-writer-0123456789 orders-\n"
             "read   reader-token-0123456789ab\n");
  start({"--token-file", tokens});
  const auto as = [](const std::string& t) { return std::vector<std::string>{"Authorization: Bearer " + t}; };
  const auto admin = as("admin-token-0123456789ab");
  append_ok("orders-1", batch_json(3), admin);
  append_ok("orders-2", batch_json(4), admin);
  ASSERT_EQ(del("/streams/orders-1", admin).status, 200);
  ASSERT_EQ(put("/streams/orders-2/metadata", R"({"maxCount":1})", admin).status, 200);

  auto idle = get("/admin/scavenge", admin);
  ASSERT_EQ(idle.status, 200) << idle;
  EXPECT_TRUE(idle.json().as_object().at("startedAt").is_null());
  EXPECT_EQ(
      http({.method = "POST", .path = "/admin/scavenge", .headers = as("orders-writer-0123456789")}).status,
      403);
  EXPECT_EQ(get("/admin/scavenge", as("reader-token-0123456789ab")).status, 403);
  EXPECT_EQ(put("/admin/scavenge", "{}", admin).status, 405);

  auto started = http({.method = "POST", .path = "/admin/scavenge", .headers = admin});
  ASSERT_EQ(started.status, 202) << started;
  EXPECT_FALSE(started.json().as_object().at("startedAt").is_null());
  json::value last;
  for (int i = 0; i < 500; ++i) {
    last = get("/admin/scavenge", admin).json();
    if (!last.as_object().at("running").as_bool()) break;
    std::this_thread::sleep_for(10ms);
  }
  const auto& o = last.as_object();
  ASSERT_FALSE(o.at("running").as_bool()) << json::serialize(last);
  EXPECT_TRUE(o.at("error").is_null()) << json::serialize(last);
  EXPECT_EQ(u64(o.at("eventsErased")), 3u + 3u);
  EXPECT_EQ(u64(o.at("streamsDone")), 2u);
  EXPECT_EQ(u64(o.at("streamsTotal")), 2u);
  EXPECT_FALSE(o.at("finishedAt").is_null());
  EXPECT_EQ(versions_of(get("/streams/orders-2", admin).json()), std::vector<std::uint64_t>{3});
}

}  // namespace
