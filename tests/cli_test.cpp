// The evstore command-line tool, run as a separate process.
#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>

using evstore::test::temp_dir;

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

run_result run(const std::string& args) {
  run_result r;
  const std::string cmd = std::string(EVSTORE_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST(cli, demo_appends_and_reads_back_then_verify_is_clean) {
  temp_dir dir;
  auto demo = run("demo " + dir.sub("data"));
  ASSERT_EQ(demo.status, 0) << demo.out;
  EXPECT_NE(demo.out.find("\"type\":\"CartCheckedOut\""), std::string::npos) << demo.out;
  auto verify = run("verify " + dir.sub("data"));
  EXPECT_EQ(verify.status, 0) << verify.out;
  EXPECT_NE(verify.out.find("checked 4 events in 1 streams: clean"), std::string::npos) << verify.out;
  auto cat = run("cat " + dir.sub("data") + " cart-1 --from 3");
  EXPECT_EQ(cat.status, 0);
  EXPECT_EQ(std::count(cat.out.begin(), cat.out.end(), '\n'), 1);
}

TEST(cli, append_reports_bad_input_and_conflicts_with_exit_1) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  const std::string cli = EVSTORE_CLI;
  auto ok = run("append " + d + " o-1 --expected no_stream < /dev/null; echo '{\"type\":\"A\",\"data\":{\"n\":1}}' | " + cli +
                " append " + d + " o-1 --expected no_stream");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("\"createdStream\":true"), std::string::npos) << ok.out;
  auto bad = run("ls " + d + "; echo '{\"data\":1}' | " + cli + " append " + d + " o-1");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("needs a non-empty string \"type\""), std::string::npos) << bad.out;
  auto conflict = run("ls " + d + "; echo '{\"type\":\"A\"}' | " + cli + " append " + d + " o-1 --expected 5");
  EXPECT_EQ(conflict.status, 1);
  EXPECT_NE(conflict.out.find("wrong_expected_version (expected 5, actual 0)"), std::string::npos) << conflict.out;
  EXPECT_EQ(run("frobnicate " + d).status, 2);
  EXPECT_EQ(run("cat " + d).status, 2);
}

TEST(cli, verify_exits_1_and_names_the_damaged_file) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  ASSERT_EQ(run("demo " + d).status, 0);
  {
    std::fstream f(d + "/streams/cart-1.evs", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(256 + 100);
    f.put('\x7f');
  }
  auto verify = run("verify " + d);
  EXPECT_EQ(verify.status, 1) << verify.out;
  EXPECT_NE(verify.out.find("streams/cart-1.evs at offset 256"), std::string::npos) << verify.out;
}
