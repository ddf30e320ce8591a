// The simulation's command line.
//
//   evstore_sim --seed S [--steps N]        one seed (its replay command)
//   evstore_sim --seeds N [--seed FIRST]    seeds FIRST .. FIRST+N-1
//   evstore_sim --minutes M [--seed FIRST]  successive seeds until M minutes passed
//   --no-CLASS                              leave out a class of operation or fault
//                                           (classes below), e.g. --no-backup
//   --no-GROUP                              leave out every class of a group (groups below)
//   --determinism                           run each seed twice, compare trace hashes
//   --verbose                               print every step
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::sim {

// What --no-CLASS can switch off.
inline const std::vector<std::string_view> classes = {
    "write-errors", "read-errors", "crash", "power-loss", "backup", "follower", "race", "consumers",
    "subscriptions", "read-streams", "retries", "fsync",
    // Issue 10: read streams with filters, system streams, subscription churn.
    "filters",           // read streams with type/prefix/field filters, re-created with another filter
    "system-streams",    // every $ce-/$et- stream the model knows checked after every step
    "long-names",        // types, categories, read-stream names whose link file needs a sub-directory
    "odd-names",         // types > 196 bytes or with '/', categories > 196 bytes: "$et-"/"$ce-" names
    "close-backfill",    // close() while a back-fill runs, then create/delete after close()
    "indexer-stops",     // check: the indexer never stops without an injected fault
    "huge-numbers",      // filter values 1e400, -1e400, NaN...: refused at create
    "filter-roundtrip",  // filter values 12.5, 0.1, 1e308, repeated pointers; check: listed filter == the
                         // given one
    "deep-nesting",      // event data nested up to the append limit (64)
    "big-integers",      // integers beyond 2^53 and 2^64 that differ in the last digit
    "sub-churn",      // subscriptions destroyed or cancelled at any point (being woken, a batch on its way)
    "sub-callbacks",  // with sub-churn: the callback form too (its end: one final error)
    "deleted-subs",   // subscriptions of a read stream that is deleted end with stream_deleted
};

// --no-GROUP: the classes of issue 10's bugs, by the branch fixing them.
inline const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> groups = {
    {"links", {"long-names", "odd-names", "close-backfill", "indexer-stops"}},              // bugs 1, 4, 10
    {"filter-bugs", {"huge-numbers", "filter-roundtrip", "deep-nesting", "big-integers"}},  // bugs 3, 7, 8, 9
    {"subs", {"sub-churn", "sub-callbacks", "deleted-subs"}},                               // bugs 2, 11, 12
};

struct options {
  std::uint64_t seed = 1;
  std::uint64_t seeds = 1;
  std::uint64_t steps = 300;
  double minutes = 0;
  bool determinism = false;
  bool verbose = false;
  std::set<std::string, std::less<>> disabled;

  bool on(std::string_view c) const { return !disabled.contains(c); }
  // The command that replays one seed with these switches.
  std::string replay_command(const std::string& program, std::uint64_t s) const;
};

// nullopt (after printing why) if the arguments are wrong; `help` set for --help.
std::optional<options> parse_options(int argc, char** argv, bool& help);
void print_usage();

}  // namespace evstore::sim
