// evstored's log as an operator reads it: every line starts with its time.
#include "support/server_fixture.hpp"

#include <regex>

using namespace evstore::test::server;

namespace {

// "2026-11-30T20:19:06.123Z evstored..." : RFC 3339, UTC, milliseconds, then the line.
const std::regex stamped(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z evstored[ :].*)");

// The banner on stdout, the request lines, and the stop's lines on stderr:
// each one carries the time, the same way.
TEST_F(server_test, every_line_evstored_logs_starts_with_an_rfc_3339_utc_time) {
  auto& s = start();
  EXPECT_TRUE(std::regex_match(s.banner(), stamped)) << s.banner();
  EXPECT_EQ(get("/health").status, 200);
  append_ok("t-1", R"({"type":"A"})");
  EXPECT_EQ(s.stop(), 0);
  const std::string log = s.log();
  std::size_t lines = 0;
  for (std::size_t at = 0, end = 0; at < log.size(); at = end + 1, ++lines) {
    end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(at, end - at);
    EXPECT_TRUE(std::regex_match(line, stamped)) << "line " << lines << ": " << line;
  }
  EXPECT_GE(lines, 4u) << "two requests, stopping and stopped:\n" << log;
  EXPECT_NE(log.find("Z evstored method=POST path=/streams/t-1 status=201"), std::string::npos) << log;
  EXPECT_NE(log.find("Z evstored: stopped"), std::string::npos) << log;
}

}  // namespace
