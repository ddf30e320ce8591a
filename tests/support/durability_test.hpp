// A fixture for tests that run in both durability modes: GetParam() is
// store_options::fsync_on_flush. Instantiate with
//   INSTANTIATE_TEST_SUITE_P(modes, my_test, ::testing::Values(false, true), durability_name);
#pragma once

#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace evstore::test {

class durability_test : public ::testing::TestWithParam<bool> {
 protected:
  // Opens (or reopens) the fixture's store with `o` plus the mode's durability.
  store open(store_options o = {}) {
    o.directory = dir_.sub("store");
    o.fsync_on_flush = GetParam();
    auto s = store::open(io_.executor(), o);
    // Throwing fails the test (gtest catches it) instead of using an empty result.
    if (!s) throw std::runtime_error("open: " + s.error().message());
    return std::move(*s);
  }
  temp_dir dir_;
  io_thread io_;
};

inline std::string durability_name(const ::testing::TestParamInfo<bool>& p) {
  return p.param ? "durable" : "buffered";
}

}  // namespace evstore::test
