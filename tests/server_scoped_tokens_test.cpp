// Tokens bound to stream name prefixes, and append-only tokens: the token
// file's grammar, what each token may read and append (auth.hpp's permissions),
// and evstored route by route, with what a refused request leaves behind.
#include "auth.hpp"
#include "support/server_fixture.hpp"

using namespace evstore::test::server;
using evstore::http::load_token_file;
using evstore::http::permissions;
using evstore::http::token;
using evstore::http::token_scope;

namespace {

// --- The token file and permissions, without a server.

class token_file_test : public server_test {
 protected:
  evstore::result<std::vector<token>> load(const std::string& text) {
    const std::string path = scratch() + "/tokens";
    write_file(path, text);
    return load_token_file(path);
  }
};

TEST_F(token_file_test, reads_scopes_and_prefixes) {
  auto tokens = load(
      "# comment\n"
      "read   reader-0123456789abcdef\n"
      "write  writer-0123456789abcdef  orders- carts-   # two categories\n"
      "append feeder-0123456789abcdef  orders-eu-\n");
  ASSERT_TRUE(tokens) << tokens.error().message();
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].scope, token_scope::read);
  EXPECT_TRUE((*tokens)[0].prefixes.empty());
  EXPECT_EQ((*tokens)[1].scope, token_scope::write);
  EXPECT_EQ((*tokens)[1].prefixes, (std::vector<std::string>{"orders-", "carts-"}));
  EXPECT_EQ((*tokens)[2].scope, token_scope::append);
  EXPECT_EQ((*tokens)[2].secret, "feeder-0123456789abcdef");
}

TEST_F(token_file_test, refuses_a_bad_line_naming_it_and_never_the_token) {
  for (const std::string line : {"admin  secret-0123456789abcdef", "write  short", "write",
                                 "read   secret-0123456789abcdef $ce-orders"}) {
    auto tokens = load("read ok-token-0123456789abcdef\n" + line + "\n");
    ASSERT_FALSE(tokens) << line;
    const std::string message = tokens.error().message();
    EXPECT_NE(message.find("tokens:2: "), std::string::npos) << message;
    EXPECT_EQ(message.find("secret-0123456789abcdef"), std::string::npos) << message;
  }
}

TEST(token_access, a_token_without_prefixes_reads_everything_its_scope_allows) {
  const permissions reader(token{"r", token_scope::read, {}});
  EXPECT_TRUE(reader.may_read("$all"));
  EXPECT_TRUE(reader.may_read("$et-Made"));
  EXPECT_TRUE(reader.may_read("any-1"));
  EXPECT_FALSE(reader.may_append("any-1"));
  EXPECT_FALSE(reader.may_administer());

  const permissions feeder(token{"a", token_scope::append, {}});
  EXPECT_TRUE(feeder.may_append("any-1"));
  EXPECT_FALSE(feeder.may_read("any-1"));
  EXPECT_FALSE(feeder.may_read("$all"));
  EXPECT_FALSE(feeder.may_administer());

  const permissions writer(token{"w", token_scope::write, {}});
  EXPECT_TRUE(writer.may_read("$all"));
  EXPECT_TRUE(writer.may_append("any-1"));
  EXPECT_TRUE(writer.may_administer());

  const permissions open;  // a server without tokens
  EXPECT_TRUE(open.may_read("$all"));
  EXPECT_TRUE(open.may_append("any-1"));
  EXPECT_TRUE(open.may_administer());
}

TEST(token_access, a_token_with_prefixes_reaches_its_streams_and_the_categories_within_them) {
  const permissions a(token{"w", token_scope::write, {"orders-", "cart"}});
  EXPECT_TRUE(a.may_read("orders-1"));
  EXPECT_TRUE(a.may_append("orders-1"));
  EXPECT_TRUE(a.may_read("carts-9"));
  EXPECT_FALSE(a.may_read("order-1"));
  EXPECT_FALSE(a.may_append("invoices-1"));
  EXPECT_FALSE(a.may_read("ORDERS-1")) << "names match exactly";
  // $ce-<c>: every stream of category c starts with "c-".
  EXPECT_TRUE(a.may_read("$ce-orders"));
  EXPECT_TRUE(a.may_read("$ce-carts"));
  EXPECT_TRUE(a.may_read("$ce-cart")) << "\"cart-\" starts with \"cart\"";
  EXPECT_FALSE(a.may_read("$ce-order")) << "order-x is not within orders-";
  EXPECT_FALSE(a.may_read("$ce-invoices"));
  // Streams that mix every stream's events.
  EXPECT_FALSE(a.may_read("$all"));
  EXPECT_FALSE(a.may_read("$et-OrderPlaced"));
  EXPECT_FALSE(a.may_administer());

  const permissions narrow(token{"w", token_scope::write, {"orders-eu-"}});
  EXPECT_FALSE(narrow.may_read("$ce-orders")) << "orders-us-1 is in the category, outside the prefix";
  EXPECT_TRUE(narrow.may_read("orders-eu-7"));
}

