// Shared test helpers: temporary directories, an io_context on its own thread,
// and blocking wrappers over the asynchronous append.
#pragma once

#include "tools/io_threads.hpp"
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

namespace evstore::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// An io_context running on a background thread until destroyed (then the
// work still queued is abandoned: io_context::stop).
class io_thread {
 public:
  boost::asio::io_context& context() { return io_; }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  tools::io_threads thread_{io_};
};

event_data make_event(std::string type, std::string data = "{}", std::optional<boost::uuids::uuid> id = {});
std::vector<event_data> make_events(std::size_t n, const std::string& type = "Tested");
boost::uuids::uuid random_id();

struct append_outcome {
  boost::system::error_code ec;
  append_result result;
};

// Appends and waits (the store's executor must be running on another thread).
append_outcome append_wait(store& s, const std::string& stream, std::vector<event_data> events,
                           expected_version expected = expect::any);
// A delete or a metadata change, waited for likewise.
append_outcome delete_stream_wait(store& s, const std::string& stream, delete_options o = {});
append_outcome metadata_wait(store& s, const std::string& stream, stream_metadata m,
                             expected_version expected = expect::any);
boost::system::error_code close_wait(store& s);
// Commits a consumer's checkpoint and waits (timed_out after 10 s).
boost::system::error_code commit_wait(consumer& c, std::uint64_t position, std::string state);

// Waits until pred() is true or the deadline passes; returns pred().
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds deadline = std::chrono::seconds(10));

// A store dropped without close() may live on a moment on another thread (a
// completion handler holds it) and write its last checkpoint then. A test that
// simulates the process dying makes its file system fail first (the fault
// wrapper's crash_after(0)); this then waits until the store is gone, i.e.
// its lock on `dir` in `fs` (the file system under that wrapper) is free, so
// that nothing of it runs into the power loss or the next open. False after
// 10 s.
bool wait_for_store_gone(file_system& fs, const std::string& dir);

// Every regular file under `dir` whose raw bytes hold `needle` (what an
// erase must leave none of).
std::vector<std::string> files_holding(const std::string& dir, std::string_view needle);

}  // namespace evstore::test
