// Writes one run file (run_format.hpp) front to back: blocks go to the file as
// they fill (buffered up to ~1 MiB), so the memory it holds is one partial
// group, the write buffer, the fences and 8 bytes per distinct name (the bloom
// filter is sized from the exact count at finish()).
//
// Threading: one thread at a time.
#pragma once

#include "index/run_format.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail {

struct run_summary {
  run_format::run_header header;
  std::uint64_t stream_count = 0;
  std::uint64_t event_count = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t footer_bytes = 0;
};

class index_run_writer {
 public:
  // Creates (or empties) `path` and writes the header. Nothing is synced before finish().
  [[nodiscard]] static result<index_run_writer> create(file_system& fs, std::string path,
                                                       run_format::run_header header);

  // Adds the positions of versions [first_version, first_version + positions.size())
  // of `name`. REQUIRES (checked: errc::invalid_argument): names come in key order
  // (stream_key.hpp), a name's calls are consecutive and each continues the
  // previous one's versions; positions strictly increase within a name and lie
  // in the header's range.
  [[nodiscard]] result<void> add(std::uint64_t hash, std::string_view name, std::uint64_t first_version,
                                 std::span<const std::uint64_t> positions);

  // Writes the last block, the footer and the trailer, then fdatasyncs the file.
  // The caller makes the name durable (directory sync) with the manifest.
  [[nodiscard]] result<run_summary> finish();

 private:
  index_run_writer(std::unique_ptr<file> f, std::string path, run_format::run_header header);
  [[nodiscard]] result<void> emit_group(std::size_t count);
  [[nodiscard]] result<void> close_block();
  [[nodiscard]] result<void> write_out();

  std::unique_ptr<file> file_;
  std::string path_;
  run_format::run_header header_;
  // The group being filled: a name, its first version and up to 256 positions.
  std::uint64_t pending_hash_ = 0;
  std::string pending_name_;
  std::uint64_t pending_first_ = 0;
  std::vector<std::uint64_t> pending_;
  bool has_pending_ = false;
  std::uint64_t last_position_ = 0;
  std::vector<std::byte> block_;
  run_format::run_fence block_fence_;
  std::vector<std::byte> out_;    // closed blocks not yet written
  std::uint64_t out_offset_ = 0;  // file offset of out_[0]
  std::vector<run_format::run_fence> fences_;
  std::vector<std::uint64_t> hashes_;  // one per distinct name, for the bloom filter
  std::uint64_t events_ = 0;
};

}  // namespace evstore::detail
