// The evstore command-line tool, run as a separate process.
#include "support/store_fixture.hpp"
#include "support/v1_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <utility>
#include <vector>

#include <sys/wait.h>

using evstore::test::temp_dir;

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

// A shell command line, stdout and stderr together.
run_result sh(const std::string& command) {
  run_result r;
  const std::string cmd = "(" + command + ") 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The CLI with `args`.
run_result run(const std::string& args) { return sh(std::string(EVSTORE_CLI) + " " + args); }

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
  auto ok =
      run("append " + d +
          " o-1 --expected no_stream --create < /dev/null; echo '{\"type\":\"A\",\"data\":{\"n\":1}}' | " +
          cli + " append " + d + " o-1 --expected no_stream");
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("\"createdStream\":true"), std::string::npos) << ok.out;
  auto bad = run("ls " + d + "; echo '{\"data\":1}' | " + cli + " append " + d + " o-1");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("needs a non-empty string \"type\""), std::string::npos) << bad.out;
  auto conflict =
      run("ls " + d + "; echo '{\"type\":\"A\"}' | " + cli + " append " + d + " o-1 --expected 5");
  EXPECT_EQ(conflict.status, 1);
  EXPECT_NE(conflict.out.find("wrong_expected_version (expected 5, actual 0)"), std::string::npos)
      << conflict.out;
  EXPECT_EQ(run("frobnicate " + d).status, 2);
  EXPECT_EQ(run("cat " + d).status, 2);
}

TEST(cli, delete_and_metadata_hide_events_and_refuse_with_exit_1) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  const std::string cli = EVSTORE_CLI;
  auto made = sh("echo '[{\"type\":\"A\"},{\"type\":\"A\"},{\"type\":\"A\"}]' | " + cli + " append " + d +
                 " o-1 --create; echo '{\"type\":\"B\"}' | " + cli + " append " + d + " u-1");
  ASSERT_EQ(made.status, 0) << made.out;
  ASSERT_NE(made.out.find("\"version\":2"), std::string::npos) << made.out;

  auto capped = run("metadata " + d + " o-1 --max-count 1");
  ASSERT_EQ(capped.status, 0) << capped.out;
  EXPECT_EQ(run("metadata " + d + " o-1").out,
            "{\"stream\":\"o-1\",\"maxCount\":1,\"maxAge\":null,\"truncateBefore\":null,\"acl\":null}\n");
  auto cat = run("cat " + d + " o-1");
  EXPECT_EQ(std::count(cat.out.begin(), cat.out.end(), '\n'), 1) << cat.out;

  auto stale = run("delete " + d + " o-1 --expected 0");
  EXPECT_EQ(stale.status, 1);
  EXPECT_NE(stale.out.find("wrong_expected_version"), std::string::npos) << stale.out;
  auto deleted = run("delete " + d + " o-1 --expected 2");
  EXPECT_EQ(deleted.status, 0) << deleted.out;
  EXPECT_NE(deleted.out.find("\"version\":2"), std::string::npos) << deleted.out;
  EXPECT_NE(run("cat " + d + " o-1").out.find("stream_deleted"), std::string::npos);

  ASSERT_EQ(run("delete " + d + " u-1 --hard").status, 0);
  auto refused = sh("echo '{\"type\":\"B\"}' | " + cli + " append " + d + " u-1");
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.out.find("stream_tombstoned"), std::string::npos) << refused.out;

  // verify checks every stored event, hidden or not; export carries them all
  // (and not $lifecycle), so an import into a new store takes them.
  auto verify = run("verify " + d);
  EXPECT_EQ(verify.status, 0) << verify.out;
  auto exported = sh(cli + " export " + d + " 2>/dev/null | " + cli + " import " + dir.sub("copy") +
                     " --create 2>&1; " + cli + " cat " + dir.sub("copy") + " o-1");
  EXPECT_EQ(std::count(exported.out.begin(), exported.out.end(), '\n') >= 3, true) << exported.out;
  EXPECT_EQ(exported.out.find("$lifecycle"), std::string::npos) << exported.out;
}

