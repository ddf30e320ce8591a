// evstored black-box tests: the request/response routes of docs/http.md (see
// support/server_fixture.hpp for the harness).
#include "format/stream_name.hpp"
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

TEST_F(server_test, append_single_and_batch_report_version_position_and_created_stream) {
  start();
  auto first = append_ok("order-1", event_json("OrderPlaced", "{\"total\":10}"));
  EXPECT_EQ(first.at("stream"), "order-1");
  EXPECT_EQ(u64(first.at("version")), 0u);
  EXPECT_EQ(u64(first.at("position")), 0u);
  EXPECT_EQ(first.at("createdStream"), true);

  auto batch = append_ok("order-1", "[" + event_json("ItemAdded", "{\"sku\":\"a\"}") + "," +
                                        event_json("ItemAdded", "{\"sku\":\"b\"}") + "," +
                                        event_json("OrderPaid", "{\"x\":1}") + "]");
  EXPECT_EQ(u64(batch.at("version")), 3u) << "version of the last appended event";
  EXPECT_EQ(u64(batch.at("position")), 3u);
  EXPECT_EQ(u64(batch.at("firstVersion")), 1u) << "version of the first appended event";
  EXPECT_EQ(u64(batch.at("firstPosition")), 1u) << "an append's events are contiguous in $all";
  EXPECT_EQ(batch.at("createdStream"), false);
  EXPECT_EQ(u64(first.at("firstVersion")), 0u);
  EXPECT_EQ(u64(first.at("firstPosition")), 0u);

  auto other = append_ok("order-2", event_json("OrderPlaced"));
  EXPECT_EQ(u64(other.at("version")), 0u);
  EXPECT_EQ(u64(other.at("position")), 4u);

  auto page = get("/streams/order-1");
  ASSERT_EQ(page.status, 200) << page;
  const auto j = page.json();
  EXPECT_EQ(j.at("stream"), "order-1");
  EXPECT_EQ(u64(j.at("version")), 3u);
  ASSERT_EQ(j.at("events").as_array().size(), 4u);
  const auto& e1 = j.at("events").as_array()[1];
  EXPECT_EQ(e1.at("stream"), "order-1");
  EXPECT_EQ(u64(e1.at("version")), 1u);
  EXPECT_EQ(u64(e1.at("position")), 1u);
  EXPECT_EQ(e1.at("type"), "ItemAdded");
  EXPECT_EQ(e1.at("data").at("sku"), "a");
  for (const char* field : {"metadata", "id", "committedAt"}) {
    EXPECT_TRUE(e1.as_object().contains(field)) << "event lacks \"" << field << "\": " << page.body;
  }
  EXPECT_EQ(j.at("next"), nullptr);
  EXPECT_EQ(page.header("Content-Type").value_or("").rfind("application/json", 0), 0u) << page.headers;

  // Metadata and a client id round-trip.
  auto with_meta = post("/streams/order-3", R"({"type":"T","data":{"a":[1,2]},"metadata":{"by":"me"},)"
                                            R"("id":"6f1c9e52-2f2b-4c55-9a55-1c2d3e4f5a6b"})");
  ASSERT_EQ(with_meta.status, 201) << with_meta;
  auto read3 = get("/streams/order-3").json();
  const auto& e = read3.at("events").as_array().at(0);
  EXPECT_EQ(e.at("metadata").at("by"), "me");
  EXPECT_EQ(e.at("id"), "6f1c9e52-2f2b-4c55-9a55-1c2d3e4f5a6b");
  EXPECT_EQ(e.at("data").at("a").as_array().size(), 2u);
}

