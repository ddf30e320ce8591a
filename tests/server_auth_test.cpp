// evstored's authorization, route by route: every HTTP route asked with no
// token, a read token and a write token. A read token reads everything and
// changes nothing; no token gets 401 everywhere but the console's static
// files; what is refused leaves the store as it was. (WebSocket messages per
// token: server_hostile_live_test.cpp.)
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

const std::string read_token = "read-token-abcdefghijkl";
const std::string write_token = "write-token-abcdefghijkl";

enum class needs { nothing, read, write };

struct route {
  std::string method, path;
  std::optional<std::string> body;
  needs scope;
  std::vector<std::string> extra_headers = {};
  std::vector<std::string> curl_args = {};
};

std::string describe(const route& r, const std::string& who) {
  return r.method + " " + r.path + " as " + who;
}

class auth_test : public server_test {
 protected:
  evstored& start_with_tokens() {
    const std::string tokens = scratch() + "/tokens";
    write_file(tokens, "read " + read_token + "\nwrite " + write_token + "\n");
    return start({"--token-file", tokens});
  }
  static std::string bearer(const std::string& token) { return "Authorization: Bearer " + token; }

  http_response ask(const route& r, const std::optional<std::string>& token) {
    request q{.method = r.method,
              .path = r.path,
              .body = r.body,
              .headers = r.extra_headers,
              .curl_args = r.curl_args};
    if (token) q.headers.push_back(bearer(*token));
    return http(q);
  }
};

// Every route of the server; the read stream, consumer and stream they name exist.
std::vector<route> every_route() {
  const std::string filter = R"({"filter":{"types":["Made"]}})";
  const std::vector<std::string> sse = {"Accept: text/event-stream"};
  return {
      {"GET", "/health", {}, needs::read},
      {"GET", "/metrics", {}, needs::read},
      {"GET", "/streams", {}, needs::read},
      {"GET", "/streams/au-1", {}, needs::read},
      {"GET", "/streams/au-1?from=0&limit=1&direction=backward", {}, needs::read},
      {"GET", "/streams/$all", {}, needs::read},
      {"GET", "/streams/rs-kept", {}, needs::read},
      {"HEAD", "/streams/au-1", {}, needs::read},
      {"GET", "/streams/au-1?live=true", {}, needs::read, sse, {"--max-time", "1"}},
      {"GET", "/consumers", {}, needs::read},
      {"GET", "/consumers/c1?stream=au-1", {}, needs::read},
      {"GET", "/no/such/route", {}, needs::read},
      {"PATCH", "/streams/au-1", event_json("Made"), needs::read},
      {"POST", "/streams/au-2", event_json("Made"), needs::write},
      {"PUT", "/read-streams/rs-new", filter, needs::write},
      {"PUT", "/consumers/c1?stream=au-1", R"({"position":1})", needs::write},
      {"DELETE", "/read-streams/rs-kept", {}, needs::write},
      {"GET", "/", {}, needs::nothing},
      {"GET", "/console.js", {}, needs::nothing},
  };
}

