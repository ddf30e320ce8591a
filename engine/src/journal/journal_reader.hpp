// The journal's reader (format.hpp, "Journal"): shared by recovery, which
// replays it (journal.cpp), and repair and migration, which read it to find
// what the partitions lack. Its writer is the durable flush (journal.cpp).
#pragma once

#include "format/format.hpp"
#include "journal/journal_overlay.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace evstore::detail {

struct journal_walk {
  std::uint64_t end = 0;  // offset just past the last frame walked (`offset` if none)
  // Damage that ends the walk and is no torn tail: a bad file header, or a
  // frame with an op whose path would leave the store (none of its ops is
  // handed out).
  struct stop {
    std::uint64_t offset = 0;
    std::string what;
  };
  std::optional<stop> damage;
};

// Walks the frames from `offset` while they decode and chain from $all
// position `position` (an older cycle's frame or a torn tail ends the walk),
// frame by frame: the cost is the frames walked, never the journal's size.
// on_frame sees views valid during the call; its error ends the walk.
[[nodiscard]] result<journal_walk> walk_journal(
    file& journal, const std::string& path, std::uint64_t offset, std::uint64_t position,
    const std::function<result<void>(const format::journal_frame&)>& on_frame);

// walk_journal's frames as the writes replay would make (paths under `dir`),
// added to `out` for readers that must not write the store (overlay_source).
[[nodiscard]] result<journal_walk> collect_journal(file& journal, const std::string& path,
                                                   const std::string& dir, std::uint64_t offset,
                                                   std::uint64_t position, overlay& out);

}  // namespace evstore::detail
