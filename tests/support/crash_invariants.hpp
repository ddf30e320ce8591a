// The invariants the crash suites check on a store reopened after a crash
// that hold whatever workload wrote it: kill_test.cpp (a child process killed
// at random) and power_loss_test.cpp (an in-memory disk losing its unsynced
// writes). Each suite walks $all against its own model of what was appended
// (their models differ: events keyed by child seed, numbered appends); then
// this checks that every other view of the store agrees with that $all.
#pragma once

#include <evstore/store.hpp>

#include <set>
#include <string>
#include <vector>

namespace evstore::test {

// Every stream named in `names`, listed by list_streams() or holding events
// in `all` (the store's $all, read whole) agrees with `all`, both ways: read()
// returns exactly its events of `all` (every field; version k at index k),
// stream_version() is its last version, list_streams() counts its events and
// lists exactly the streams with events; the lazy events("$all") yields `all`.
// Returns the violations, labelled "(d) " (views disagree) or "(e) " (a read
// failed: its message names the error, e.g. corrupt_data); empty if all hold.
std::vector<std::string> check_views_agree_with_all(const store& s, const std::vector<recorded_event>& all,
                                                    const std::set<std::string>& names = {});

}  // namespace evstore::test
