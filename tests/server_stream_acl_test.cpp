// Stream access lists over HTTP: named tokens in the token file, the "acl" of
// PUT /streams/{s}/metadata, and what each token may then read, append,
// delete and change, stream by stream and through the streams that mix them
// ($all, $ce-, $et-, read streams), with what a refusal leaves behind.
#include "auth.hpp"
#include "support/server_fixture.hpp"

using namespace evstore::test::server;
using evstore::http::load_token_file;
using evstore::http::permissions;
using evstore::http::token;
using evstore::http::token_scope;

namespace {

class token_names_test : public server_test {
 protected:
  evstore::result<std::vector<token>> load(const std::string& text) {
    const std::string path = scratch() + "/tokens";
    write_file(path, text);
    return load_token_file(path);
  }
};

TEST_F(token_names_test, a_line_may_start_with_the_tokens_name) {
  auto tokens = load(
      "alice: write alice-token-0123456789ab orders-\n"
      "read carol-token-0123456789ab   # unnamed\n"
      "ops.team_1:   read ops-token-0123456789abcd\n");
  ASSERT_TRUE(tokens) << tokens.error().message();
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].name, "alice");
  EXPECT_EQ((*tokens)[0].scope, token_scope::write);
  EXPECT_EQ((*tokens)[0].prefixes, (std::vector<std::string>{"orders-"}));
  EXPECT_EQ((*tokens)[1].name, "");
  EXPECT_EQ((*tokens)[2].name, "ops.team_1");
}

TEST_F(token_names_test, a_bad_or_twice_given_name_stops_the_load_naming_the_line) {
  for (const std::string& line : std::vector<std::string>{
           ": write secret-0123456789abcdef", "al ice: write secret-0123456789abcdef",
           "bob: secret-0123456789abcdef", "bob:", std::string(65, 'n') + ": read secret-0123456789abcdef",
           "alice: read secret-0123456789abcdef"}) {
    auto tokens = load("alice: read ok-token-0123456789abcdef\n" + line + "\n");
    ASSERT_FALSE(tokens) << line;
    const std::string message = tokens.error().message();
    EXPECT_NE(message.find("tokens:2: "), std::string::npos) << message;
    EXPECT_EQ(message.find("secret-0123456789abcdef"), std::string::npos) << message;
  }
}

TEST(token_acl, an_access_list_lets_through_the_names_it_lists_and_the_administrator) {
  const std::optional<std::vector<std::string>> alice_only = std::vector<std::string>{"alice"};
  const std::optional<std::vector<std::string>> nobody = std::vector<std::string>{};
  const permissions alice(token{"a", token_scope::write, {"orders-"}, "alice"});
  const permissions bob(token{"b", token_scope::write, {"orders-"}, "bob"});
  const permissions unnamed(token{"u", token_scope::read, {}});
  const permissions admin(token{"w", token_scope::write, {}, "root"});
  const permissions open;
  EXPECT_TRUE(alice.listed_in(alice_only));
  EXPECT_FALSE(bob.listed_in(alice_only));
  EXPECT_FALSE(unnamed.listed_in(alice_only)) << "a whole-store read token is no administrator";
  EXPECT_TRUE(admin.listed_in(nobody));
  EXPECT_TRUE(open.listed_in(nobody)) << "a server without tokens has no one to refuse";
  EXPECT_FALSE(alice.listed_in(nobody));
  EXPECT_TRUE(bob.listed_in(std::nullopt)) << "no list: the token's scope and prefixes decide";
}

// --- evstored with named tokens.

const std::string admin_token = "admin-token-0123456789ab";
const std::string alice_token = "alice-token-0123456789ab";
const std::string bob_token = "bob-token-0123456789abcd";
const std::string carol_token = "carol-token-0123456789ab";    // whole-store read, named
const std::string auditor_token = "audit-token-0123456789ab";  // whole-store read, unnamed