TEST(cli, metadata_sets_an_access_list_and_limits_keep_it) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  auto made = sh("echo '[{\"type\":\"A\"},{\"type\":\"A\"}]' | " + std::string(EVSTORE_CLI) + " append " + d +
                 " doc-1 --create");
  ASSERT_EQ(made.status, 0) << made.out;
  ASSERT_EQ(run("metadata " + d + " doc-1 --max-count 5").status, 0);
  auto listed = run("metadata " + d + " doc-1 --acl-read alice,bob --acl-write ''");
  ASSERT_EQ(listed.status, 0) << listed.out;
  const std::string with_list = "\"acl\":{\"read\":[\"alice\",\"bob\"],\"write\":[]}}\n";
  auto shown = run("metadata " + d + " doc-1");
  EXPECT_NE(shown.out.find("\"maxCount\":5,"), std::string::npos)
      << "the list alone keeps the limits: " << shown.out;
  EXPECT_NE(shown.out.find(with_list), std::string::npos) << shown.out;
  // Limits alone keep the list.
  ASSERT_EQ(run("metadata " + d + " doc-1 --max-age 60").status, 0);
  shown = run("metadata " + d + " doc-1");
  EXPECT_NE(shown.out.find("\"maxCount\":null,\"maxAge\":60,"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(with_list), std::string::npos) << shown.out;
  // A bad name: exit 1 with the store's words, and nothing changes.
  auto bad = run("metadata " + d + " doc-1 --acl-read 'al ice'");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("access list"), std::string::npos) << bad.out;
  EXPECT_EQ(run("metadata " + d + " doc-1 --no-acl --acl-read x").status, 2);
  EXPECT_NE(run("metadata " + d + " doc-1").out.find(with_list), std::string::npos);
  ASSERT_EQ(run("metadata " + d + " doc-1 --no-acl").status, 0);
  EXPECT_NE(run("metadata " + d + " doc-1").out.find("\"maxAge\":60,\"truncateBefore\":null,\"acl\":null}"),
            std::string::npos);
}

TEST(cli, scavenge_and_delete_erase_remove_event_bodies_from_the_files) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  const std::string cli = EVSTORE_CLI;
  auto made =
      sh("echo '[{\"type\":\"A\",\"data\":{\"who\":\"secret-one\"}},{\"type\":\"A\"}]' | " + cli +
         " append " + d + " o-1 --create; echo '{\"type\":\"B\",\"data\":{\"who\":\"secret-two\"}}' | " +
         cli + " append " + d + " u-1");
  ASSERT_EQ(made.status, 0) << made.out;
  const auto holding = [&](const std::string& needle) {
    return sh("grep -rl " + needle + " " + d + " | wc -l").out;
  };
  ASSERT_EQ(holding("secret-one"), "1\n");
  ASSERT_EQ(run("metadata " + d + " o-1 --max-count 1").status, 0);
  auto scavenged = run("scavenge " + d);
  ASSERT_EQ(scavenged.status, 0) << scavenged.out;
  EXPECT_NE(scavenged.out.find("\"eventsErased\":1,"), std::string::npos) << scavenged.out;
  EXPECT_EQ(holding("secret-one"), "0\n");

  auto erased = run("delete " + d + " u-1 --hard --erase");
  ASSERT_EQ(erased.status, 0) << erased.out;
  EXPECT_NE(erased.out.find("\"eventsErased\":1,"), std::string::npos) << erased.out;
  EXPECT_EQ(holding("secret-two"), "0\n");
  auto only = run("scavenge " + d + " --stream o-1");
  EXPECT_EQ(only.status, 0) << only.out;
  EXPECT_NE(only.out.find("\"eventsErased\":0,"), std::string::npos) << only.out;
  auto verify = run("verify " + d);
  EXPECT_EQ(verify.status, 0) << verify.out;
  EXPECT_EQ(run("scavenge " + d + " --stream a/b").status, 1) << "an invalid name is refused";
}

