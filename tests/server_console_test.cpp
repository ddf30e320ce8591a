// The web console, loaded by a real browser: headless Chromium (Debian's
// `chromium`, installed by tools/setup.sh test) runs the page's script under
// the page's own Content-Security-Policy and dumps the resulting DOM.
#include "support/server_fixture.hpp"

using namespace evstore::test::server;

namespace {

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

// The DOM after the page's script ran (fetches included: virtual time waits for them).
std::string rendered(const std::string& chromium, const std::string& url, const std::string& scratch) {
  child_process c(
      {chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
       "--user-data-dir=" + scratch + "/chromium-profile", "--virtual-time-budget=5000", "--dump-dom", url},
      scratch + "/chromium.err");
  std::string dom = c.read_all(60s);
  c.wait_exit(10s);
  return dom;
}

class console_test : public server_test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    ASSERT_FALSE(chromium_.empty())
        << "the console tests need Chromium: apt-get install chromium (tools/setup.sh test does)";
  }
  std::string chromium_;
};

TEST_F(console_test, shows_streams_and_events_as_text_under_its_own_policy) {
  auto& s = start();
  append_ok("order-1", event_json("OrderPlaced", R"({"total":129.50})"));
  // Hostile names and types: they must reach the page as text, never as markup.
  append_ok("%3Cb%3Ebold",
            event_json("<img src=x onerror=document.title='pwned'>", R"({"html":"<script>x()</script>"})"));
  const std::string dom = rendered(chromium_, s.base() + "/", scratch());
  ASSERT_NE(dom.find("id=\"streams\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("data-stream=\"order-1\""), std::string::npos) << "stream list filled by the script:\n"
                                                                    << dom;
  EXPECT_NE(dom.find("class=\"pill ok\">ok<"), std::string::npos) << "health shown:\n" << dom;
  EXPECT_NE(dom.find("2 events"), std::string::npos) << "figures from /metrics:\n" << dom;
  // $all, newest first: both events rendered in the table.
  EXPECT_NE(dom.find("<td>OrderPlaced</td>"), std::string::npos) << dom;
  EXPECT_NE(dom.find("129.5"), std::string::npos) << dom;
  EXPECT_NE(dom.find("&lt;img src=x onerror=document.title='pwned'&gt;"), std::string::npos) << dom;
  EXPECT_NE(dom.find("&lt;b&gt;bold"), std::string::npos) << dom;
  EXPECT_EQ(dom.find("<img"), std::string::npos) << "markup from the store was interpreted:\n" << dom;
  EXPECT_EQ(dom.find("<b>bold"), std::string::npos) << dom;
  EXPECT_EQ(dom.find("pwned</title>"), std::string::npos) << dom;
}

TEST_F(console_test, shows_the_last_scavenge_and_has_the_lifecycle_forms) {
  auto& s = start();
  append_ok("user-1", event_json("Registered", R"({"email":"a@example.com"})"));
  append_ok("user-1", event_json("Renamed", R"({"name":"A"})"));
  ASSERT_EQ(http({.method = "DELETE", .path = "/streams/user-1"}).status, 200);
  auto started = http({.method = "POST", .path = "/admin/scavenge"});
  ASSERT_EQ(started.status, 202) << started;
  for (int i = 0; i < 500 && get("/admin/scavenge").body.find("\"running\":false") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  const std::string dom = rendered(chromium_, s.base() + "/", scratch());
  EXPECT_NE(dom.find("id=\"delete-erase\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("id=\"metadata-max-count\""), std::string::npos) << dom;
  EXPECT_NE(dom.find("done: 2 events erased"), std::string::npos) << "the last scavenge shown:\n" << dom;
}

TEST_F(console_test, with_tokens_the_page_loads_and_asks_for_one) {
  const std::string token_file = scratch() + "/tokens";
  write_file(token_file, "read console-read-token-0123456789\n");
  auto& s = start({"--token-file", token_file});
  auto page = get("/");
  ASSERT_EQ(page.status, 200) << page;
  EXPECT_NE(page.header("Content-Security-Policy").value_or("").find("script-src 'self'"), std::string::npos)
      << page.headers;
  EXPECT_EQ(page.header("X-Content-Type-Options").value_or(""), "nosniff") << page.headers;
  EXPECT_EQ(get("/console.css").status, 200);
  EXPECT_EQ(get("/streams").status, 401) << "the data still needs a token";
  const std::string dom = rendered(chromium_, s.base() + "/", scratch());
  EXPECT_NE(dom.find("enter a token above"), std::string::npos) << dom;
}

}  // namespace
