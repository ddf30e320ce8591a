// The reference model: what the store must hold, derived only from what it
// acknowledged. Appends the store answered with an I/O error are "in doubt"
// (the bytes may or may not have reached the files) until the writer reopens;
// then the store's $all tells which of them survived, whole.
#pragma once

#include <evstore/read_stream.hpp>
#include <evstore/types.hpp>

#include <boost/uuid/uuid.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evstore::sim {

struct sim_event {
  std::string stream;
  std::string type;
  std::string data;  // as appended ("" reads back as "null")
  std::string metadata;
  std::optional<boost::uuids::uuid> id;
  // What a filter can test, as the workload wrote it: JSON pointer -> the
  // value's JSON text, for data and metadata. The workload writes each value
  // in one spelling only, so equal texts are equal values (the reference
  // matcher below compares texts, never parses).
  std::map<std::string, std::string, std::less<>> fields, metadata_fields;
};

// The plain reference matcher: what a read stream with filter `f` must hold
// (read_stream.hpp: every part given holds; conditions are a conjunction).
bool reference_match(const filter& f, const sim_event& e);
// "$ce-<category>" of a stream: the part before its first '-' (none for a
// stream starting with '-' or '$', or without one).
std::optional<std::string> category_of(std::string_view stream);

struct stored_event {
  sim_event event;
  std::uint64_t version = 0;
  std::uint64_t position = 0;
};

struct append_request {
  std::string stream;
  std::vector<sim_event> events;
  expected_version expected = expect::any;
};

enum class outcome { written, duplicate, conflict, store_failed, id_taken };

struct prediction {
  outcome what = outcome::written;
  append_result result;  // what the store must answer (positions, versions, actual)
};

// A written append that a retry may repeat.
struct commit {
  append_request request;
  std::uint64_t first_version = 0;
  std::uint64_t first_position = 0;
};

struct consumer_model {
  // The (position, state) pairs the store may hold: the last committed one,
  // plus every commit since that failed with an I/O error (each may or may not
  // have reached the disk, and a power loss may still undo one).
  std::vector<std::pair<std::uint64_t, std::string>> stored{{0, std::string()}};

  bool may_hold(std::uint64_t position, const std::string& state) const {
    for (const auto& [p, s] : stored) {
      if (p == position && s == state) return true;
    }
    return false;
  }
  std::string describe() const {
    std::string out;
    for (const auto& [p, s] : stored) out += (out.empty() ? "" : " or ") + std::to_string(p);
    return out;
  }
};

class model {
 public:
  // The writer's idempotency window (store_options::idempotency_window).
  static constexpr std::uint64_t retry_window = 128;

  // What the store must answer to `r` now (does not change the model).
  prediction predict(const append_request& r) const;
  // Records a written append (predict() said written).
  void apply(const append_request& r);

  // Appends of one step are predicted and applied in order; if their flush then
  // fails, the step rolls them back and records them as in doubt.
  struct mark {
    std::size_t all = 0, commits = 0, order = 0;
  };
  mark mark_now() const { return {all_.size(), commits_.size(), order_.size()}; }
  void rollback(mark m);

  void add_in_doubt(append_request r) { in_doubt_.push_back(std::move(r)); }
  const std::vector<append_request>& in_doubt() const { return in_doubt_; }
  void clear_in_doubt() { in_doubt_.clear(); }

  // The writer failed (a flush error): appends answer store_failed until it reopens.
  bool writer_failed = false;
  // A write error fired that may have failed the writer after its appends were
  // acknowledged (a checkpoint, the head): store_failed is a right answer too.
  bool writer_may_have_failed = false;

  const std::vector<stored_event>& all() const { return all_; }
  std::uint64_t count(std::string_view stream) const;
  // Streams in creation order.
  const std::vector<std::string>& stream_order() const { return order_; }
  const std::vector<commit>& commits() const { return commits_; }
  // True if the first `n` events of $all are whole appends.
  bool append_boundary(std::uint64_t n) const;

  // Read streams: name -> its filter, as given to create_read_stream.
  std::map<std::string, filter, std::less<>> read_streams;
  // Read streams whose create or delete failed with an I/O error: their state
  // is read back from the store when the writer reopens.
  std::vector<std::string> read_streams_in_doubt;

  // The $all positions a stream holds, in order: "$all", a write stream, a
  // system stream ($ce-<category>, $et-<type>) or a read stream.
  std::vector<std::uint64_t> positions(std::string_view stream) const;

  std::map<std::pair<std::string, std::string>, consumer_model> consumers;

  // The system streams the store must hold: "$ce-<category>" of every
  // category and "$et-<type>" of every type of an acknowledged event.
  std::vector<std::string> system_streams() const;

 private:
  std::vector<stored_event> all_;
  std::map<std::string, std::vector<std::uint64_t>, std::less<>> streams_;
  std::vector<std::string> order_;
  std::vector<commit> commits_;
  std::vector<std::uint64_t> append_ends_;  // $all count after each written append
  std::vector<append_request> in_doubt_;
};

}  // namespace evstore::sim
