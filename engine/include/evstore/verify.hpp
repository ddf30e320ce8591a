// Full consistency check of a store: every record's checksum, every index
// entry, and the agreement of $all with every stream. Reads every event, so it
// costs a full scan; for `evstore verify` and tests, not for open.
#pragma once

#include <evstore/store.hpp>

#include <cstdint>
#include <functional>
#include <vector>

namespace evstore {

struct verify_report {
  std::uint64_t events_checked = 0;  // events read back and checked through $all
  std::uint64_t streams_checked = 0;
  std::vector<error> damage;  // each with the file and offset where known
  bool clean() const { return damage.empty(); }
};

// progress(done, total) is called now and then with event counts.
verify_report verify_store(const store& s,
                           const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

}  // namespace evstore
