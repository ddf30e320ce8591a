// The fault schedule: which fault, if any, goes with the next operation.
//   write error  the k-th mutating file operation of the step fails once (EIO or
//                ENOSPC) or from then on;
//   crash        the process dies after k more mutating operations: later ones
//                fail and do nothing, and after the step the writer is killed;
//   read error   the k-th read of the step fails once (EIO).
// The driver arms them on fault_injecting_file_system / read_fault_file_system
// around one operation, while nothing else runs, so the k-th operation is the
// same on every run of a seed.
#pragma once

#include "options.hpp"
#include "random.hpp"
#include "workload.hpp"
#include <evstore/testing/memory_file_system.hpp>

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string>

namespace evstore::sim {

using testing::memory_file_system;
using testing::power_loss_mode;

struct fault_plan {
  enum class kind { none, write_error, crash, read_error } what = kind::none;
  std::uint64_t k = 0;
  boost::system::error_code ec;
  bool persistent = false;

  std::string describe() const;
};

// For an operation that writes (append, consumer commit, read-stream changes).
fault_plan plan_write_fault(rng& r, const options& o);
// For a writer open (recovery reads every file tail): sometimes a read error.
fault_plan plan_open_fault(rng& r, const options& o);
// For a follower refresh or a writer read.
fault_plan plan_read_fault(rng& r, const options& o, std::uint64_t max_k);

// A power loss that only touches what was written since the last sync:
// synced_only, random_prefix, torn_sectors or torn_bytes. memory_file_system's
// `garbage` is left out on purpose: it also destroys synced bytes that share a
// sector with a new write, and after such damage to synced data the store may
// refuse to open (corrupt_data, as specified) instead of keeping its promises;
// the power-loss suite (tests/power_loss_test.cpp) covers that case.
power_loss_mode pick_power_loss(rng& r);
const char* name_of(power_loss_mode m);

}  // namespace evstore::sim
