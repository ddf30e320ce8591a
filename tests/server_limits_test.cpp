// evstored black-box tests: bad input, limits and deadlines, auth, TLS,
// read-only following, file modes, shutdown (see support/server_fixture.hpp).
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

TEST_F(server_test, bad_inputs_get_their_documented_status_and_nothing_escapes_the_data_directory) {
  start({"--body-limit", "4096", "--header-limit", "16384"});
  append_ok("ok-1", event_json("A"));
  const std::string ev = event_json("A");
  const std::string name200(200, 'n');
  struct bad_case {
    std::string what;
    request req;
    std::set<int> statuses;  // acceptable statuses
    std::string code;        // expected error code ("" = any)
  };
  auto post_to = [&](const std::string& path, const std::string& body = event_json("A")) {
    return request{.method = "POST", .path = path, .body = body};
  };
  const std::vector<bad_case> cases = {
      // Stream names (docs/http.md: 400 invalid_stream_name).
      {"encoded ../x", post_to("/streams/..%2Fx"), {400}, "invalid_stream_name"},
      {"%2e%2e%2f", post_to("/streams/%2e%2e%2fescape"), {400}, "invalid_stream_name"},
      {"%2e%2e%2F%2e%2e%2F", post_to("/streams/%2e%2e%2F%2e%2e%2Fescape"), {400}, "invalid_stream_name"},
      {"name ..", post_to("/streams/%2e%2e"), {400}, "invalid_stream_name"},
      {"raw ..", post_to("/streams/.."), {400}, "invalid_stream_name"},
      {"name .", post_to("/streams/."), {400}, "invalid_stream_name"},
      {"encoded .", post_to("/streams/%2E"), {400}, "invalid_stream_name"},
      // A raw "../x" is three path segments, so no stream route matches; never a write.
      {"raw ../x", post_to("/streams/../escape"), {400, 404}, ""},
      {"absolute path", post_to("/streams/%2Ftmp%2Fevstore-escape"), {400}, "invalid_stream_name"},
      {"read /etc/passwd", {.path = "/streams/%2Fetc%2Fpasswd"}, {400}, "invalid_stream_name"},
      {"NUL", post_to("/streams/a%00b"), {400}, "invalid_stream_name"},
      {"backslash", post_to("/streams/..%5C..%5Cescape"), {400}, "invalid_stream_name"},
      {"control 0x01", post_to("/streams/a%01b"), {400}, "invalid_stream_name"},
      {"newline", post_to("/streams/a%0Ab"), {400}, "invalid_stream_name"},
      {"DEL", post_to("/streams/a%7Fb"), {400}, "invalid_stream_name"},
      {"C1 control", post_to("/streams/a%C2%85b"), {400}, "invalid_stream_name"},
      {"invalid UTF-8", post_to("/streams/a%FFb"), {400}, "invalid_stream_name"},
      {"overlong UTF-8 dot", post_to("/streams/%C0%AE%C0%AE"), {400}, "invalid_stream_name"},
      {"201 bytes", post_to("/streams/" + std::string(201, 'n')), {400}, "invalid_stream_name"},
      {"10 KB", post_to("/streams/" + std::string(10240, 'n')), {400}, "invalid_stream_name"},
      {"reserved $", post_to("/streams/$mine"), {400}, "invalid_stream_name"},
      {"reserved %24all", post_to("/streams/%24all"), {400}, "invalid_stream_name"},
      {"empty name", post_to("/streams/"), {400}, "invalid_stream_name"},
      {"read-stream name ../x",
       {.method = "PUT", .path = "/read-streams/..%2Fescape", .body = R"({"filter":{"types":["A"]}})"},
       {400},
       "invalid_stream_name"},
      {"read-stream name ..",
       {.method = "PUT", .path = "/read-streams/%2e%2e", .body = R"({"filter":{"types":["A"]}})"},
       {400},
       "invalid_stream_name"},
      {"consumer stream ../x", {.path = "/consumers/c?stream=..%2Fescape"}, {400}, "invalid_stream_name"},
      {"consumer stream empty", {.path = "/consumers/c?stream="}, {400}, "invalid_stream_name"},
      {"SSE on ../x",
       {.path = "/streams/..%2Fescape?live=true", .headers = {"Accept: text/event-stream"}},
       {400},
       ""},
      {"bad percent escape", post_to("/streams/a%zz"), {400}, ""},
      // Bodies (400 invalid_event).
      {"malformed JSON", post_to("/streams/ok-1", "{\"type\":"), {400}, "invalid_event"},
      {"not JSON", post_to("/streams/ok-1", "hello"), {400}, "invalid_event"},
      {"empty body", post_to("/streams/ok-1", ""), {400}, "invalid_event"},
      {"no type", post_to("/streams/ok-1", "{\"data\":{}}"), {400}, "invalid_event"},
      {"type not a string", post_to("/streams/ok-1", "{\"type\":5}"), {400}, "invalid_event"},
      {"empty type", post_to("/streams/ok-1", "{\"type\":\"\"}"), {400}, "invalid_event"},
      {"one bad event in a batch",
       post_to("/streams/ok-1", "[" + ev + ",{\"data\":1}]"),
       {400},
       "invalid_event"},
      {"invalid UTF-8 in body",
       post_to("/streams/ok-1", "{\"type\":\"A\",\"data\":\"\xff\xfe\"}"),
       {400},
       "invalid_event"},
      {"bad id", post_to("/streams/ok-1", "{\"type\":\"A\",\"id\":\"not-a-uuid\"}"), {400}, "invalid_event"},
      {"read-stream body",
       {.method = "PUT", .path = "/read-streams/rs-bad", .body = "{\"filter\":"},
       {400},
       ""},
      // Expected-Version (known deviation: 400 invalid_expected_version).
      {"Expected-Version word",
       {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: banana"}},
       {400},
       "invalid_expected_version"},
      {"Expected-Version -1",
       {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: -1"}},
       {400},
       "invalid_expected_version"},
      {"Expected-Version 1.5",
       {.method = "POST", .path = "/streams/ok-1", .body = ev, .headers = {"Expected-Version: 1.5"}},
       {400},
       "invalid_expected_version"},
      {"Expected-Version overflow",
       {.method = "POST",
        .path = "/streams/ok-1",
        .body = ev,
        .headers = {"Expected-Version: 99999999999999999999999"}},
       {400},
       "invalid_expected_version"},
      // Absurd read parameters: 400 or clamped, never a crash.
      {"limit=0", {.path = "/streams/ok-1?limit=0"}, {400}, ""},
      {"limit=-1", {.path = "/streams/ok-1?limit=-1"}, {400}, ""},
      {"limit=abc", {.path = "/streams/ok-1?limit=abc"}, {400}, ""},
      {"limit overflow", {.path = "/streams/ok-1?limit=99999999999999999999999"}, {400, 200}, ""},
      {"from overflow", {.path = "/streams/ok-1?from=99999999999999999999999"}, {400, 200}, ""},
      {"from max", {.path = "/streams/ok-1?from=18446744073709551615"}, {400, 200}, ""},
      {"from -5", {.path = "/streams/ok-1?from=-5"}, {400}, ""},
      {"$all from max backward",
       {.path = "/streams/$all?from=18446744073709551614&direction=backward"},
       {400, 200},
       ""},
      {"direction", {.path = "/streams/ok-1?direction=sideways"}, {400}, ""},
      {"list offset huge",
       {.path = "/streams?offset=18446744073709551615&limit=18446744073709551615"},
       {400, 200},
       ""},
      // Routing.
      {"unknown route", {.path = "/nope"}, {404}, ""},
      {"wrong method", {.method = "PATCH", .path = "/streams/ok-1", .body = ev}, {405}, ""},
      // Sizes: 413 before reading the body (Content-Length; curl sends Expect: 100-continue).
      {"body over --body-limit",
       post_to("/streams/big-1", "[" + std::string(64 << 10, ' ') + ev + "]"),
       {413},
       ""},
      {"body over --body-limit, no Expect",
       {.method = "POST",
        .path = "/streams/big-2",
        .body = "[" + std::string(64 << 10, ' ') + ev + "]",
        .headers = {"Expect:"}},
       {413},
       ""},
      {"chunked body over --body-limit",
       {.method = "POST",
        .path = "/streams/big-3",
        .body = "[" + std::string(64 << 10, ' ') + ev + "]",
        .headers = {"Transfer-Encoding: chunked"}},
       {413},
       ""},
      {"header over --header-limit",
       {.path = "/health", .headers = {"X-Big: " + std::string(32 << 10, 'h')}},
       {431},
       ""},
      {"many headers over --header-limit",
       {.path = "/health",
        .headers =
            [] {
              std::vector<std::string> h;
              for (int i = 0; i < 400; ++i)
                h.push_back("X-H" + std::to_string(i) + ": " + std::string(60, 'v'));
              return h;
            }()},
       {431},
       ""},
  };
  const auto before = get("/health").json();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = http(c.req);
    EXPECT_TRUE(c.statuses.count(r.status))
        << c.what << ": " << c.req.method << " " << c.req.path.substr(0, 80) << " -> " << r;
    if (!c.code.empty()) {
      EXPECT_EQ(r.error_code(), c.code) << c.what << ": " << r;
    }
    if (r.status >= 400 && c.req.method != "HEAD") {
      const auto j = r.json();
      EXPECT_TRUE(j.is_object() && j.as_object().contains("error") && j.as_object().contains("message"))
          << c.what << ": error bodies are {\"error\",\"message\"}: " << r;
    }
    auto health = get("/health");
    ASSERT_EQ(health.status, 200) << "server down after " << c.what;
  }
  // The boundary: a 200-byte name is fine.
  append_ok(name200, ev);
  // Nothing was written by any bad request, and nothing appeared outside the data directory.
  const auto after = get("/health").json();
  EXPECT_EQ(u64(after.at("position")), u64(before.at("position")) + 1) << "only the 200-byte-name append";
  EXPECT_EQ(get("/streams/ok-1").json().at("events").as_array().size(), 1u);
  std::set<std::string> names;
  const auto all_streams = get("/streams").json();
  for (const auto& s : all_streams.as_array()) names.insert(std::string(s.at("stream").as_string()));
  EXPECT_EQ(names, (std::set<std::string>{"ok-1", name200}));
  EXPECT_TRUE(files_outside_data().empty()) << files_outside_data().front();
  EXPECT_FALSE(fs::exists("/tmp/evstore-escape"));
  for (const auto& e : fs::recursive_directory_iterator(data_dir())) {
    const auto p = e.path().string();
    EXPECT_EQ(p.find("escape"), std::string::npos) << p;
  }
}

// ============================================================================
// Limits and security
// ============================================================================

TEST_F(server_test, an_invalid_stream_name_says_which_rule_it_breaks) {
  start();
  for (const auto& [path, rule] : std::vector<std::pair<std::string, std::string>>{
           {"/streams/a%2Fb", "a stream name holds no '/' or '\\' (one is at byte 1)"},
           {"/streams/%24mine", "names starting with '$' are the store's own"},
           {"/streams/" + std::string(201, 'n'), "a stream name is at most 200 bytes (this one is 201)"},
           {"/streams/a%0Ab", "a stream name holds no control character (one is at byte 1)"},
       }) {
    auto r = post(path, event_json("A"));
    EXPECT_EQ(r.status, 400) << path << ": " << r;
    EXPECT_EQ(r.error_code(), "invalid_stream_name") << r;
    EXPECT_NE(r.error_message().find(rule), std::string::npos) << path << ": " << r;
  }
}

TEST_F(server_test, slow_loris_headers_are_cut_by_the_header_deadline) {
  auto& s = start({"--header-timeout-ms", "400"});
  child_process c({python, tcp_client, "slowloris", std::to_string(s.port()), "5"},
                  scratch() + "/evstored-tcp.err");
  auto line = c.read_line(10s);
  ASSERT_TRUE(line);
  ASSERT_EQ(line->substr(0, 6), "CLOSED") << *line;
  const int ms = std::atoi(line->c_str() + 7);
  EXPECT_GE(ms, 300) << *line;
  EXPECT_LE(ms, 2500) << *line;
  EXPECT_EQ(get("/health").status, 200);
}

// One connection: a body that arrives after its header, two pipelined
// requests, then the idle keep-alive deadline closes it.
TEST_F(server_test, keep_alive_serves_split_and_pipelined_requests_then_idles_out) {
  auto& s = start({"--idle-timeout-ms", "400"});
  child_process c({python, tcp_client, "keepalive", std::to_string(s.port()), "5"},
                  scratch() + "/evstored-tcp.err");
  auto statuses = c.read_line(10s);
  ASSERT_TRUE(statuses);
  EXPECT_EQ(*statuses, "STATUS 201 200 200");
  auto closed = c.read_line(10s);
  ASSERT_TRUE(closed);
  ASSERT_EQ(closed->substr(0, 6), "CLOSED") << *closed;
  const int ms = std::atoi(closed->c_str() + 7);
  EXPECT_GE(ms, 300) << *closed;
  EXPECT_LE(ms, 2500) << *closed;
  EXPECT_EQ(get("/streams/ka").status, 200);
}

TEST_F(server_test, connections_over_max_connections_get_503) {
  auto& s = start({"--max-connections", "3", "--header-timeout-ms", "20000"});
  child_process hold({python, tcp_client, "hold", std::to_string(s.port()), "3", "20"},
                     scratch() + "/evstored-tcp.err");
  auto line = hold.read_line(10s);
  ASSERT_TRUE(line);
  ASSERT_EQ(*line, "HELD");
  auto refused = get("/health");
  EXPECT_EQ(refused.status, 503) << refused;
  EXPECT_EQ(refused.error_code(), "too_many_connections") << refused;
  hold.signal(SIGKILL);
  hold.wait_exit(5s);
  // Once the idle connections are gone, requests are served again.
  bool served = evstore::test::wait_until([&] { return get("/health").status == 200; }, 5s);
  EXPECT_TRUE(served);
  auto metrics = get("/metrics").body;
  EXPECT_NE(metrics.find("evstore_http_rejected_connections_total 1"), std::string::npos) << metrics;
}

TEST_F(server_test, bearer_tokens_401_403_and_never_logged) {
  const std::string read_token = "r3ad-T0ken-abcdefghijklmnop";
  const std::string write_token = "wr1te-T0ken-qrstuvwxyz012345";
  const std::string token_file = scratch() + "/tokens";
  write_file(token_file, "# tokens\nread " + read_token + "\nwrite " + write_token + "  # the writer\n");
  auto& s = start({"--token-file", token_file});
  EXPECT_NE(s.banner().find("bearer tokens required"), std::string::npos) << s.banner();
  const std::string rd = "Authorization: Bearer " + read_token, wr = "Authorization: Bearer " + write_token;

  auto none = get("/health");
  EXPECT_EQ(none.status, 401) << none;
  EXPECT_EQ(none.header("WWW-Authenticate").value_or(""), "Bearer") << none.headers;
  auto bad = get("/health", {"Authorization: Bearer " + read_token + "x"});
  EXPECT_EQ(bad.status, 401) << bad;
  auto prefix = get("/health", {"Authorization: Bearer " + read_token.substr(0, 10)});
  EXPECT_EQ(prefix.status, 401) << prefix;
  auto basic = get("/health", {"Authorization: Basic " + read_token});
  EXPECT_EQ(basic.status, 401) << basic;
  EXPECT_EQ(get("/health", {rd}).status, 200);

  auto read_post = post("/streams/auth-1", event_json("A"), {rd});
  EXPECT_EQ(read_post.status, 403) << read_post;
  auto read_put = http({.method = "PUT",
                        .path = "/read-streams/rs",
                        .body = R"({"filter":{"types":["A"]}})",
                        .headers = {rd}});
  EXPECT_EQ(read_put.status, 403) << read_put;
  auto anon_post = post("/streams/auth-1", event_json("A"));
  EXPECT_EQ(anon_post.status, 401) << anon_post;
  auto write_post = post("/streams/auth-1", event_json("A"), {wr});
  EXPECT_EQ(write_post.status, 201) << write_post;
  auto read_get = get("/streams/auth-1", {rd});
  EXPECT_EQ(read_get.status, 200) << read_get;
  EXPECT_EQ(read_get.json().at("events").as_array().size(), 1u);
  EXPECT_EQ(get("/metrics").status, 401);
  // The console's static files hold no data: served without a token (the page asks for one).
  EXPECT_EQ(get("/").status, 200);
  EXPECT_EQ(get("/console.js").status, 200);

  // WebSocket and SSE need the token too.
  {
    auto c = ws(s, "/subscribe?stream=auth-1&from=0", {"until=caughtUp"});
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("REJECTED", 0) == 0 || l == "DONE"; });
    ASSERT_FALSE(got.lines.empty());
    EXPECT_EQ(got.lines.back(), "REJECTED 401") << got.transcript();
  }
  {
    auto c = ws(s, "/subscribe?stream=auth-1&from=0", {"until=caughtUp"}, {rd});
    ws_messages got;
    EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
    EXPECT_EQ(event_versions(got), (std::vector<std::uint64_t>{0}));
  }
  auto sse = get("/streams/auth-1?live=true", {"Accept: text/event-stream"});
  EXPECT_EQ(sse.status, 401) << sse;

  EXPECT_EQ(s.stop(), 0);
  const std::string log = s.log();
  EXPECT_NE(log.find("status=401"), std::string::npos) << log;
  EXPECT_NE(log.find("status=403"), std::string::npos) << log;
  EXPECT_NE(log.find("status=201"), std::string::npos) << log;
  for (const auto& secret : {read_token, write_token, read_token.substr(0, 10)}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "token in the log:\n" << log;
  }
  EXPECT_EQ(log.find("Bearer"), std::string::npos) << log;
}

