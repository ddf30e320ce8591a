// A read page's byte budget (read_options::max_bytes): how many of a run of
// index entries, taken in reading order, still fit in the page. Decided from
// the entries' record sizes before any record is read, so a page of large
// events costs its budget in memory, never a whole chunk's worth.
#pragma once

#include <evstore/types.hpp>

#include <cstdint>

namespace evstore::detail {

class byte_budget {
 public:
  explicit byte_budget(std::uint64_t max_bytes) : left_(max_bytes) {}

  // How many of `entries` (in storage order, each with a `size`) fit, counted
  // from the front when reading forward and from the back when reading
  // backward. A page's first event always fits, however large: a page is
  // never empty because of the budget.
  template <class Entries>
  std::size_t fit(const Entries& entries, direction dir) {
    std::size_t n = 0;
    for (; n < entries.size() && !full_; ++n) {
      const auto& e = dir == direction::forward ? entries[n] : entries[entries.size() - 1 - n];
      if (e.size > left_ && taken_ > 0) {
        full_ = true;
        break;
      }
      left_ -= e.size > left_ ? left_ : e.size;
      ++taken_;
    }
    return n;
  }

 private:
  std::uint64_t left_;
  std::uint64_t taken_ = 0;
  bool full_ = false;  // an event was left out: the page ends here
};

}  // namespace evstore::detail