TEST(cli, verify_exits_1_and_names_the_damaged_file) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  ASSERT_EQ(run("demo " + d).status, 0);
  {
    std::fstream f(d + "/log/p000-00000000.evs", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(256 + 100);
    f.put('\x7f');
  }
  auto verify = run("verify " + d);
  EXPECT_EQ(verify.status, 1) << verify.out;
  EXPECT_NE(verify.out.find("log/p000-00000000.evs at offset 256"), std::string::npos) << verify.out;
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Each NDJSON line without its "committedAt" (an import is a new append).
std::string without_commit_times(const std::string& ndjson) {
  std::string out;
  std::size_t at = 0;
  while (at < ndjson.size()) {
    const std::size_t nl = ndjson.find('\n', at);
    std::string line = ndjson.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    line.erase(line.find(",\"committedAt\":"));
    out += line + "\n";
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

}  // namespace

TEST(cli, export_then_import_rebuilds_the_same_streams_in_the_same_order) {
  temp_dir dir;
  const std::string a = dir.sub("a"), b = dir.sub("b"), cli = EVSTORE_CLI;
  ASSERT_EQ(run("demo " + a).status, 0);
  ASSERT_EQ(run("demo " + a).status, 0);
  ASSERT_EQ(sh("echo "
               "'{\"type\":\"Priced\",\"data\":{\"total\":129.50},\"id\":\"6ba7b810-9dad-11d1-80b4-"
               "00c04fd430c8\"}' | " +
               cli + " append " + a + " other")
                .status,
            0);
  auto exported = run("export " + a + " -o " + dir.sub("all.ndjson"));
  ASSERT_EQ(exported.status, 0) << exported.out;
  EXPECT_NE(exported.out.find("exported 9 events"), std::string::npos) << exported.out;
  auto imported = run("import " + b + " -i " + dir.sub("all.ndjson"));
  ASSERT_EQ(imported.status, 0) << imported.out;
  EXPECT_NE(imported.out.find("imported 9 events into 3 streams"), std::string::npos) << imported.out;
  const std::string original = slurp(dir.sub("all.ndjson"));
  auto again = run("export " + b);
  EXPECT_EQ(without_commit_times(again.out.substr(0, again.out.find("exported"))),
            without_commit_times(original));
  EXPECT_NE(original.find("\"total\":129.50"), std::string::npos) << "numbers keep their spelling";
  // Refuses to overwrite an earlier export.
  auto clobber = run("export " + a + " -o " + dir.sub("all.ndjson"));
  EXPECT_EQ(clobber.status, 2) << clobber.out;
  EXPECT_EQ(slurp(dir.sub("all.ndjson")), original);
  EXPECT_EQ(run("verify " + b).status, 0);
}

TEST(cli, an_interrupted_import_runs_again_and_skips_what_is_stored) {
  temp_dir dir;
  const std::string a = dir.sub("a"), b = dir.sub("b");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(run("demo " + a).status, 0);
  ASSERT_EQ(run("export " + a + " -o " + dir.sub("all.ndjson")).status, 0);
  // Half the file, as if the first import had been killed.
  ASSERT_EQ(sh("head -n 5 " + dir.sub("all.ndjson") + " > " + dir.sub("half.ndjson")).status, 0);
  ASSERT_EQ(run("import " + b + " -i " + dir.sub("half.ndjson")).status, 0);
  auto rerun = run("import " + b + " -i " + dir.sub("all.ndjson"));
  ASSERT_EQ(rerun.status, 0) << rerun.out;
  EXPECT_NE(rerun.out.find("imported 7 events into 3 streams, skipped 5 already stored"), std::string::npos)
      << rerun.out;
  auto info = run("info " + b);
  EXPECT_NE(info.out.find("events: 12"), std::string::npos) << info.out;
}

TEST(cli, import_stops_at_bad_or_conflicting_lines_and_names_them) {
  temp_dir dir;
  const std::string d = dir.sub("data"), cli = EVSTORE_CLI;
  ASSERT_EQ(run("demo " + d).status, 0);  // cart-1, versions 0..3
  // A different event where cart-1 already has one.
  auto conflict =
      sh("echo '{\"stream\":\"cart-1\",\"version\":1,\"type\":\"Other\"}' | " + cli + " import " + d);
  EXPECT_EQ(conflict.status, 1);
  EXPECT_NE(conflict.out.find("line 1: cart-1 already has a different event at version 1"), std::string::npos)
      << conflict.out;
  // A gap in a stream's versions.
  auto gap = sh("echo '{\"stream\":\"cart-1\",\"version\":9,\"type\":\"A\"}' | " + cli + " import " + d);
  EXPECT_EQ(gap.status, 1);
  EXPECT_NE(gap.out.find("version 9 does not follow version 3"), std::string::npos) << gap.out;
  // Malformed input: the lines before it are imported, nothing after.
  auto bad = sh(
      "printf '%s\\n' '{\"stream\":\"n\",\"type\":\"A\"}' 'not json' '{\"stream\":\"n\",\"type\":\"B\"}' | " +
      cli + " import " + d);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("line 2: invalid_event: malformed JSON"), std::string::npos) << bad.out;
  auto n = run("cat " + d + " n");
  EXPECT_EQ(std::count(n.out.begin(), n.out.end(), '\n'), 1) << n.out;
  EXPECT_NE(n.out.find("\"type\":\"A\""), std::string::npos) << n.out;
  EXPECT_EQ(run("import " + d + " -i " + dir.sub("missing.ndjson")).status, 2);
  auto info = run("info " + d);
  EXPECT_NE(info.out.find("events: 5"), std::string::npos) << info.out;
}

TEST(cli, tail_prints_the_last_events_and_follows_a_writer_in_another_process) {
  temp_dir dir;
  const std::string d = dir.sub("data"), out = dir.sub("tail.out"), cli = EVSTORE_CLI;
  ASSERT_EQ(run("demo " + d).status, 0);
  auto last = run("tail " + d + " cart-1 -n 2");
  ASSERT_EQ(last.status, 0) << last.out;
  EXPECT_EQ(std::count(last.out.begin(), last.out.end(), '\n'), 2) << last.out;
  EXPECT_NE(last.out.find("\"version\":2"), std::string::npos) << last.out;
  EXPECT_NE(last.out.find("\"version\":3"), std::string::npos) << last.out;
  // Follow: the tail starts, then another process appends; the new event shows up.
  auto follow = sh(cli + " tail " + d + " cart-1 -n 1 -f > " + out +
                   " & pid=$!; "
                   "for i in $(seq 100); do grep -q CartCheckedOut " +
                   out +
                   " && break; sleep 0.05; done; "
                   "echo '{\"type\":\"Late\"}' | " +
                   cli + " append " + d +
                   " cart-1 >/dev/null; "
                   "for i in $(seq 100); do grep -q Late " +
                   out + " && break; sleep 0.05; done; kill $pid; wait $pid; true");
  EXPECT_EQ(follow.status, 0) << follow.out;
  const std::string followed = slurp(out);
  EXPECT_EQ(std::count(followed.begin(), followed.end(), '\n'), 2) << followed;
  EXPECT_NE(followed.find("\"version\":4,\"position\":4,\"type\":\"Late\""), std::string::npos) << followed;
}

TEST(cli, bench_reports_figures_on_a_new_store_only) {
  temp_dir dir;
  auto bench = run("bench " + dir.sub("b") + " --events 2000 --streams 4 --size 64");
  ASSERT_EQ(bench.status, 0) << bench.out;
  EXPECT_NE(bench.out.find("appends (buffered, 4 streams, 64-byte data):"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("$all scan:"), std::string::npos) << bench.out;
  auto info = run("info " + dir.sub("b"));
  EXPECT_NE(info.out.find("events: 2000"), std::string::npos) << info.out;
  auto again = run("bench " + dir.sub("b"));
  EXPECT_EQ(again.status, 2);
  EXPECT_NE(again.out.find("is not empty"), std::string::npos) << again.out;
  EXPECT_EQ(run("bench " + dir.sub("c") + " --streams 0").status, 2);
}

TEST(cli, backup_copies_and_verifies) {
  temp_dir dir;
  ASSERT_EQ(run("demo " + dir.sub("a")).status, 0);
  auto backup = run("backup " + dir.sub("a") + " " + dir.sub("b"));
  ASSERT_EQ(backup.status, 0) << backup.out;
  EXPECT_NE(backup.out.find("backed up 4 events in 1 streams"), std::string::npos) << backup.out;
  EXPECT_NE(backup.out.find("verified 4 events: clean"), std::string::npos) << backup.out;
  EXPECT_EQ(run("cat " + dir.sub("b") + " cart-1").out, run("cat " + dir.sub("a") + " cart-1").out);
  auto again = run("backup " + dir.sub("a") + " " + dir.sub("b"));
  EXPECT_EQ(again.status, 2) << again.out;
  EXPECT_NE(again.out.find("not empty"), std::string::npos) << again.out;
}

// The demo's store was closed (checkpointed): its last event, cut short, had
// been acknowledged, so it keeps its place as a placeholder.
TEST(cli, repair_keeps_a_lost_event_as_a_placeholder_and_reports_it) {
  temp_dir tmp;
  const std::string d = tmp.sub("data");
  ASSERT_EQ(run("demo " + d).status, 0);
  ASSERT_EQ(run("demo " + d).status, 0);  // cart-2, positions 4..7
  const std::string log = d + "/log/p000-00000000.evs";
  const std::string before = slurp(log);
  {
    // A byte of the last record (position 7), before its trailing length.
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(before.find_last_not_of('\0') - 10));
    f.put('\x7f');
  }
  const std::string damaged = slurp(log);
  EXPECT_EQ(run("verify " + d).status, 1);

  auto dry = run("repair " + d + " --dry-run");
  EXPECT_EQ(dry.status, 1) << dry.out;
  EXPECT_NE(dry.out.find("lost: cart-2 version 3 at position 7: kept as a $lost placeholder"),
            std::string::npos)
      << dry.out;
  EXPECT_NE(dry.out.find("dry run: nothing was changed"), std::string::npos) << dry.out;
  EXPECT_EQ(slurp(log), damaged);

  auto locked = sh("flock " + d + "/LOCK " + EVSTORE_CLI + " repair " + d);
  EXPECT_EQ(locked.status, 2) << locked.out;
  EXPECT_NE(locked.out.find("store_locked"), std::string::npos) << locked.out;

  auto repaired = run("repair " + d);
  EXPECT_EQ(repaired.status, 0) << repaired.out;
  EXPECT_NE(repaired.out.find("save: log/p000-00000000.evs bytes "), std::string::npos) << repaired.out;
  EXPECT_NE(repaired.out.find("kept 7 events in 2 streams, 1 lost events as placeholders, dropped 0 events"),
            std::string::npos)
      << repaired.out;
  EXPECT_NE(repaired.out.find("repaired: the store opens and verifies clean"), std::string::npos)
      << repaired.out;
  EXPECT_EQ(run("verify " + d).status, 0);
  auto exported = run("export " + d + " -o " + tmp.sub("all.ndjson"));
  EXPECT_EQ(exported.status, 0) << exported.out;
  EXPECT_NE(exported.out.find("exported 8 events"), std::string::npos) << exported.out;
  auto last = sh("tail -n 1 " + tmp.sub("all.ndjson"));
  EXPECT_NE(last.out.find("\"$lost\""), std::string::npos) << last.out;

  auto again = run("repair " + d);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("nothing to repair: 8 events in 2 streams"), std::string::npos) << again.out;
  EXPECT_EQ(run("repair " + tmp.sub("missing")).status, 2);
  EXPECT_EQ(run("repair").status, 2);
}