TEST_F(auth_test,
       every_route_answers_401_without_a_token_403_to_a_read_token_that_writes_and_serves_the_rest) {
  start_with_tokens();
  const std::vector<std::string> as_write = {bearer(write_token)};
  append_ok("au-1", batch_json(2, "Made"), as_write);
  auto made = http({.method = "PUT",
                    .path = "/read-streams/rs-kept",
                    .body = R"({"filter":{"types":["Made"]}})",
                    .headers = as_write});
  ASSERT_EQ(made.status, 201) << made;
  {
    // A consumer with a commit, through its WebSocket (the only way to make one).
    auto c = ws(srv(), "/subscribe?stream=au-1&consumer=c1",
                {"until=caughtUp", "send={\"ack\":0}", "until=acked"}, as_write);
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }
  const auto before = get("/streams/$all", as_write).body;

  for (const route& r : every_route()) {
    const auto none = ask(r, std::nullopt);
    if (r.scope == needs::nothing) {
      EXPECT_EQ(none.status, 200) << describe(r, "nobody") << ": " << none;
    } else {
      EXPECT_EQ(none.status, 401) << describe(r, "nobody") << ": " << none;
      EXPECT_EQ(none.header("WWW-Authenticate").value_or(""), "Bearer") << describe(r, "nobody");
      if (r.method != "HEAD") {
        EXPECT_EQ(none.error_code(), "unauthorized") << describe(r, "nobody");
      }
    }

    const auto reader = ask(r, read_token);
    if (r.scope == needs::write) {
      EXPECT_EQ(reader.status, 403) << describe(r, "reader") << ": " << reader;
      EXPECT_EQ(reader.error_code(), "forbidden") << describe(r, "reader");
    } else {
      EXPECT_NE(reader.status, 401) << describe(r, "reader") << ": " << reader;
      EXPECT_NE(reader.status, 403) << describe(r, "reader") << ": " << reader;
      EXPECT_NE(reader.status, 0) << describe(r, "reader") << ": " << reader;
    }
  }
  // Nothing refused changed the store: no event, the read stream still
  // there, the new one never made.
  EXPECT_EQ(get("/streams/$all", as_write).body, before);
  EXPECT_EQ(get("/streams/au-2", as_write).status, 404);
  EXPECT_EQ(get("/streams/rs-kept", as_write).status, 200);
  EXPECT_EQ(get("/streams/rs-new", as_write).status, 404);

  // The writer may do all of it (the writes last: they change what the reads see).
  for (const route& r : every_route()) {
    const auto writer = ask(r, write_token);
    EXPECT_NE(writer.status, 401) << describe(r, "writer") << ": " << writer;
    EXPECT_NE(writer.status, 403) << describe(r, "writer") << ": " << writer;
    EXPECT_NE(writer.status, 0) << describe(r, "writer") << ": " << writer;
  }
  EXPECT_EQ(get("/streams/au-2", as_write).status, 200);
  EXPECT_EQ(get("/streams/rs-new", as_write).status, 200);
}

TEST_F(auth_test, a_server_without_tokens_serves_every_route_to_anyone) {
  start();
  append_ok("au-1", batch_json(1, "Made"));
  auto made =
      http({.method = "PUT", .path = "/read-streams/rs-kept", .body = R"({"filter":{"types":["Made"]}})"});
  ASSERT_EQ(made.status, 201) << made;
  for (const route& r : every_route()) {
    const auto anyone = ask(r, std::nullopt);
    EXPECT_NE(anyone.status, 401) << describe(r, "anyone") << ": " << anyone;
    EXPECT_NE(anyone.status, 403) << describe(r, "anyone") << ": " << anyone;
    EXPECT_NE(anyone.status, 0) << describe(r, "anyone") << ": " << anyone;
  }
}

}  // namespace

namespace {

// --open-probes: a load balancer's health check and Prometheus need no token;
// every other route still does, and a bad token on a probe is not refused
// (the probe does not look at it).
TEST_F(auth_test, open_probes_serves_health_and_metrics_without_a_token_and_nothing_else) {
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens, "read " + read_token + "\nwrite " + write_token + "\n");
  start({"--token-file", tokens, "--open-probes"});
  EXPECT_EQ(get("/health").status, 200);
  const auto metrics = get("/metrics?x=1");
  EXPECT_EQ(metrics.status, 200) << metrics;
  EXPECT_NE(metrics.body.find("evstore_appends_total"), std::string::npos) << metrics.body.substr(0, 300);
  EXPECT_EQ(get("/health", {"Authorization: Bearer wrong-token-0123456789"}).status, 200);
  for (const route& r : every_route()) {
    if (r.scope == needs::nothing || r.path == "/health" || r.path == "/metrics") continue;
    EXPECT_EQ(ask(r, std::nullopt).status, 401) << describe(r, "nobody");
  }
  EXPECT_EQ(http({.method = "HEAD", .path = "/health"}).status, 401) << "only GET is a probe";
}

}  // namespace