// DELETE changes the store like POST and PUT do: a read token may not drop a
// read stream (docs/http.md, "Authentication": write routes need a write token).
TEST_F(server_test, a_read_token_cannot_delete_a_read_stream) {
  const std::string read_token = "r3ad-T0ken-abcdefghijklmnop";
  const std::string write_token = "wr1te-T0ken-qrstuvwxyz012345";
  const std::string token_file = scratch() + "/tokens";
  write_file(token_file, "read " + read_token + "\nwrite " + write_token + "\n");
  start({"--token-file", token_file});
  const std::string rd = "Authorization: Bearer " + read_token, wr = "Authorization: Bearer " + write_token;
  auto put = http({.method = "PUT",
                   .path = "/read-streams/paid",
                   .body = R"({"filter":{"types":["Paid"]}})",
                   .headers = {wr}});
  ASSERT_EQ(put.status, 201) << put;
  const auto listed = [&] {
    const auto list = get("/streams", {rd}).json();
    if (!list.is_array()) return false;
    for (const auto& s : list.as_array()) {
      if (s.at("stream") == "paid") return true;
    }
    return false;
  };
  ASSERT_TRUE(listed());

  auto read_delete = http({.method = "DELETE", .path = "/read-streams/paid", .headers = {rd}});
  EXPECT_EQ(read_delete.status, 403) << read_delete;
  EXPECT_EQ(read_delete.error_code(), "forbidden") << read_delete;
  auto anon_delete = http({.method = "DELETE", .path = "/read-streams/paid"});
  EXPECT_EQ(anon_delete.status, 401) << anon_delete;
  EXPECT_TRUE(listed()) << "a refused DELETE left the read stream in place";

  auto write_delete = http({.method = "DELETE", .path = "/read-streams/paid", .headers = {wr}});
  EXPECT_TRUE(write_delete.status == 200 || write_delete.status == 204) << write_delete;
  EXPECT_FALSE(listed());
}

