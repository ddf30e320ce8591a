// The state behind evstore::event_range: reads a stream page by page.
// Threading: one cursor is used by one thread at a time.
#pragma once

#include <evstore/store.hpp>

#include <memory>
#include <optional>
#include <string>

namespace evstore::detail {

class store_impl;

class cursor {
 public:
  static constexpr std::uint64_t page_events = 1024;

  cursor(std::shared_ptr<const store_impl> impl, std::string stream, read_options options);

  // The current event, or null at the end (fills the next page when needed).
  const recorded_event* current() {
    fill();
    return index_ < page_.events.size() ? &page_.events[index_] : nullptr;
  }
  void advance() { ++index_; }
  const std::optional<evstore::error>& error() const { return error_; }

 private:
  void fill();

  std::shared_ptr<const store_impl> impl_;
  std::string stream_;
  read_options options_;
  std::uint64_t remaining_;
  read_page page_;
  std::size_t index_ = 0;
  bool started_ = false;
  bool done_ = false;
  std::optional<evstore::error> error_;
};

}  // namespace evstore::detail
