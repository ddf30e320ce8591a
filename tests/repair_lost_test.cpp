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

// A placeholder of format 2 carries its stream's name, like every record.
TEST(repair_lost, placeholder_is_an_event_record_with_its_streams_name) {
  evstore::detail::format::record_fields f;
  f.stream = "order-7";
  f.position = 41;
  f.version = 3;
  f.commit_first_position = 41;
  f.commit_count = 1;
  f.commit_end = true;
  std::uint32_t crc = 0;
  const auto bytes = encode_placeholder(f, lost_metadata("log/p000-00000002.evs", 4096), crc);
  evstore::detail::format::decoded_record r;
  ASSERT_EQ(evstore::detail::format::decode_record(bytes, r, evstore::detail::format::record_names::required),
            evstore::detail::format::decode_status::ok);
  EXPECT_EQ(r.size, bytes.size());
  EXPECT_EQ(r.stored_crc, crc);
  EXPECT_EQ(r.fields.stream, "order-7");
  EXPECT_EQ(r.fields.type, "$lost");
  EXPECT_EQ(r.fields.data, "null");
  EXPECT_EQ(r.fields.metadata, R"({"lost":{"file":"log/p000-00000002.evs","offset":4096}})");
  EXPECT_EQ(r.fields.version, 3u);
  EXPECT_EQ(r.fields.position, 41u);
  EXPECT_TRUE(r.fields.commit_end);
}