TEST_F(server_test, read_only_server_follows_a_writer_and_refuses_writes_with_403) {
  auto& writer = start();
  append_ok("ro-1", event_json("A"));
  auto& reader = start({"--read-only"});
  EXPECT_EQ(http(reader, {.path = "/health"}).json().at("readOnly"), true);
  auto w = http(reader, {.method = "POST", .path = "/streams/ro-1", .body = event_json("B")});
  EXPECT_EQ(w.status, 403) << w;
  auto p =
      http(reader, {.method = "PUT", .path = "/read-streams/ro-rs", .body = R"({"filter":{"types":["A"]}})"});
  EXPECT_EQ(p.status, 403) << p;
  append_ok("ro-1", event_json("C"));
  bool followed = evstore::test::wait_until(
      [&] {
        auto r = http(reader, {.path = "/streams/ro-1"});
        return r.status == 200 && r.json().at("events").as_array().size() == 2;
      },
      5s);
  EXPECT_TRUE(followed) << http(reader, {.path = "/streams/ro-1"});
  EXPECT_EQ(http(writer, {.path = "/health"}).json().at("readOnly"), false);
}

TEST_F(server_test, data_directory_is_0700_and_files_0600) {
  start();
  append_ok("perm-1", batch_json(3));
  ASSERT_EQ(
      http({.method = "PUT", .path = "/read-streams/perm-rs", .body = R"({"filter":{"types":["Tested"]}})"})
          .status,
      201);
  EXPECT_EQ(srv().stop(), 0);
  struct stat st {};
  ASSERT_EQ(stat(data_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const auto& e : fs::recursive_directory_iterator(data_dir())) {
    ASSERT_EQ(lstat(e.path().c_str(), &st), 0);
    if (S_ISDIR(st.st_mode)) {
      EXPECT_EQ(st.st_mode & 0077, 0u) << e.path() << " mode " << std::oct << (st.st_mode & 0777);
    } else {
      EXPECT_EQ(st.st_mode & 0077, 0u) << e.path() << " mode " << std::oct << (st.st_mode & 0777);
    }
  }
}

TEST_F(server_test, sigterm_with_open_subscribers_stops_cleanly_and_keeps_acknowledged_events) {
  auto& s = start({"--fsync"});
  append_ok("st-1", batch_json(2));
  auto c = ws(s, "/subscribe?stream=st-1&from=0", {"until=caughtUp", "mark=ready", "wait_close"});
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; }))
      << got.transcript();
  sse_client sse(s.base() + "/streams/st-1?live=true", {}, scratch() + "/evstored-sse.err");
  ASSERT_TRUE(sse.next());
  const auto t0 = clock_type::now();
  EXPECT_EQ(s.stop(), 0) << s.log();
  EXPECT_LT(clock_type::now() - t0, 5s);
  read_ws_until(
      *c, got, [](const std::string& l) { return l.rfind("CLOSE", 0) == 0; }, 5s);
  EXPECT_EQ(got.lines.back().rfind("CLOSE 1001", 0), 0u)
      << "a stopping server closes subscribers with going-away; " << got.transcript();
  sse.stop();
  // Restart on the same data: everything acknowledged is there.
  auto& again = start();
  auto r = http(again, {.path = "/streams/st-1"});
  EXPECT_EQ(r.json().at("events").as_array().size(), 2u) << r;
}