class stream_acl_server_test : public server_test {
 protected:
  evstored& start_with_named_tokens() {
    const std::string tokens = scratch() + "/tokens";
    write_file(tokens, "write " + admin_token + "\nalice: write " + alice_token + " orders-\nbob: write " +
                           bob_token + " orders-\ncarol: read " + carol_token + "\nread " + auditor_token +
                           "\n");
    return start({"--token-file", tokens});
  }
  static std::vector<std::string> as(const std::string& token) { return {"Authorization: Bearer " + token}; }
  http_response put_metadata(const std::string& stream, const std::string& body, const std::string& token) {
    return http(
        {.method = "PUT", .path = "/streams/" + stream + "/metadata", .body = body, .headers = as(token)});
  }
  std::vector<std::string> listed(const std::string& token) {
    auto r = get("/streams", as(token));
    EXPECT_EQ(r.status, 200) << r;
    std::vector<std::string> out;
    const auto body = r.json();
    for (const auto& v : body.as_array()) out.emplace_back(v.as_object().at("stream").as_string().c_str());
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(stream_acl_server_test, a_private_stream_answers_only_the_names_on_its_list) {
  auto& s = start_with_named_tokens();
  append_ok("orders-1", batch_json(2, "Made"), as(admin_token));
  append_ok("orders-2", batch_json(1, "Made"), as(admin_token));
  auto made = http({.method = "PUT",
                    .path = "/read-streams/orders-made",
                    .body = R"({"filter":{"types":["Made"],"streamPrefix":"orders-"}})",
                    .headers = as(admin_token)});
  ASSERT_EQ(made.status, 201) << made;
  // Before any list: both bound tokens and both readers reach everything their tokens allow.
  EXPECT_EQ(get("/streams/orders-1", as(bob_token)).status, 200);
  EXPECT_EQ(get("/streams/$all", as(carol_token)).status, 200);

  auto set = put_metadata("orders-1", R"({"acl":{"read":["alice","carol"],"write":["alice"]}})", admin_token);
  ASSERT_EQ(set.status, 200) << set;
  auto meta = get("/streams/orders-1/metadata", as(alice_token));
  ASSERT_EQ(meta.status, 200) << meta;
  EXPECT_EQ(evstore::test::server::json::serialize(meta.json().at("acl")),
            R"({"read":["alice","carol"],"write":["alice"]})");

  // Alice: listed for both.
  EXPECT_EQ(get("/streams/orders-1", as(alice_token)).status, 200);
  EXPECT_EQ(post("/streams/orders-1", event_json("Made"), as(alice_token)).status, 201);
  EXPECT_EQ(get("/streams/$ce-orders", as(alice_token)).status, 200);
  EXPECT_EQ(get("/streams/orders-made", as(alice_token)).status, 200);
  EXPECT_EQ(listed(alice_token), (std::vector<std::string>{"orders-1", "orders-2", "orders-made"}));
  // Carol: a reader on the read list, but $all mixes in nothing she may not read.
  EXPECT_EQ(get("/streams/orders-1", as(carol_token)).status, 200);
  EXPECT_EQ(get("/streams/$all", as(carol_token)).status, 200);
  // The administrator: everything.
  EXPECT_EQ(get("/streams/orders-1", as(admin_token)).status, 200);
  EXPECT_EQ(get("/streams/$all", as(admin_token)).status, 200);

  // Bob and the unnamed auditor: refused the stream and whatever mixes it in.
  struct refused {
    std::string token, method, path;
    std::optional<std::string> body;
  };
  for (const refused& r : std::vector<refused>{
           {bob_token, "GET", "/streams/orders-1", {}},
           {bob_token, "HEAD", "/streams/orders-1", {}},
           {bob_token, "GET", "/streams/orders-1/metadata", {}},
           {bob_token, "POST", "/streams/orders-1", event_json("Made")},
           {bob_token, "DELETE", "/streams/orders-1", {}},
           {bob_token, "PUT", "/streams/orders-1/metadata", R"({"maxCount":1})"},
           {bob_token, "GET", "/streams/$ce-orders", {}},
           {bob_token, "GET", "/streams/orders-made", {}},
           {auditor_token, "GET", "/streams/orders-1", {}},
           {auditor_token, "GET", "/streams/$all", {}},
           {auditor_token, "GET", "/streams/$et-Made", {}},
           {auditor_token, "GET", "/streams/$ce-orders", {}},
           {auditor_token, "GET", "/streams/orders-made", {}},
           {carol_token, "POST", "/streams/orders-1", event_json("Made")},
       }) {
    auto got = http({.method = r.method, .path = r.path, .body = r.body, .headers = as(r.token)});
    EXPECT_EQ(got.status, 403) << r.method << " " << r.path << ": " << got;
    if (r.method != "HEAD") {
      EXPECT_EQ(got.error_code(), "forbidden") << r.method << " " << r.path;
    }
  }
  auto why = post("/streams/orders-1", event_json("Made"), as(bob_token));
  EXPECT_EQ(why.error_message(), "the access list of 'orders-1' does not let this token write") << why;
  EXPECT_EQ(get("/streams/orders-2", as(bob_token)).status, 200) << "a stream without a list: as before";
  EXPECT_EQ(post("/streams/orders-2", event_json("Made"), as(bob_token)).status, 201);
  EXPECT_EQ(listed(bob_token), (std::vector<std::string>{"orders-2"}));
  EXPECT_EQ(listed(auditor_token), (std::vector<std::string>{"orders-2"}));
  // Live reads ask the same question at the upgrade.
  EXPECT_EQ(get("/streams/orders-1?live=true", {"Accept: text/event-stream", as(bob_token)[0]}).status, 403);
  for (const std::string path :
       {"/subscribe?stream=orders-1&from=0", "/subscribe", "/subscribe?stream=$ce-orders"}) {
    auto c = ws(s, path, {"until=caughtUp"}, as(bob_token), 5);
    ws_messages got;
    read_ws_until(*c, got, [](const std::string& l) { return l.rfind("REJECTED", 0) == 0 || l == "DONE"; });
    ASSERT_FALSE(got.lines.empty()) << path;
    EXPECT_EQ(got.lines.back(), "REJECTED 403") << path << "\n" << got.transcript();
  }
  {
    auto c = ws(s, "/subscribe?stream=orders-1&from=0", {"until=caughtUp"}, as(alice_token));
    ws_messages got;
    EXPECT_TRUE(read_ws_until(*c, got, [](const std::string& l) { return l == "DONE"; })) << got.transcript();
  }

  // Nothing a refusal touched changed: orders-1 holds the admin's 2 and alice's 1.
  const auto events = get("/streams/orders-1", as(admin_token)).json();
  EXPECT_EQ(events.at("events").as_array().size(), 3u);
  EXPECT_EQ(get("/streams/orders-1/metadata", as(admin_token)).json().at("maxCount"), nullptr);
}

TEST_F(stream_acl_server_test, only_the_administrator_changes_a_list_and_limits_keep_it) {
  start_with_named_tokens();
  append_ok("orders-1", batch_json(3, "Made"), as(admin_token));
  ASSERT_EQ(put_metadata("orders-1", R"({"acl":{"read":["alice"],"write":["alice"]}})", admin_token).status,
            200);

  // Alice may write the stream, so she may change its limits; her PUT
  // without "acl" keeps the list.
  auto limited = put_metadata("orders-1", R"({"maxCount":2})", alice_token);
  ASSERT_EQ(limited.status, 200) << limited;
  auto meta = get("/streams/orders-1/metadata", as(alice_token)).json();
  EXPECT_EQ(meta.at("maxCount"), 2);
  EXPECT_EQ(evstore::test::server::json::serialize(meta.at("acl")),
            R"({"read":["alice"],"write":["alice"]})");
  EXPECT_EQ(get("/streams/orders-1", as(alice_token)).json().at("events").as_array().size(), 2u);

  // The list itself: not hers to change, not even to open or to keep as is.
  for (const std::string body : {R"({"acl":null})", R"({"acl":{"read":["alice","bob"]}})",
                                 R"({"maxCount":2,"acl":{"read":["alice"],"write":["alice"]}})"}) {
    auto got = put_metadata("orders-1", body, alice_token);
    EXPECT_EQ(got.status, 403) << body << ": " << got;
    EXPECT_NE(got.error_message().find("needs a write token without stream prefixes"), std::string::npos)
        << got;
  }
  // Malformed lists: 400, and the list stays.
  for (const std::string body :
       {R"({"acl":["alice"]})", R"({"acl":{"read":"alice"}})", R"({"acl":{"read":[1]}})",
        R"({"acl":{"delete":["alice"]}})", R"({"acl":{"read":["al ice"]}})"}) {
    auto got = put_metadata("orders-1", body, admin_token);
    EXPECT_EQ(got.status, 400) << body << ": " << got;
    EXPECT_EQ(got.error_code(), "invalid_argument") << body;
  }
  EXPECT_EQ(get("/streams/orders-1", as(bob_token)).status, 403);

  // The administrator opens it again: null drops the list (and, as any PUT, the limits).
  ASSERT_EQ(put_metadata("orders-1", R"({"acl":null})", admin_token).status, 200);
  EXPECT_EQ(get("/streams/orders-1/metadata", as(bob_token)).json().at("acl"), nullptr);
  EXPECT_EQ(get("/streams/orders-1", as(bob_token)).json().at("events").as_array().size(), 3u);
  EXPECT_EQ(post("/streams/orders-1", event_json("Made"), as(bob_token)).status, 201);
}

TEST_F(stream_acl_server_test, a_deleted_private_stream_stays_private_and_lists_outlive_a_restart) {
  auto& s = start_with_named_tokens();
  append_ok("orders-1", batch_json(1, "Made"), as(admin_token));
  ASSERT_EQ(put_metadata("orders-1", R"({"acl":{"read":["alice"],"write":["alice"]}})", admin_token).status,
            200);
  auto deleted = http({.method = "DELETE", .path = "/streams/orders-1", .headers = as(alice_token)});
  ASSERT_EQ(deleted.status, 200) << deleted;
  EXPECT_EQ(post("/streams/orders-1", event_json("Made"), as(bob_token)).status, 403)
      << "bob may not recreate it";
  EXPECT_EQ(post("/streams/orders-1", event_json("Made"), as(alice_token)).status, 201);
  ASSERT_EQ(s.stop(), 0);
  auto& again = start({"--token-file", scratch() + "/tokens"});
  EXPECT_EQ(http(again, {.path = "/streams/orders-1", .headers = as(bob_token)}).status, 403);
  EXPECT_EQ(http(again, {.path = "/streams/orders-1", .headers = as(alice_token)}).status, 200);
}

TEST_F(stream_acl_server_test, a_tombstoned_streams_list_no_longer_shuts_anyone_out_of_all) {
  start_with_named_tokens();
  append_ok("orders-9", batch_json(1, "Made"), as(admin_token));
  ASSERT_EQ(put_metadata("orders-9", R"({"acl":{"read":["alice"]}})", admin_token).status, 200);
  EXPECT_EQ(get("/streams/$all", as(carol_token)).status, 403);
  // A read stream whose filter takes $ streams takes $lifecycle, which holds every list.
  auto made = http({.method = "PUT",
                    .path = "/read-streams/lifecycles",
                    .body = R"({"filter":{"types":["$stream-lifecycle"],"streamPrefix":"$"}})",
                    .headers = as(admin_token)});
  ASSERT_EQ(made.status, 201) << made;
  EXPECT_EQ(get("/streams/lifecycles", as(carol_token)).status, 403);
  // Deleted for good: its events are hidden from every read and its list
  // can never be lifted (no change reaches a tombstoned stream), so it no
  // longer counts.
  auto gone = http({.method = "DELETE", .path = "/streams/orders-9?hard=true", .headers = as(admin_token)});
  ASSERT_EQ(gone.status, 200) << gone;
  EXPECT_EQ(put_metadata("orders-9", R"({"acl":null})", admin_token).status, 410);
  EXPECT_EQ(get("/streams/$all", as(carol_token)).status, 200);
  EXPECT_EQ(get("/streams/orders-9", as(alice_token)).status, 404) << "deleted for everyone";
}

}  // namespace
