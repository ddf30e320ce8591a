// The journal's writer (format.hpp, "Journal"): appends the frame of each
// durable flush to the journal file and overlaps the frame's fdatasync with
// the caller's other writes. It knows frames, not batches: store_impl encodes
// a flush as a frame (journal.cpp); journal_reader.hpp reads them back.
//
// Threading: one thread at a time (the flushing one, or open/close when
// nothing else runs).
#pragma once

#include "io/background_sync.hpp"
#include "io/file_cache.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace evstore::detail {

class journal_writer {
 public:
  // `file`: the journal, its header written and synced; frames go from `end`.
  journal_writer(std::shared_ptr<cached_file> file, std::uint64_t end);

  // Pads `frame` (sealed, format::seal_journal_frame) to the frame alignment,
  // writes it at the end and starts its fdatasync. REQUIRES: no fdatasync
  // pending (wait_synced() was called since the last add()).
  [[nodiscard]] boost::system::error_code add(std::vector<std::byte>& frame);
  // Waits for the fdatasync the last add() started.
  [[nodiscard]] boost::system::error_code wait_synced() { return sync_.wait(); }
  // A checkpoint made every frame's bytes durable in place: the next frame
  // goes first again (an older frame left behind cannot continue the new
  // chain, format.hpp).
  void restart();
  // Offset just past the last frame.
  std::uint64_t end() const { return end_; }

 private:
  [[nodiscard]] boost::system::error_code ensure_allocated(std::uint64_t end);

  std::shared_ptr<cached_file> file_;
  background_sync sync_;  // after file_: its thread stops before the file goes
  std::uint64_t end_ = 0;
};

}  // namespace evstore::detail