// Both binaries say which version they are (the project's, from CMake), and exit 0.
TEST(cli, evstore_and_evstored_print_their_version) {
  auto cli = run("--version");
  EXPECT_EQ(cli.status, 0) << cli.out;
  EXPECT_EQ(cli.out, "evstore " EVSTORE_EXPECTED_VERSION "\n");
#ifdef EVSTORE_SERVER
  auto server = sh(std::string(EVSTORE_SERVER) + " --version");
  EXPECT_EQ(server.status, 0) << server.out;
  EXPECT_EQ(server.out, "evstored " EVSTORE_EXPECTED_VERSION "\n");
#endif
}

// A stream that has no events is named as missing, with exit 1 (as a 404 over
// HTTP), not printed as an empty stream; a page past the end is just empty.
TEST(cli, cat_of_a_missing_stream_says_so_and_exits_1) {
  temp_dir dir;
  ASSERT_EQ(run("demo " + dir.sub("data")).status, 0);
  auto missing = run("cat " + dir.sub("data") + " no-such-cart");
  EXPECT_EQ(missing.status, 1) << missing.out;
  EXPECT_NE(missing.out.find("stream 'no-such-cart' has no events"), std::string::npos) << missing.out;
  auto present = run("cat " + dir.sub("data") + " cart-1 --limit 1");
  EXPECT_EQ(present.status, 0) << present.out;
  auto all = run("cat " + dir.sub("data") + " '$all' --from 99");
  EXPECT_EQ(all.status, 0) << "past the end of $all is empty, not missing: " << all.out;
  EXPECT_EQ(all.out, "");
}

