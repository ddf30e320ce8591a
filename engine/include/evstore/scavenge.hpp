// Scavenging (store::scavenge): erasing the events that deletes, truncate_before, max_count and
// max_age hide (store::delete_stream, store::set_stream_metadata), online.
//
// Each hidden event's record is overwritten in place by its erased form (its
// stream, version and position stay; type, data, metadata and id become
// zeros) and the file-system blocks wholly inside it are given back (holes
// punched). Appends, reads, subscriptions and followers go on meanwhile:
// readers skip an erased event whether they saw it before or after. A crash
// at any point loses nothing and leaves no torn record: each batch is noted
// in index/scavenge first and finished by the writer's next open.
// docs/format.md, "Scavenging".
//
// What it reclaims: the bytes of every erased event's body are gone from
// every file of the store (stream names stay: they are in the stream index
// and in $lifecycle); the disk space given back is the whole 4 KiB blocks
// inside erased records, so large events and runs of erased events give back
// most of their space and small events interleaved with live ones little.
#pragma once

#include <evstore/error.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace evstore {

struct scavenge_options {
  // Only this stream's hidden events (erase after a delete); empty: every
  // stream with a delete or metadata.
  std::string stream;
  // progress(streams done, streams to do), now and then.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct scavenge_report {
  std::uint64_t streams = 0;         // streams looked at
  std::uint64_t events_erased = 0;   // events whose record this run erased
  std::uint64_t bytes_erased = 0;    // the size of those records
  std::uint64_t bytes_released = 0;  // of them, whole file-system blocks given back
  std::uint64_t below = 0;           // events at positions below this were looked at (the checkpoint)
};

}  // namespace evstore
