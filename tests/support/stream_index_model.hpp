// A std::map model of the stream index for its tests: what every stream holds
// (positions by version), the log of adds (to re-add the memtable after a
// reopen, as the store will from $all), and a check of the index against it.
#pragma once

#include "index/stream_index.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace evstore::test {

struct index_event {
  std::string name;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
};

struct stream_index_model {
  std::map<std::string, std::vector<std::uint64_t>> streams;
  std::vector<index_event> log;
  std::uint64_t next_position = 0;

  // Appends one event of `name` to the model and the index ($all positions are dense).
  void add(detail::stream_index& index, const std::string& name) {
    auto& s = streams[name];
    index.add(name, s.size(), next_position);
    log.push_back({name, s.size(), next_position});
    s.push_back(next_position++);
  }

  // Re-adds what a reopened index lost with its memtable: $all from durable_end().
  void replay_after_reopen(detail::stream_index& index) const {
    for (const index_event& e : log)
      if (e.position >= index.durable_end()) index.add(e.name, e.version, e.position);
  }

  // The model as an index holding only the positions below `end` answers it.
  std::vector<std::uint64_t> expected(const std::string& name, std::uint64_t from, std::size_t max,
                                      std::uint64_t end) const {
    std::vector<std::uint64_t> out;
    auto it = streams.find(name);
    if (it == streams.end()) return out;
    for (std::uint64_t v = from; v < it->second.size() && out.size() < max && it->second[v] < end; ++v)
      out.push_back(it->second[v]);
    return out;
  }
};

// Checks every stream's full range, its last version, a random window of each,
// and a few absent names, against the model cut at `end`.
inline void expect_index_matches(const detail::stream_index& index, const stream_index_model& model,
                                 std::mt19937_64& rng, std::uint64_t end = UINT64_MAX) {
  for (const auto& [name, positions] : model.streams) {
    std::vector<std::uint64_t> got;
    auto n = index.lookup(name, 0, SIZE_MAX, got);
    ASSERT_TRUE(n) << n.error().message();
    const auto all = model.expected(name, 0, SIZE_MAX, end);
    ASSERT_EQ(got, all) << name;
    auto last = index.last_version(name);
    ASSERT_TRUE(last) << last.error().message();
    if (all.empty()) {
      EXPECT_FALSE(*last) << name;
    } else {
      EXPECT_EQ(*last, all.size() - 1) << name;
    }
    const std::uint64_t from = std::uniform_int_distribution<std::uint64_t>(0, positions.size())(rng);
    const std::size_t max = std::uniform_int_distribution<std::size_t>(1, 600)(rng);
    got.clear();
    n = index.lookup(name, from, max, got);
    ASSERT_TRUE(n) << n.error().message();
    ASSERT_EQ(got, model.expected(name, from, max, end)) << name << " from " << from << " max " << max;
  }
  for (int i = 0; i < 20; ++i) {
    const std::string absent = "absent-" + std::to_string(rng());
    std::vector<std::uint64_t> got;
    auto n = index.lookup(absent, 0, 10, got);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 0u);
    auto last = index.last_version(absent);
    ASSERT_TRUE(last);
    EXPECT_FALSE(*last);
  }
}

}  // namespace evstore::test