// --- evstored with bound tokens.

const std::string admin_token = "admin-token-0123456789ab";
const std::string orders_writer = "orders-writer-0123456789";
const std::string orders_reader = "orders-reader-0123456789";
const std::string orders_feeder = "orders-feeder-0123456789";

class scoped_token_server_test : public server_test {
 protected:
  evstored& start_with_scoped_tokens() {
    const std::string tokens = scratch() + "/tokens";
    write_file(tokens, "write  " + admin_token + "\nwrite  " + orders_writer + " orders-\nread   " +
                           orders_reader + " orders-\nappend " + orders_feeder + " orders-\n");
    return start({"--token-file", tokens});
  }
  static std::vector<std::string> as(const std::string& token) { return {"Authorization: Bearer " + token}; }

  // The names GET /streams (or /consumers, with `field`) lists for a token.
  std::vector<std::string> listed(const std::string& path, const std::string& token,
                                  const char* field = "stream") {
    auto r = get(path, as(token));
    EXPECT_EQ(r.status, 200) << r;
    std::vector<std::string> out;
    const auto body = r.json();
    for (const auto& v : body.as_array()) out.emplace_back(v.as_object().at(field).as_string().c_str());
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(scoped_token_server_test, a_bound_token_reads_and_appends_within_its_prefixes_and_nowhere_else) {
  auto& s = start_with_scoped_tokens();
  append_ok("orders-1", batch_json(2, "Made"), as(admin_token));
  append_ok("invoices-1", batch_json(1, "Made"), as(admin_token));
  // A read stream is judged by its filter, not its name: orders-any-made
  // takes invoices-1's event too.
  for (const auto& [name, filter] :
       {std::pair{"orders-made", R"({"filter":{"types":["Made"],"streamPrefix":"orders-"}})"},
        std::pair{"orders-any-made", R"({"filter":{"types":["Made"]}})"},
        std::pair{"everything-made", R"({"filter":{"types":["Made"]}})"},
        // Joins: judged by every alternative's streams.
        std::pair{"orders-joined", R"({"filter":{"any":[{"streams":["orders-1"]},{"category":"orders"}]}})"},
        std::pair{"orders-and-invoices",
                  R"({"filter":{"any":[{"streams":["orders-1"]},{"streams":["invoices-1"]}]}})"}}) {
    auto made = http({.method = "PUT",
                      .path = std::string("/read-streams/") + name,
                      .body = std::string(filter),
                      .headers = as(admin_token)});
    ASSERT_EQ(made.status, 201) << made;
  }
  for (const std::string stream : {"orders-1", "invoices-1"}) {
    auto c = ws(s, "/subscribe?stream=" + stream + "&consumer=mailer",
                {"until=caughtUp", "send={\"ack\":0}", "until=acked"}, as(admin_token));
    ws_messages got;
    ASSERT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }

  // Within its prefix: read, append, the category, its read stream, SSE, a consumer.
  EXPECT_EQ(get("/streams/orders-1", as(orders_writer)).status, 200);
  EXPECT_EQ(http({.method = "HEAD", .path = "/streams/orders-1", .headers = as(orders_writer)}).status, 200);
  EXPECT_EQ(get("/streams/$ce-orders", as(orders_writer)).status, 200);
  EXPECT_EQ(get("/streams/orders-made", as(orders_writer)).status, 200);
  EXPECT_EQ(get("/streams/orders-joined", as(orders_writer)).status, 200);
  EXPECT_EQ(post("/streams/orders-2", event_json("Made"), as(orders_writer)).status, 201);
  EXPECT_EQ(get("/consumers/mailer?stream=orders-1", as(orders_writer)).status, 200);
  auto one = get("/consumers/mailer", as(orders_writer));
  EXPECT_EQ(one.status, 200) << "the other mailer is not there for this token: " << one;
  EXPECT_EQ(listed("/streams", orders_writer),
            (std::vector<std::string>{"orders-1", "orders-2", "orders-joined", "orders-made"}));
  EXPECT_EQ(listed("/consumers", orders_writer), (std::vector<std::string>{"orders-1"}));
  auto live = http({.path = "/streams/orders-1?live=true",
                    .headers = {"Accept: text/event-stream", as(orders_writer)[0]},
                    .curl_args = {"--max-time", "1"}});
  EXPECT_EQ(live.status, 200) << live;
  {
    auto c =
        ws(s, "/subscribe?stream=orders-1&from=0&consumer=mailer", {"until=caughtUp"}, as(orders_writer));
    ws_messages got;
    EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }

  // Outside it: 403 everywhere, and nothing changes.
  struct refused {
    std::string method, path;
    std::optional<std::string> body;
  };
  for (const refused& r : std::vector<refused>{
           {"POST", "/streams/invoices-2", event_json("Made")},
           {"POST", "/streams/invoices-1", event_json("Made")},
           {"GET", "/streams/invoices-1", {}},
           {"HEAD", "/streams/invoices-1", {}},
           {"GET", "/streams/$all", {}},
           {"GET", "/streams/$et-Made", {}},
           {"GET", "/streams/$ce-invoices", {}},
           {"GET", "/streams/everything-made", {}},
           {"GET", "/streams/orders-any-made", {}},
           {"HEAD", "/streams/orders-any-made", {}},
           {"GET", "/streams/orders-and-invoices", {}},
           {"GET", "/consumers/mailer?stream=invoices-1", {}},
           {"PUT", "/read-streams/orders-new", R"({"filter":{"types":["Made"]}})"},
           {"DELETE", "/read-streams/orders-made", {}},
       }) {
    auto got = http({.method = r.method, .path = r.path, .body = r.body, .headers = as(orders_writer)});
    EXPECT_EQ(got.status, 403) << r.method << " " << r.path << ": " << got;
    if (r.method != "HEAD") {
      EXPECT_EQ(got.error_code(), "forbidden") << r.method << " " << r.path;
    }
  }
  EXPECT_EQ(get("/streams/invoices-1?live=true", {"Accept: text/event-stream", as(orders_writer)[0]}).status,
            403);
  for (const std::string path :
       {"/subscribe?stream=invoices-1&from=0", "/subscribe", "/subscribe?stream=invoices-1&consumer=mailer",
        "/subscribe?stream=orders-any-made&from=0"}) {
    auto c = ws(s, path, {"until=caughtUp"}, as(orders_writer), 5);
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("REJECTED", 0) == 0 || l == "DONE"; });
    ASSERT_FALSE(got.lines.empty()) << path;
    EXPECT_EQ(got.lines.back(), "REJECTED 403") << path << "\n" << got.transcript();
  }
  EXPECT_EQ(get("/streams/invoices-2", as(admin_token)).status, 404);
  EXPECT_EQ(get("/streams/orders-new", as(admin_token)).status, 404);
  EXPECT_EQ(get("/streams/orders-made", as(admin_token)).status, 200);
  const auto all_json = get("/streams/$all", as(admin_token)).json();
  const auto& all_after = all_json.at("events").as_array();
  ASSERT_EQ(all_after.size(), 4u) << "orders-1 x2, invoices-1, and orders-2 only";
  EXPECT_EQ(all_after.back().as_object().at("stream").as_string(), "orders-2");
}