TEST_F(server_test, expected_version_any_no_stream_stream_exists_exact_and_409_bodies) {
  start();
  auto conflict = [](const http_response& r, const std::string& expected, const std::string& actual) {
    EXPECT_EQ(r.status, 409) << r;
    EXPECT_EQ(r.error_code(), "wrong_expected_version") << r;
    const auto j = r.json();
    ASSERT_TRUE(j.is_object()) << r;
    ASSERT_TRUE(j.as_object().contains("expected")) << r;
    ASSERT_TRUE(j.as_object().contains("actual")) << r;
    // "expected" may be a number or a string naming the expectation.
    const auto& ex = j.at("expected");
    const std::string ex_text = ex.is_string() ? std::string(ex.as_string()) : json::serialize(ex);
    EXPECT_EQ(ex_text, expected) << r;
    EXPECT_EQ(json::serialize(j.at("actual")), actual) << r;
  };
  // stream_exists on a missing stream: 409, actual null.
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: stream_exists"}), "stream_exists",
           "null");
  // The message is the engine's detail.
  auto detailed = post("/streams/acct-1", event_json("A"), {"Expected-Version: 3"});
  EXPECT_NE(detailed.error_message().find("stream 'acct-1' has no events, expected 3"), std::string::npos)
      << detailed;
  // exact on a missing stream.
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: 0"}), "0", "null");
  auto created = append_ok("acct-1", event_json("Opened"), {"Expected-Version: no_stream"});
  EXPECT_EQ(created.at("createdStream"), true);
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: no_stream"}), "no_stream", "0");
  append_ok("acct-1", event_json("Deposited"), {"Expected-Version: stream_exists"});
  append_ok("acct-1", event_json("Deposited"), {"Expected-Version: 1"});
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: 1"}), "1", "2");
  conflict(post("/streams/acct-1", event_json("A"), {"Expected-Version: 7"}), "7", "2");
  append_ok("acct-1", event_json("Deposited"), {"Expected-Version: any"});
  auto last = append_ok("acct-1", event_json("Deposited"));  // default: any
  EXPECT_EQ(u64(last.at("version")), 4u);
  // Nothing was written by the conflicts.
  EXPECT_EQ(get("/streams/acct-1").json().at("events").as_array().size(), 5u);
  // A batch under an exact expectation is all or nothing.
  conflict(post("/streams/acct-1", batch_json(3), {"Expected-Version: 3"}), "3", "4");
  EXPECT_EQ(u64(get("/streams/acct-1").json().at("version")), 4u);
}

TEST_F(server_test, retrying_the_same_event_ids_returns_the_first_result_marked_duplicate) {
  start();
  append_ok("pay-1", event_json("Other"));
  const std::string body = "[" + event_json("Charged", "{\"c\":1}", "0d5d2a7e-8f0b-4a9e-9c1e-2b3a4c5d6e7f") +
                           "," + event_json("Charged", "{\"c\":2}", "1e6e3b8f-9a1c-4baf-8d2f-3c4b5d6e7f80") +
                           "]";
  auto first = post("/streams/pay-1", body, {"Expected-Version: 0"});
  ASSERT_EQ(first.status, 201) << first;
  const auto f = first.json();
  EXPECT_EQ(f.at("duplicate"), false);
  // The reply was "lost": the client retries the same request, even with the same expectation.
  auto retry = post("/streams/pay-1", body, {"Expected-Version: 0"});
  EXPECT_TRUE(retry.status == 201 || retry.status == 200) << retry;
  const auto r = retry.json();
  ASSERT_TRUE(r.is_object()) << retry;
  EXPECT_EQ(u64(r.at("version")), u64(f.at("version"))) << retry;
  EXPECT_EQ(u64(r.at("position")), u64(f.at("position"))) << retry;
  EXPECT_EQ(r.at("duplicate"), true) << retry;
  auto retry_any = post("/streams/pay-1", body);
  EXPECT_EQ(retry_any.json().at("duplicate"), true) << retry_any;
  EXPECT_EQ(u64(retry_any.json().at("version")), 2u) << retry_any;
  auto page = get("/streams/pay-1").json();
  EXPECT_EQ(page.at("events").as_array().size(), 3u) << "a retry must not write duplicates";
  // A part of that append is not a retry of it: 409, nothing written.
  auto part = post("/streams/pay-1",
                   "[" + event_json("Charged", "{\"c\":1}", "0d5d2a7e-8f0b-4a9e-9c1e-2b3a4c5d6e7f") + "]");
  EXPECT_EQ(part.status, 409) << part;
  EXPECT_EQ(part.error_code(), "duplicate_event_id") << part;
  EXPECT_EQ(get("/streams/pay-1").json().at("events").as_array().size(), 3u);
  // A new id is a new event.
  auto fresh = append_ok("pay-1", event_json("Charged", "{}", "2f7f4c90-ab2d-4cc0-9e30-4d5c6e7f8091"));
  EXPECT_EQ(u64(fresh.at("version")), 3u);
  EXPECT_EQ(fresh.at("duplicate"), false);
}

