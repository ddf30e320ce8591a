// How repair reads a damaged store (repair.cpp, steps 2-3): its files seen
// through the journal frames a dry run does not apply, a read-ahead window,
// and the framing of event records: which record may follow which, where the
// next intact record starts after damage, how many records framing alone
// still shows.
#pragma once

#include "format/format.hpp"
#include "journal/journal_overlay.hpp"
#include <evstore/error.hpp>
#include <evstore/file_system.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace evstore::detail::repair {

inline constexpr std::size_t read_window = std::size_t{1} << 20;

using detail::overlay;
using detail::overlay_write;
using source = detail::overlay_source;

// A read-ahead window over a source, for walking records.
class window {
 public:
  explicit window(const source& src) : src_(src) {}

  // Bytes [offset, offset + n) clipped to the file.
  [[nodiscard]] result<std::span<const std::byte>> get(std::uint64_t offset, std::size_t n) {
    if (offset >= src_.size()) return std::span<const std::byte>{};
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, src_.size() - offset));
    if (offset >= at_ && offset + n <= at_ + buf_.size())
      return std::span<const std::byte>(buf_).subspan(offset - at_, n);
    buf_.resize(
        static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, read_window), src_.size() - offset)));
    auto got = src_.read(offset, buf_);
    if (!got) return got.error();
    buf_.resize(*got);
    at_ = offset;
    return std::span<const std::byte>(buf_).first(std::min(n, buf_.size()));
  }

 private:
  const source& src_;
  std::vector<std::byte> buf_;
  std::uint64_t at_ = 0;
};

// One record the walk of a partition found: an intact record, or a
// placeholder repair writes for a lost one.
struct record_info {
  std::uint64_t offset = 0;  // in the partition as read; in the rewritten one after step 4
  std::uint32_t size = 0;
  std::uint32_t crc = 0;
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::int64_t committed_at = 0;
  std::uint64_t commit_first = 0;
  std::uint32_t commit_count = 0;
  bool commit_end = false;
  // A placeholder for a lost event: its encoded record (offset: where the lost
  // bytes began in the partition as read).
  std::vector<std::byte> placeholder;
};

// Why `r`, intact, cannot follow `last` in its partition; nullopt if it can.
// Versions may jump (the records between were damaged); they never go back.
std::optional<std::string> check_record(const format::decoded_record& r, const record_info* last);

// The first offset in [from, src.size()) where an intact record that can
// follow `last` starts: length, trailing length and checksum agree. Damage
// cannot forge one (the checksum covers everything after the length), nor can
// an event's payload hold one: it is JSON text, without the zero bytes every
// record header has.
[[nodiscard]] result<std::optional<std::uint64_t>> find_next_record(const source& src, std::uint64_t from,
                                                                    const record_info* last);

// Counts the records from `at` by their framing alone (length, trailing
// length), for reporting what a cut drops; false: framing broke before the end.
[[nodiscard]] result<std::pair<std::uint64_t, bool>> count_framed(window& w, std::uint64_t at,
                                                                  std::uint64_t size);

}  // namespace evstore::detail::repair