// A mistyped directory does not become a new store: append refuses a
// directory without one (exit 2, nothing created) unless --create says so.
TEST(cli, append_refuses_a_directory_without_a_store_unless_asked_to_create_one) {
  temp_dir dir;
  const std::string cli = EVSTORE_CLI, d = dir.sub("typo");
  auto refused = sh("echo '{\"type\":\"A\"}' | " + cli + " append " + d + " s-1");
  EXPECT_EQ(refused.status, 2) << refused.out;
  EXPECT_NE(refused.out.find("holds no store"), std::string::npos) << refused.out;
  EXPECT_FALSE(std::filesystem::exists(d)) << "a refused append created the directory";
  auto created = sh("echo '{\"type\":\"A\"}' | " + cli + " append " + d + " s-1 --create");
  EXPECT_EQ(created.status, 0) << created.out;
  auto again = sh("echo '{\"type\":\"B\"}' | " + cli + " append " + d + " s-1");
  EXPECT_EQ(again.status, 0) << "an existing store needs no --create: " << again.out;
  auto cat = run("cat " + d + " s-1");
  EXPECT_EQ(std::count(cat.out.begin(), cat.out.end(), '\n'), 2) << cat.out;
}

// ls lists every stream, however many (it stopped silently at 1,000), and
// still pages with --offset and --limit.
TEST(cli, ls_lists_every_stream_past_a_thousand) {
  temp_dir dir;
  const std::string d = dir.sub("many");
  ASSERT_EQ(run("bench " + d + " --events 1205 --streams 1205").status, 0);
  auto all = run("ls " + d);
  EXPECT_EQ(all.status, 0) << all.out.substr(0, 300);
  EXPECT_EQ(std::count(all.out.begin(), all.out.end(), '\n'), 1205);
  auto page = run("ls " + d + " --offset 1200");
  EXPECT_EQ(std::count(page.out.begin(), page.out.end(), '\n'), 5) << page.out;
  auto few = run("ls " + d + " --offset 3 --limit 10");
  EXPECT_EQ(std::count(few.out.begin(), few.out.end(), '\n'), 10) << few.out;
}