TEST_F(server_test, read_forward_backward_with_limit_and_next_paging) {
  start();
  append_ok("pg-1", batch_json(7));
  append_ok("pg-2", batch_json(2));
  // Forward, limit 3: pages 0-2, 3-5, 6.
  std::vector<std::uint64_t> seen;
  std::string from = "0";
  int pages = 0;
  while (pages < 10) {
    auto r = get("/streams/pg-1?from=" + from + "&limit=3");
    ASSERT_EQ(r.status, 200) << r;
    const auto j = r.json();
    ++pages;
    const auto v = versions_of(j);
    EXPECT_LE(v.size(), 3u);
    seen.insert(seen.end(), v.begin(), v.end());
    if (j.at("next").is_null()) break;
    from = std::to_string(u64(j.at("next")));
  }
  EXPECT_EQ(seen, iota_vec(0, 7));
  EXPECT_LE(pages, 4);
  auto p1 = get("/streams/pg-1?limit=3").json();
  EXPECT_EQ(versions_of(p1), iota_vec(0, 3));
  EXPECT_EQ(u64(p1.at("next")), 3u);

  // Backward from the end, limit 3: 6,5,4 then 3,2,1 then 0.
  auto b1 = get("/streams/pg-1?direction=backward&limit=3");
  ASSERT_EQ(b1.status, 200) << b1;
  EXPECT_EQ(versions_of(b1.json()), (std::vector<std::uint64_t>{6, 5, 4}));
  ASSERT_FALSE(b1.json().at("next").is_null());
  EXPECT_EQ(u64(b1.json().at("next")), 3u);
  auto b2 = get("/streams/pg-1?direction=backward&limit=3&from=3").json();
  EXPECT_EQ(versions_of(b2), (std::vector<std::uint64_t>{3, 2, 1}));
  auto b3 = get("/streams/pg-1?direction=backward&limit=3&from=" + std::to_string(u64(b2.at("next")))).json();
  EXPECT_EQ(versions_of(b3), (std::vector<std::uint64_t>{0}));
  EXPECT_TRUE(b3.at("next").is_null()) << json::serialize(b3);

  // $all reads by position across streams.
  auto all = get("/streams/$all?from=5&limit=3");
  ASSERT_EQ(all.status, 200) << all;
  EXPECT_EQ(versions_of(all.json(), "position"), (std::vector<std::uint64_t>{5, 6, 7}));
  EXPECT_EQ(u64(all.json().at("next")), 8u);
  auto all_back = get("/streams/%24all?direction=backward&limit=2").json();
  EXPECT_EQ(versions_of(all_back, "position"), (std::vector<std::uint64_t>{8, 7}));
  EXPECT_EQ(all_back.at("events").as_array()[0].at("stream"), "pg-2");

  // Default limit is 100 and a huge limit is clamped, not an error.
  append_ok("pg-big", batch_json(150));
  EXPECT_EQ(get("/streams/pg-big").json().at("events").as_array().size(), 100u);
  auto huge = get("/streams/pg-big?limit=18446744073709551615");
  EXPECT_EQ(huge.status, 200) << huge;

  // Missing stream: 404 stream_not_found.
  auto missing = get("/streams/nope-1");
  EXPECT_EQ(missing.status, 404) << missing;
  EXPECT_EQ(missing.error_code(), "stream_not_found");
}

