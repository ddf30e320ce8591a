// Full consistency check of a store: every event read through $all (each
// entry checked against its record's position, stream and version) and
// through its stream (versions contiguous in the stream index), every
// partition log scanned in full from its first record, every block of every
// run of the stream index, and the checkpoint. Reads every event, so it costs
// a full scan; for `evstore verify` and tests, not for open. Damage is
// reported, never thrown.
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
