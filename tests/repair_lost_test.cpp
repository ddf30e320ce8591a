// repair_lost.hpp: which stream and version a lost $all position held, from
// index claims that fit, then elimination; never a guess between two streams.
#include "offline/repair_lost.hpp"

#include <gtest/gtest.h>

using namespace evstore::detail::repair;

namespace {

stream_known known(std::vector<std::pair<std::uint64_t, std::uint64_t>> positions,
                   bool tail_damaged = false) {
  return {std::move(positions), tail_damaged};
}

std::map<std::uint64_t, std::pair<std::size_t, std::uint64_t>> flat(
    const std::map<std::uint64_t, owner>& owners) {
  std::map<std::uint64_t, std::pair<std::size_t, std::uint64_t>> out;
  for (const auto& [position, o] : owners) out[position] = {o.stream, o.version};
  return out;
}

}  // namespace

TEST(repair_lost, claims_are_taken_only_where_they_fit) {
  // Stream 0 has v0 @0 and v3 @6: v1 and v2 lie in (0, 6).
  std::vector<stream_known> streams{known({{0, 0}, {3, 6}}), known({{0, 1}, {1, 2}})};
  const std::vector<claim> claims{
      {0, 3, 4},  // v3 is intact: refused
      {1, 2, 5},  // would put stream 1's v2 at 5 while v1 is at 2: fits
      {0, 1, 3},  // fits
      {0, 2, 9},  // after v3's position: refused
  };
  const auto owners = assign_lost(streams, {3, 4, 5}, claims, 7);
  // 4 is then stream 0's v2 by elimination: the one hole left between v1 @3 and v3 @6.
  EXPECT_EQ(flat(owners), (std::map<std::uint64_t, std::pair<std::size_t, std::uint64_t>>{
                              {3, {0, 1}}, {4, {0, 2}}, {5, {1, 2}}}));
}

TEST(repair_lost, a_gap_with_exactly_as_many_holes_as_missing_versions_takes_them) {
  // Stream 0 misses v1 between @0 and @4; stream 1's damaged tail could also
  // reach 3, but stream 0's v1 can be nowhere else.
  std::vector<stream_known> streams{known({{0, 0}, {2, 4}}), known({{0, 1}, {1, 2}}, true)};
  const auto owners = assign_lost(streams, {3}, {}, 5);
  EXPECT_EQ(flat(owners), (std::map<std::uint64_t, std::pair<std::size_t, std::uint64_t>>{{3, {0, 1}}}));
}

TEST(repair_lost, a_damaged_tail_takes_the_holes_only_it_can_hold_in_order) {
  std::vector<stream_known> streams{known({{0, 0}}, true), known({{0, 1}})};
  const auto owners = assign_lost(streams, {2, 3}, {}, 4);
  EXPECT_EQ(flat(owners),
            (std::map<std::uint64_t, std::pair<std::size_t, std::uint64_t>>{{2, {0, 1}}, {3, {0, 2}}}));
}

TEST(repair_lost, a_hole_two_damaged_tails_could_hold_stays_unassigned) {
  std::vector<stream_known> streams{known({{0, 0}}, true), known({{0, 1}}, true)};
  EXPECT_TRUE(assign_lost(streams, {2}, {}, 3).empty());
}