TEST_F(scoped_token_server_test, a_read_token_never_appends_and_an_append_token_never_reads) {
  auto& s = start_with_scoped_tokens();
  append_ok("orders-1", batch_json(1, "Made"), as(admin_token));

  EXPECT_EQ(get("/streams/orders-1", as(orders_reader)).status, 200);
  {
    // A consumer commits its acks: a read token may not open one, even on its own streams.
    auto c = ws(s, "/subscribe?stream=orders-1&consumer=mailer", {"until=caughtUp"}, as(orders_reader), 5);
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("REJECTED", 0) == 0 || l == "DONE"; });
    ASSERT_FALSE(got.lines.empty());
    EXPECT_EQ(got.lines.back(), "REJECTED 403") << got.transcript();
  }
  auto read_post = post("/streams/orders-1", event_json("Made"), as(orders_reader));
  EXPECT_EQ(read_post.status, 403) << read_post;
  EXPECT_EQ(read_post.error_message(), "this token may only read") << read_post;

  auto fed = post("/streams/orders-1", event_json("Made"), as(orders_feeder));
  EXPECT_EQ(fed.status, 201) << fed;
  EXPECT_EQ(post("/streams/invoices-1", event_json("Made"), as(orders_feeder)).status, 403);
  for (const std::string path : {"/streams/orders-1", "/streams", "/health", "/consumers"}) {
    auto got = get(path, as(orders_feeder));
    EXPECT_EQ(got.status, 403) << path << ": " << got;
    EXPECT_EQ(got.error_message(), "this token may only append") << path;
  }
  const auto read = get("/streams/orders-1", as(orders_reader)).json();
  const auto& events = read.at("events").as_array();
  EXPECT_EQ(events.size(), 2u) << "the reader's append was refused, the feeder's kept";
  EXPECT_EQ(get("/streams/invoices-1", as(admin_token)).status, 404);
}

}  // namespace
