// The journal's writer (format.hpp, "Journal"): appends the frame of each
// durable flush to the journal file and fdatasyncs it. It knows frames, not
// batches: store_impl encodes a flush as a frame (journal.cpp);
// journal_reader.hpp reads them back.
//
// The fdatasync runs on the calling thread, before the flush writes the data
// files. Handing it to a thread of its own, to overlap it with those writes,
// was measured slower in every case (evstore_bench c, 2-core VM, ext4): one
// durable appender 3.5k vs 4.4k appends/s (55% vs 70% of the disk's own
// write+fdatasync loop), 64 appenders on one stream 59-87k vs 114-144k,
// 64 on 64 streams 47-68k vs 65-67k: the two thread wake-ups cost more than
// the page-cache writes they hide.
//
// Threading: one thread at a time (the flushing one, or open/close when
// nothing else runs).
#pragma once

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
  // writes it at the end and fdatasyncs the journal.
  [[nodiscard]] boost::system::error_code add(std::vector<std::byte>& frame);
  // A checkpoint made every frame's bytes durable in place: the next frame
  // goes first again (an older frame left behind cannot continue the new
  // chain, format.hpp).
  void restart();
  // Offset just past the last frame.
  std::uint64_t end() const { return end_; }

 private:
  [[nodiscard]] boost::system::error_code ensure_allocated(std::uint64_t end);

  std::shared_ptr<cached_file> file_;
  std::uint64_t end_ = 0;
};

}  // namespace evstore::detail