// Each command answers --help with its own usage, options and an example
// (exit 0), `evstore help <command>` says the same, and an unknown option is
// refused (exit 2) naming the option and where the command's help is.
TEST(cli, each_command_has_its_own_help_with_options_and_an_example) {
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"demo", "--help"},       {"info", "--json"},       {"ls", "--json"},          {"cat", "--backward"},
      {"tail", "--follow"},     {"append", "--expected"}, {"export", "--output"},    {"import", "--input"},
      {"verify", "--progress"}, {"repair", "--dry-run"},  {"backup", "--no-verify"}, {"bench", "--events"}};
  for (const auto& [command, option] : commands) {
    SCOPED_TRACE(command);
    auto help = run(command + " --help");
    EXPECT_EQ(help.status, 0) << help.out;
    EXPECT_EQ(help.out.rfind("usage: evstore " + command + " <dir>", 0), 0u) << help.out;
    EXPECT_NE(help.out.find("\noptions:\n"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find(option), std::string::npos) << help.out;
    const auto example = help.out.find("\nexample:\n  ");
    ASSERT_NE(example, std::string::npos) << help.out;
    EXPECT_NE(help.out.find("evstore " + command + " ", example), std::string::npos) << help.out;
    EXPECT_EQ(run("help " + command).out, help.out);
  }
  auto list = run("help");
  EXPECT_EQ(list.status, 0);
  EXPECT_NE(list.out.find("evstore <command> --help"), std::string::npos) << list.out;
  temp_dir dir;
  ASSERT_EQ(run("demo " + dir.sub("data")).status, 0);
  auto unknown = run("cat " + dir.sub("data") + " cart-1 --frobnicate");
  EXPECT_EQ(unknown.status, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("'--frobnicate'"), std::string::npos) << unknown.out;
  EXPECT_NE(unknown.out.find("evstore cat --help"), std::string::npos) << unknown.out;
  EXPECT_EQ(run("help frobnicate").status, 2);
}

namespace {

// Runs the CLI with stdout and stderr in files of `dir` (neither a terminal);
// returns {status, stdout, stderr}.
struct split_run {
  int status;
  std::string out, err;
};
split_run run_split(const temp_dir& dir, const std::string& args) {
  const std::string out = dir.sub("run.out"), err = dir.sub("run.err");
  const int status = sh(std::string(EVSTORE_CLI) + " " + args + " >" + out + " 2>" + err).status;
  return {status, slurp(out), slurp(err)};
}

}  // namespace