TEST_F(server_test, system_streams_ce_and_et_fill_with_the_appends) {
  start();
  append_ok("cart-1", event_json("ItemAdded"));
  append_ok("cart-2", "[" + event_json("ItemAdded") + "," + event_json("CheckedOut") + "]");
  append_ok("user-1", event_json("ItemAdded"));
  append_ok("cartwheel", event_json("Spun"));  // not in category "cart": no '-' after it

  auto ce = wait_for_events("/streams/$ce-cart", 3);
  ASSERT_TRUE(ce.is_object()) << json::serialize(ce);
  ASSERT_EQ(ce.at("events").as_array().size(), 3u) << json::serialize(ce);
  std::vector<std::string> streams;
  for (const auto& e : ce.at("events").as_array()) streams.push_back(std::string(e.at("stream").as_string()));
  EXPECT_EQ(streams, (std::vector<std::string>{"cart-1", "cart-2", "cart-2"}));

  auto et = wait_for_events("/streams/%24et-ItemAdded", 3);
  ASSERT_TRUE(et.is_object()) << json::serialize(et);
  ASSERT_EQ(et.at("events").as_array().size(), 3u) << json::serialize(et);
  for (const auto& e : et.at("events").as_array()) {
    EXPECT_EQ(e.at("type"), "ItemAdded");
  }
  EXPECT_EQ(versions_of(et, "position"), (std::vector<std::uint64_t>{0, 1, 3}));

  // Reserved names are readable but never appendable.
  auto write_sys = post("/streams/$ce-cart", event_json("X"));
  EXPECT_EQ(write_sys.status, 400) << write_sys;
  EXPECT_EQ(write_sys.error_code(), "invalid_stream_name");
}

TEST_F(server_test, head_stream_list_health_console_and_metrics) {
  start();
  append_ok("h-1", batch_json(3));
  append_ok("h-2", event_json("A"));

  auto head = http({.method = "HEAD", .path = "/streams/h-1"});
  EXPECT_EQ(head.status, 200) << head;
  EXPECT_EQ(head.header("Stream-Version").value_or("<none>"), "2") << head.headers;
  EXPECT_EQ(head.body.find("{"), std::string::npos) << "HEAD has no body: " << head.body;
  auto head_missing = http({.method = "HEAD", .path = "/streams/h-404"});
  EXPECT_EQ(head_missing.status, 404) << head_missing;

  auto list = get("/streams");
  ASSERT_EQ(list.status, 200) << list;
  std::map<std::string, std::pair<std::uint64_t, std::string>> by_name;
  const auto listed_json = list.json();
  for (const auto& s : listed_json.as_array()) {
    by_name[std::string(s.at("stream").as_string())] = {u64(s.at("version")),
                                                        std::string(s.at("kind").as_string())};
  }
  EXPECT_EQ(by_name["h-1"], (std::pair<std::uint64_t, std::string>{2, "write"}));
  EXPECT_EQ(by_name["h-2"], (std::pair<std::uint64_t, std::string>{0, "write"}));

  auto health = get("/health");
  ASSERT_EQ(health.status, 200) << health;
  EXPECT_EQ(health.json().at("status"), "ok");
  EXPECT_EQ(health.json().at("readOnly"), false);
  EXPECT_EQ(u64(health.json().at("position")), 3u);

  auto console = get("/");
  EXPECT_EQ(console.status, 200) << console;
  EXPECT_EQ(console.header("Content-Type").value_or("").rfind("text/html", 0), 0u) << console.headers;
  EXPECT_NE(lower(console.body).find("<html"), std::string::npos);

  get("/streams/h-404");  // one 404 for the status counter
  auto metrics = get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics;
  EXPECT_EQ(metrics.header("Content-Type").value_or("").rfind("text/plain", 0), 0u) << metrics.headers;
  const std::string& m = metrics.body;
  for (const char* line :
       {"# TYPE evstore_appends_total counter", "# TYPE evstore_events_written_total counter",
        "# TYPE evstore_bytes_written_total counter", "# TYPE evstore_flushes_total counter",
        "# TYPE evstore_fsyncs_total counter", "# TYPE evstore_subscribers gauge",
        "# TYPE evstore_http_responses_total counter", "\nevstore_appends_total 2\n",
        "\nevstore_events_written_total 4\n", "evstore_http_responses_total{code=\"201\"} 2\n",
        "evstore_http_responses_total{code=\"404\"} ", "# TYPE evstore_index_cache_bytes gauge",
        "# TYPE evstore_index_cache_hits_total counter", "# TYPE evstore_index_cache_misses_total counter"}) {
    EXPECT_NE(m.find(line), std::string::npos) << "missing '" << line << "' in:\n" << m;
  }
  // Every sample line is "name[{labels}] value".
  std::istringstream in(m);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_EQ(line.rfind("evstore_", 0), 0u) << line;
    EXPECT_NE(line.find(' '), std::string::npos) << line;
  }
}

