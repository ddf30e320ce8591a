// Shared pieces of the evstore command-line tool: the store's loop thread,
// blocking wrappers over the asynchronous API, option parsing, progress.
#pragma once

#include "tools/io_threads.hpp"
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace evstore::cli {

namespace po = boost::program_options;

using args_t = std::vector<std::string>;

// Bad arguments: main() prints the message and the usage, exit 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The store's executor runs on its own thread while the command waits on
// futures; on destruction the work queued runs out before the thread ends.
class runner {
 public:
  runner() = default;
  ~runner() { thread_.join(); }
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;
  boost::asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  tools::io_threads thread_{io_};
};

// Opens the store or exits 2 with the reason.
store open_or_exit(runner& r, const std::string& dir, bool read_only, bool fsync = false);

std::pair<boost::system::error_code, append_result> append_blocking(store& s, const std::string& stream,
                                                                    std::vector<event_data> events,
                                                                    expected_version expected);
// Closes (flush, fsync, checkpoint); prints an error, returns it.
boost::system::error_code close_blocking(store& s);

// Parses `args` with `opts` plus the named positionals (all required).
po::variables_map parse(const args_t& args, po::options_description opts,
                        const std::vector<std::string>& positional_names);

// Appends issued without waiting for each one (the writer batches each
// tick's), at most `window` in flight. Each append carries a number (an input
// line, an index) that a failure names: "<unit> <n>: <error>".
class append_pipeline {
 public:
  append_pipeline(store& s, std::size_t window, std::string unit);
  void submit(const std::string& stream, std::vector<event_data> events, expected_version expected,
              std::uint64_t n);
  // Waits for every append; the first failure, if any.
  std::optional<std::string> drain();
  bool failed();
  std::uint64_t failures();

 private:
  store& store_;
  const std::size_t window_;
  const std::string unit_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0;
  std::uint64_t failures_ = 0;
  std::optional<std::string> failure_;
};

// One event as a line of NDJSON; `scratch` is reused between calls.
void write_event_line(std::FILE* out, std::string& scratch, const recorded_event& e);
// Writes every event of `range` to stdout as NDJSON; 1 (after saying why) if
// the range ended on an error, else 0.
// Whether `dir` holds a store (its store.json), without opening it.
bool holds_store(const std::string& dir);
int print_range(event_range& range);

// "\rlabel  42%  12,345/29,000" on stderr when it is a terminal; done() clears the line.
class progress_bar {
 public:
  explicit progress_bar(std::string label);
  void update(std::uint64_t done, std::uint64_t total);
  void done();

 private:
  std::string label_;
  bool tty_;
  int last_percent_ = -1;
};

extern const char* const usage_text;

// The commands; each returns the process exit code (0 ok, 1 refused or damage).
int cmd_demo(const args_t&);
int cmd_info(const args_t&);
int cmd_ls(const args_t&);
int cmd_cat(const args_t&);
int cmd_tail(const args_t&);
int cmd_append(const args_t&);
int cmd_export(const args_t&);
int cmd_import(const args_t&);
int cmd_verify(const args_t&);
int cmd_repair(const args_t&);
int cmd_backup(const args_t&);
int cmd_bench(const args_t&);

}  // namespace evstore::cli