// Long commands show their rate and ETA on stderr when asked (--progress) or
// when it is a terminal, never on stdout (a pipe may read it), and not at all
// when stderr is a file and --progress is not given.
TEST(cli, long_commands_show_rate_and_eta_on_stderr_only_when_asked_or_on_a_terminal) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  auto bench = run_split(dir, "bench " + d + " --events 3000 --streams 3 --progress");
  ASSERT_EQ(bench.status, 0) << bench.err;
  EXPECT_NE(bench.err.find("appending  100%  3,000/3,000 events  "), std::string::npos) << bench.err;
  EXPECT_NE(bench.err.find(" events/s  ETA 0:00"), std::string::npos) << bench.err;
  EXPECT_EQ(bench.out.find('\r'), std::string::npos) << bench.out;

  auto exported = run_split(dir, "export " + d + " --progress");
  ASSERT_EQ(exported.status, 0) << exported.err;
  EXPECT_NE(exported.err.find("exporting  100%  3,000/3,000 events  "), std::string::npos) << exported.err;
  EXPECT_EQ(std::count(exported.out.begin(), exported.out.end(), '\n'), 3000);
  EXPECT_EQ(exported.out.find('\r'), std::string::npos) << "stdout is only the events";
  const std::string ndjson = dir.sub("all.ndjson");
  std::ofstream(ndjson) << exported.out;

  auto imported = run_split(dir, "import " + dir.sub("copy") + " -i " + ndjson + " --progress");
  ASSERT_EQ(imported.status, 0) << imported.err;
  EXPECT_NE(imported.err.find("importing  100%  "), std::string::npos) << imported.err;
  EXPECT_NE(imported.err.find(" MiB/s  ETA 0:00"), std::string::npos) << imported.err;

  auto verified = run_split(dir, "verify " + dir.sub("copy") + " --progress");
  EXPECT_EQ(verified.status, 0) << verified.err;
  EXPECT_NE(verified.err.find("verifying  100%  3,000/3,000 events"), std::string::npos) << verified.err;

  auto backup = run_split(dir, "backup " + d + " " + dir.sub("backup") + " --progress");
  EXPECT_EQ(backup.status, 0) << backup.err;
  EXPECT_NE(backup.err.find("copying  100%  "), std::string::npos) << backup.err;
  EXPECT_NE(backup.err.find(" MiB/s"), std::string::npos) << backup.err;

  // Without --progress, stderr being a file: no meter.
  auto quiet = run_split(dir, "export " + d);
  EXPECT_EQ(quiet.err, "exported 3000 events of $all\n");
  auto quiet_verify = run_split(dir, "verify " + d);
  EXPECT_EQ(quiet_verify.err, "");
}

// backup's summary counts events and MiB, not raw bytes.
TEST(cli, backup_reports_events_and_mib) {
  temp_dir dir;
  ASSERT_EQ(run("bench " + dir.sub("a") + " --events 20000 --size 100").status, 0);
  auto backup = run("backup " + dir.sub("a") + " " + dir.sub("b"));
  ASSERT_EQ(backup.status, 0) << backup.out;
  const std::regex summary(R"(backed up 20000 events in 1 streams \((\d+\.\d\d) MiB in \d+ files\) to )");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(backup.out, m, summary)) << backup.out;
  EXPECT_GT(std::stod(m[1]), 1.0) << "20,000 events of 100 bytes are more than 1 MiB";
  EXPECT_EQ(backup.out.find(" bytes"), std::string::npos) << backup.out;
}