TEST_F(server_test, metrics_flush_latency_is_a_prometheus_histogram) {
  // docs/http.md: /metrics has the flush latency histogram.
  start();
  append_ok("m-1", event_json("A"));
  auto m = get("/metrics").body;
  EXPECT_NE(m.find("# TYPE evstore_flush_duration_seconds histogram"), std::string::npos) << m;
  EXPECT_NE(m.find("evstore_flush_duration_seconds_bucket{le=\"+Inf\"}"), std::string::npos) << m;
}

TEST_F(server_test, read_streams_put_delete_and_consumer_state) {
  start();
  append_ok("o-1", "[" + event_json("Paid", "{\"x\":1}") + "," + event_json("Paid", "{\"x\":2}") + "," +
                       event_json("Refunded", "{\"x\":1}") + "]");
  const std::string filter = R"({"filter":{"types":["Paid"],"where":{"/data/x":1}}})";
  auto put = http({.method = "PUT", .path = "/read-streams/paid-x1", .body = filter});
  ASSERT_EQ(put.status, 201) << put;
  append_ok("o-2", event_json("Paid", "{\"x\":1}"));
  auto rs = wait_for_events("/streams/paid-x1", 2);
  ASSERT_TRUE(rs.is_object()) << json::serialize(rs);
  ASSERT_EQ(rs.at("events").as_array().size(), 2u) << json::serialize(rs);
  EXPECT_EQ(rs.at("events").as_array()[0].at("stream"), "o-1");
  EXPECT_EQ(rs.at("events").as_array()[1].at("stream"), "o-2");

  // The same filter again is accepted; another filter is 409.
  auto again = http({.method = "PUT", .path = "/read-streams/paid-x1", .body = filter});
  EXPECT_TRUE(again.status == 201 || again.status == 200) << again;
  auto other = http(
      {.method = "PUT", .path = "/read-streams/paid-x1", .body = R"({"filter":{"types":["Refunded"]}})"});
  EXPECT_EQ(other.status, 409) << other;
  // The engine's detail reaches the body.
  EXPECT_NE(other.error_message().find("'paid-x1' is a read stream with another filter"), std::string::npos)
      << other;

  auto list = get("/streams").json();
  bool listed = false;
  for (const auto& s : list.as_array()) {
    if (s.at("stream") == "paid-x1") {
      listed = true;
      EXPECT_EQ(s.at("kind"), "read");
    }
  }
  EXPECT_TRUE(listed) << json::serialize(list);

  // The filter's numbers keep their digits over HTTP (a re-serialised body
  // would make both ids one double).
  append_ok("a-1", event_json("Moved", R"({"id":123456789012345678901234})"));
  append_ok("a-2", event_json("Moved", R"({"id":123456789012345678901235})"));
  auto big = http({.method = "PUT",
                   .path = "/read-streams/one-id",
                   .body = R"({"filter":{"where":{"/data/id":123456789012345678901234}}})"});
  ASSERT_EQ(big.status, 201) << big;
  auto one = wait_for_events("/streams/one-id", 1);
  ASSERT_TRUE(one.is_object()) << json::serialize(one);
  ASSERT_EQ(one.at("events").as_array().size(), 1u) << json::serialize(one);
  EXPECT_EQ(one.at("events").as_array()[0].at("stream"), "a-1");
  EXPECT_NE(get("/streams").body.find(R"("/data/id":123456789012345678901234)"), std::string::npos);
  // Operators over HTTP: a range on the big ids picks the second one alone;
  // an unknown operator is a 400 that names it.
  auto gt =
      http({.method = "PUT",
            .path = "/read-streams/after-first-id",
            .body = R"({"filter":{"where":{"/data/id":{"$gt":123456789012345678901234,"$lt":1e30}}}})"});
  ASSERT_EQ(gt.status, 201) << gt;
  auto after = wait_for_events("/streams/after-first-id", 1);
  ASSERT_TRUE(after.is_object()) << json::serialize(after);
  ASSERT_EQ(after.at("events").as_array().size(), 1u) << json::serialize(after);
  EXPECT_EQ(after.at("events").as_array()[0].at("stream"), "a-2");
  auto op = http({.method = "PUT",
                  .path = "/read-streams/gt",
                  .body = R"({"filter":{"where":{"/data/x":{"$gtt":1}}}})"});
  EXPECT_EQ(op.status, 400) << op;
  EXPECT_NE(op.error_message().find("unknown operator $gtt"), std::string::npos) << op;

  auto del = http({.method = "DELETE", .path = "/read-streams/paid-x1"});
  EXPECT_TRUE(del.status == 200 || del.status == 204) << del;
  EXPECT_EQ(get("/streams/paid-x1").status, 404);
  auto del_again = http({.method = "DELETE", .path = "/read-streams/paid-x1"});
  EXPECT_EQ(del_again.status, 404) << del_again;
  EXPECT_NE(del_again.error_message().find("there is no read stream 'paid-x1'"), std::string::npos)
      << del_again;
  EXPECT_EQ(get("/streams/o-1").json().at("events").as_array().size(), 3u) << "events stay";

  // Consumers: none stored yet.
  auto none = get("/consumers/mailer?stream=o-1");
  EXPECT_EQ(none.status, 404) << none;
  auto by_name = get("/consumers/mailer");
  EXPECT_EQ(by_name.status, 404) << by_name;
  EXPECT_EQ(by_name.error_code(), "consumer_not_found") << by_name;
  EXPECT_EQ(get("/consumers").body, "[]");
}

