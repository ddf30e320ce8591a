// The workload generator: which operation comes next, and the appends it makes.
// Stream names all have the same length ("a-0" .. "c-7"), so that a stream
// created after a recovery cut another's catalog record can take its id; the
// categories a, b, c feed the system streams $ce-a, $ce-b, $ce-c.
#pragma once

#include "model.hpp"
#include "options.hpp"
#include "random.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace evstore::sim {

enum class op_kind {
  append,           // 1..3 appends in one tick, every expectation kind, some conflicting
  retry,            // an append repeated with the same event ids
  read_with_fault,  // a writer read with a read error injected
  subscribe,        // a new live subscription
  consumer,         // a durable consumer handles a batch and commits
  create_read_stream,
  delete_read_stream,
  follower_open,
  follower_refresh,
  follower_read,  // a follower reads one stream
  follower_race,  // a follower's lazy stream load with an append and refresh() in the middle
  follower_close,
  close_backfill,  // close() while a back-fill runs; then create/delete after close() (close-backfill)
  backup,          // online backup with appends during the copy
  restart,         // close and reopen the writer (or open it if down)
  kill,            // the writer process dies
  power_loss,      // the machine loses power: writer and follower die, unsynced writes go
};

const char* name_of(op_kind k);

// What the generator needs to know of the driver's state.
struct world {
  bool writer_up = false;
  bool writer_failed = false;  // a flush failed, or the indexer: it should be restarted
  bool follower_open = false;
  bool fsync = false;
};

op_kind next_op(rng& r, const options& o, const world& w);

// A new append: a random stream (new or existing), 1..4 events (types A, B,
// C; ids mostly), and an expectation that holds or, now and then, not.
append_request make_append(rng& r, const options& o, const model& m, std::uint64_t& nonce);
// Just one event to `stream`, expecting any version (the simulation's own nested appends).
append_request make_simple_append(rng& r, const options& o, const std::string& stream, std::uint64_t& nonce);

// A read-stream filter (filters): types, a stream prefix, field conditions on
// data and metadata (repeated pointers with filter-roundtrip).
filter make_filter(rng& r, const options& o);
// A retry: an earlier request with ids (written, failed or in doubt), sent again.
std::optional<append_request> make_retry(rng& r, const model& m, const std::vector<append_request>& failed);

inline const std::vector<std::string>& stream_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (char c : {'a', 'b', 'c'}) {
      for (char d = '0'; d < '8'; ++d) v.push_back({c, '-', d});
    }
    return v;
  }();
  return names;
}

}  // namespace evstore::sim