// info --json and ls --json print one JSON document each (docs: README.md,
// "The evstore CLI").
TEST(cli, info_and_ls_print_one_json_document_with_json) {
  temp_dir dir;
  const std::string d = dir.sub("data");
  ASSERT_EQ(run("demo " + d).status, 0);
  ASSERT_EQ(run("demo " + d).status, 0);
  auto info = run_split(dir, "info " + d + " --json");
  ASSERT_EQ(info.status, 0) << info.err;
  const auto i = boost::json::parse(info.out).as_object();
  EXPECT_EQ(std::string_view(i.at("directory").as_string()), d);
  EXPECT_EQ(i.at("format").to_number<int>(), 2);
  EXPECT_EQ(i.at("partitions").to_number<int>(), 1);
  EXPECT_EQ(i.at("segmentSize").to_number<std::uint64_t>(), std::uint64_t{256} << 20);
  EXPECT_EQ(i.at("events").to_number<std::uint64_t>(), 8u);
  EXPECT_EQ(i.at("streams").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(i.at("readStreams").to_number<std::uint64_t>(), 0u);
  EXPECT_EQ(i.size(), 7u) << info.out;

  auto ls = run_split(dir, "ls " + d + " --json");
  ASSERT_EQ(ls.status, 0) << ls.err;
  // The stream index's order (a hash of the name), not creation order.
  const auto listed = boost::json::parse(ls.out);
  ASSERT_TRUE(listed.is_array() && listed.as_array().size() == 2) << ls.out;
  const boost::json::value cart1 = boost::json::parse(R"({"stream":"cart-1","events":4})");
  const boost::json::value cart2 = boost::json::parse(R"({"stream":"cart-2","events":4})");
  EXPECT_TRUE((listed.as_array()[0] == cart1 && listed.as_array()[1] == cart2) ||
              (listed.as_array()[0] == cart2 && listed.as_array()[1] == cart1))
      << ls.out;
  auto page = run_split(dir, "ls " + d + " --json --offset 1 --limit 5");
  EXPECT_EQ(boost::json::parse(page.out), boost::json::value(boost::json::array{listed.as_array()[1]}));
  auto past = run_split(dir, "ls " + d + " --json --offset 9");
  EXPECT_EQ(past.out, "[]\n");
}

// On a terminal (script(1) gives the CLI one) the meter shows without
// --progress and is cleared when the work is done; stdout, redirected to a
// file as a pipe would read it, holds only the events.
TEST(cli, on_a_terminal_the_meter_shows_and_is_cleared_and_stdout_stays_clean) {
  if (sh("command -v script").status != 0) GTEST_SKIP() << "script(1) is not installed";
  temp_dir dir;
  const std::string d = dir.sub("data"), out = dir.sub("out.ndjson");
  ASSERT_EQ(run("bench " + d + " --events 20000").status, 0);
  auto tty = sh("script -qec \"" + std::string(EVSTORE_CLI) + " export " + d + " > " + out + "\" /dev/null");
  EXPECT_EQ(tty.status, 0) << tty.out;
  EXPECT_NE(tty.out.find("\rexporting  "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(" events/s"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\r\033[Kexported 20000 events of $all"), std::string::npos) << tty.out;
  const std::string ndjson = slurp(out);
  EXPECT_EQ(std::count(ndjson.begin(), ndjson.end(), '\n'), 20000);
  EXPECT_EQ(ndjson.find('\r'), std::string::npos);
}

namespace {

// Writes a store of a committed format-1 fixture (tests/data/v1) to `dir`.
void write_image(const evstore::test::v1::disk_image& image, const std::string& dir) {
  for (const auto& [path, bytes] : image) {
    const std::filesystem::path file = std::filesystem::path(dir) / path;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << file;
  }
}

}  // namespace

TEST(cli, migrate_converts_a_format_1_store_then_has_nothing_to_do_and_refuses_a_backup_in_the_way) {
  namespace v1 = evstore::test::v1;
  auto f = v1::read_fixture("realistic");
  ASSERT_TRUE(f) << f.error().message();
  const v1::store_expectation& expected = f->expected.at("realistic");
  temp_dir dir;
  const std::string d = dir.sub("data");
  write_image(f->stores.at("realistic"), d);

  auto locked = sh("flock " + d + "/LOCK " + EVSTORE_CLI + " migrate " + d);
  EXPECT_EQ(locked.status, 2) << locked.out;
  EXPECT_NE(locked.out.find("open in another process"), std::string::npos) << locked.out;

  auto migrated = run("migrate " + d + " --partitions 2 --segment-mib 1");
  ASSERT_EQ(migrated.status, 0) << migrated.out;
  EXPECT_NE(migrated.out.find("migrated " + std::to_string(expected.events.size()) +
                              " events, 1 read stream definitions and 2 consumer checkpoints to format 2"),
            std::string::npos)
      << migrated.out;
  EXPECT_TRUE(std::filesystem::exists(d + ".v1/store.json"));
  EXPECT_FALSE(std::filesystem::exists(d + ".v2-tmp"));
  {
    evstore::test::io_thread io;
    auto s = evstore::store::open(io.executor(), {.directory = d});
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->event_count(), expected.events.size());
    auto last = s->read("$all", {.from = expected.events.size() - 1});
    ASSERT_TRUE(last) << last.error().message();
    ASSERT_EQ(last->events.size(), 1u);
    EXPECT_EQ(last->events[0].stream, expected.events.back().stream);
    EXPECT_EQ(last->events[0].version, expected.events.back().version);
    EXPECT_EQ(last->events[0].data, expected.events.back().data);
    ASSERT_FALSE(evstore::test::close_wait(*s));
  }

  auto again = run("migrate " + d);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("nothing to do"), std::string::npos) << again.out;

  // Another format-1 store where the first one's backup is.
  const std::string e = dir.sub("other");
  write_image(f->stores.at("realistic"), e);
  std::filesystem::create_directories(e + ".v1");
  std::ofstream(e + ".v1/store.json") << "{}";
  auto in_the_way = run("migrate " + e);
  EXPECT_EQ(in_the_way.status, 2) << in_the_way.out;
  EXPECT_NE(in_the_way.out.find(e + ".v1"), std::string::npos) << in_the_way.out;
  EXPECT_TRUE(std::filesystem::exists(e + "/streams")) << "the format-1 store stays";
}
