// The simulation's command line.
//
//   evstore_sim --seed S [--steps N]        one seed (its replay command)
//   evstore_sim --seeds N [--seed FIRST]    seeds FIRST .. FIRST+N-1
//   evstore_sim --minutes M [--seed FIRST]  successive seeds until M minutes passed
//   --no-CLASS                              leave out a class of operation or fault
//                                           (classes below), e.g. --no-backup
//   --determinism                           run each seed twice, compare trace hashes
//   --verbose                               print every step
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::sim {

// What --no-CLASS can switch off.
inline const std::vector<std::string_view> classes = {
    "write-errors", "read-errors", "crash",     "power-loss", "backup",   "follower",
    "race",         "consumers",   "subscriptions", "read-streams", "retries", "fsync",
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
