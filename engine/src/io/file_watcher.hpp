// Tells a read-only follower store, soon, that a writer in another process
// changed its files.
//
// Watches directories rather than files, because writers create new files.
// Two sources call on_change():
//   * inotify (IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE on each
//     directory): one call per batch of events read together;
//   * a timer, every poll_interval whatever inotify does. It is the only source
//     when inotify is off or unavailable (inotify_init1 or inotify_add_watch
//     failed, e.g. ENOSPC at the watch limit), and otherwise a safety net: a
//     missed or dropped inotify event only delays following, never stops it.
// A directory that does not exist (yet) is not an error: each tick retries its
// watch, and calls on_change() after the watch is in place, so a file written
// into a directory created after the watcher is never missed.
//
// on_change() only says "something may have changed; look again": it carries
// no detail, calls are coalesced, and spurious calls are normal. Construct the
// watcher before the follower's initial scan so that no change falls between.
//
// Threading: on_change() runs on `executor` (through a strand of it) and never
// concurrently with itself. stop() and the destructor may be called from any
// thread, including from inside on_change(); once either returns, on_change()
// is not called again (when called from another thread they wait for a call in
// progress to finish, so don't call them while holding a lock that on_change()
// takes). The executor's execution context must outlive the watcher.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace evstore::detail {

class file_watcher {
 public:
  // poll_interval is raised to at least 1 ms.
  file_watcher(boost::asio::any_io_executor executor, std::vector<std::string> directories,
               std::chrono::milliseconds poll_interval, std::function<void()> on_change,
               bool use_inotify = true);
  ~file_watcher();
  file_watcher(const file_watcher&) = delete;
  file_watcher& operator=(const file_watcher&) = delete;

  void stop();
  // True while an inotify instance feeds on_change() (watching every listed
  // directory that exists); false if it is off, failed, or the watcher stopped.
  bool using_inotify() const;

 private:
  struct state;
  // Shared with the pending asynchronous operations, which may outlive *this.
  std::shared_ptr<state> state_;
};

}  // namespace evstore::detail