// HTTPS and WSS with a self-signed certificate made now, trusted by the
// clients (curl --cacert, Python's ssl): TLS 1.2 at least, nothing in clear.
TEST_F(server_test, https_and_wss_with_a_self_signed_certificate_made_at_test_time) {
  const auto [cert, key] = self_signed_certificate();
  ASSERT_FALSE(cert.empty()) << read_file(scratch() + "/openssl.err");
  auto& s = start({"--tls-cert", cert, "--tls-key", key});
  ASSERT_NE(s.banner().find("https://127.0.0.1:"), std::string::npos) << s.banner();

  auto r = http(s, {.method = "POST",
                    .path = "/streams/tls-1",
                    .body = event_json("Secured"),
                    .curl_args = {"--cacert", cert}});
  EXPECT_EQ(r.status, 201) << r;
  auto read = http(s, {.path = "/streams/tls-1", .curl_args = {"--cacert", cert}});
  EXPECT_EQ(read.status, 200) << read;
  EXPECT_EQ(read.json().at("events").as_array().size(), 1u);

  // An old protocol is refused, and so is plain HTTP on the TLS port.
  auto old = http(s, {.path = "/health", .curl_args = {"--cacert", cert, "--tlsv1.1", "--tls-max", "1.1"}});
  EXPECT_EQ(old.status, 0) << "TLS 1.1 must be refused: " << old;
  child_process plain({"curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                       "http://127.0.0.1:" + std::to_string(s.port()) + "/health"},
                      scratch() + "/plain.err");
  EXPECT_EQ(plain.read_all(10s), "000") << "no HTTP answer in clear on the TLS port";
  plain.wait_exit(5s);

  // WSS: catch-up, caughtUp, then a live event.
  auto c =
      ws(s, "/subscribe?stream=tls-1&from=0", {"until=caughtUp", "mark=ready", "events=2"}, {}, 10, cert);
  ws_messages got;
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "MARK ready"; }))
      << got.transcript();
  append_ok_on(s, cert, "tls-1");
  ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  EXPECT_EQ(c->wait_exit(5s), 0);
  EXPECT_EQ(event_versions(got), iota_vec(0, 2));
}

}  // namespace