// A link the indexer cannot write (here a file stands where the sub-directory
// of links/ for a long $et- name must go) fails alone: /health says so
// instead of "ok", /metrics counts it, and the other system streams go on.
TEST_F(server_test, a_failed_link_shows_in_health_and_metrics_and_fails_alone) {
  const std::string type(90, 'A');
  const std::string encoded = evstore::detail::encode_stream_file_name("$et-" + type);
  ASSERT_NE(encoded.find('/'), std::string::npos);
  std::filesystem::create_directories(data_dir() + "/links");
  std::ofstream(data_dir() + "/links/" + encoded.substr(0, encoded.find('/'))) << "in the way";
  start();
  EXPECT_EQ(get("/health").json().at("status"), "ok");
  append_ok("order-1", event_json(type));
  append_ok("order-2", event_json("Paid"));
  EXPECT_TRUE(evstore::test::wait_until([&] {
    auto page = get("/streams/$ce-order");
    return page.status == 200 && page.json().at("events").as_array().size() == 2;
  })) << "one bad link stopped the others";
  auto health = get("/health");
  EXPECT_EQ(health.status, 200) << health;
  EXPECT_EQ(health.json().at("status"), "degraded") << health;
  EXPECT_NE(health.body.find("$et-AAA"), std::string::npos) << "the failed link is named: " << health;
  const std::string metrics = get("/metrics").body;
  EXPECT_NE(metrics.find("evstore_failed_links 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("evstore_indexer_failed 1\n"), std::string::npos) << metrics;
  EXPECT_EQ(get("/streams/$et-" + type).status / 100, 5) << "reads of the failed link fail, never short";
}

// ============================================================================
// Server-Sent Events
// ============================================================================

}  // namespace
