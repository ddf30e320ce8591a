// Checks a store against the model. Every check throws `violation` (trace.hpp)
// with what the store broke; reads that fail with an error are violations too
// unless the caller injected a fault into them.
#pragma once

#include "model.hpp"
#include "options.hpp"
#include "random.hpp"
#include <evstore/store.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::sim {

// The model's positions of a stream below `limit` (what a store holding
// `limit` events of $all must show of it).
std::vector<std::uint64_t> before(std::vector<std::uint64_t> positions, std::uint64_t limit);

// Reads `stream` forward from `from` in pages of `page` events; every event
// must be the model's event at want[sequence]. Returns the number read.
// `who` names the store in messages ("writer", "follower", "backup").
std::uint64_t expect_stream(const store& s, const std::string& who, std::string_view stream, const model& m,
                            const std::vector<std::uint64_t>& want, std::uint64_t from, std::uint64_t page);

// One delivered or read event against the model's event at $all `position`.
void expect_event(const std::string& who, std::string_view stream, const recorded_event& got, const model& m,
                  std::uint64_t position, std::uint64_t sequence);

// The writer: event count, $all, a few streams (and one backward), the stream
// list, and with `links_current` (the indexer caught up) every read stream
// (and with filter-roundtrip its stored filter) and one system stream (every one with
// system-streams).
void check_writer(const store& s, const options& o, const model& m, rng& r, bool links_current);

// A filter as the trace and messages show it (never through to_json(): the
// filters the workload makes include values that are not JSON).
std::string describe(const filter& f);

// A follower after refresh(): a prefix of the model's $all, never ahead of
// it; the whole of it when `must_equal` (the writer is up and idle).
// Returns the follower's event count.
std::uint64_t check_follower(const store& f, const model& m, bool must_equal);

// A backup copy: a whole-append prefix of the model holding at least `lo`
// and at most `hi` events, every stream of it readable.
void check_copy(const store& c, const model& m, std::uint64_t lo, std::uint64_t hi);

}  // namespace evstore::sim