// A read page is bounded by bytes as well as by `limit`: 100 KB events under
// --read-page-bytes 250000 come two to a page, and `next` pages through all.
TEST_F(server_test, read_pages_are_bounded_by_read_page_bytes_and_next_reads_every_event) {
  start({"--read-page-bytes", "250000"});
  const std::string body = "{\"type\":\"Big\",\"data\":{\"blob\":\"" + std::string(100'000, 'x') + "\"}}";
  for (int i = 0; i < 5; ++i) append_ok("big-1", body);
  for (const std::string stream : {"big-1", "$all"}) {
    auto first = get("/streams/" + stream + "?limit=1000");
    ASSERT_EQ(first.status, 200) << first;
    const auto j = first.json();
    EXPECT_EQ(j.at("events").as_array().size(), 2u) << stream;
    ASSERT_FALSE(j.at("next").is_null()) << stream;
    std::size_t seen = 0;
    std::string from = "0";
    for (int pages = 0; pages < 10; ++pages) {
      auto page = get("/streams/" + stream + "?limit=1000&from=" + from).json();
      seen += page.at("events").as_array().size();
      if (page.at("next").is_null()) break;
      from = std::to_string(u64(page.at("next")));
    }
    EXPECT_EQ(seen, 5u) << stream;
  }
}
