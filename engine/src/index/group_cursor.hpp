// Walks the groups of a run file or a frozen memtable in key order, one block
// in memory at a time: the inputs of merge_runs(), of a run's verify() and of
// the stream index's listing (stream_list.hpp), which starts at a block.
#pragma once

#include "index/index_run_reader.hpp"
#include "index/stream_memtable.hpp"
#include <evstore/error.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace evstore::detail {

// A group: versions [key.first_version, + positions.size()) of key.name.
struct group_ref {
  stream_key_view key;
  std::span<const std::uint64_t> positions;
};

class group_cursor {
 public:
  virtual ~group_cursor() = default;
  // Moves to the next group (the first, on the first call); false at the end.
  // The previous group's views are invalid afterwards.
  virtual result<bool> advance() = 0;
  virtual group_ref current() const = 0;
  // For error messages: the run's path, or "the memtable".
  virtual const std::string& source() const = 0;
};

// Also checks what decode_block cannot see alone: keys strictly increase from
// one block to the next.
class run_cursor final : public group_cursor {
 public:
  // Starts at block `first_block` (0: the whole run).
  explicit run_cursor(std::shared_ptr<const index_run_reader> run, std::size_t first_block = 0)
      : run_(std::move(run)), next_block_(first_block) {}
  [[nodiscard]] result<bool> advance() override;
  group_ref current() const override;
  const std::string& source() const override { return run_->path(); }

 private:
  std::shared_ptr<const index_run_reader> run_;
  run_format::decoded_block block_;
  std::size_t next_block_ = 0;
  std::size_t group_ = 0;
  bool started_ = false;
  // The previous block's last key (a copy: its bytes are gone).
  std::uint64_t last_hash_ = 0;
  std::string last_name_;
  std::uint64_t last_version_ = 0;
};

class memtable_cursor final : public group_cursor {
 public:
  explicit memtable_cursor(const stream_memtable& m) : sorted_(m.sorted()) {}
  [[nodiscard]] result<bool> advance() override;
  group_ref current() const override;
  const std::string& source() const override { return name_; }

 private:
  std::vector<const stream_memtable::value_type*> sorted_;  // 8 bytes per stream
  std::size_t next_ = 0;
  std::string name_ = "the memtable";
};

// Checks that each stream's groups, taken in key order across every input,
// continue each other: versions contiguous, positions strictly increasing.
class continuity_check {
 public:
  // corrupt_data naming both sources when `g` (from `source`) does not continue
  // the previous group of its stream.
  [[nodiscard]] result<void> next(const group_ref& g, const std::string& source);
  std::uint64_t streams() const noexcept { return streams_; }
  std::uint64_t events() const noexcept { return events_; }

 private:
  bool started_ = false;
  std::uint64_t hash_ = 0;
  std::string name_;
  std::uint64_t end_version_ = 0;
  std::uint64_t last_position_ = 0;
  std::string source_;
  std::uint64_t streams_ = 0;
  std::uint64_t events_ = 0;
};

}  // namespace evstore::detail
