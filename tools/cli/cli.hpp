// Shared pieces of the evstore command-line tool: the store's loop thread,
// blocking wrappers over the asynchronous API, option parsing, progress.
#pragma once

#include "tools/io_threads.hpp"
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace evstore::cli {

namespace po = boost::program_options;

using args_t = std::vector<std::string>;

// Bad arguments: main() prints the message and the command's usage, exit 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --help was given and the command's help printed: main() exits 0.
struct help_shown {};

// A command as `evstore help` and `evstore <command> --help` describe it.
struct command_help {
  std::string_view name;
  const char* arguments;  // "<dir> <stream>"
  const char* summary;    // one line
  const char* details;    // more lines for --help, each ending in '\n' (may be empty)
  const char* example;    // one command line
};

// The entry of `name`, or nullptr for an unknown command.
const command_help* find_command_help(std::string_view name);
// Every command with its arguments and summary.
void print_usage(std::ostream& out);
// One line: the command's arguments and where its help is.
void print_command_usage(std::ostream& out, const command_help& c);
// Usage, summary, details, `opts` (one per line) and the example.
void print_command_help(std::ostream& out, const command_help& c, const po::options_description& opts);

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
[[nodiscard]] boost::system::error_code close_blocking(store& s);

// Parses the arguments of `command` with `opts` plus the named positionals
// (all required). --help prints the command's help and throws help_shown; a
// bad argument throws usage_error.
po::variables_map parse(const args_t& args, std::string_view command, po::options_description opts,
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
// Whether `dir` holds a store (its store.json), without opening it.
bool holds_store(const std::string& dir);
// Writes every event of `range` to stdout as NDJSON; 1 (after saying why) if
// the range ended on an error, else 0.
int print_range(event_range& range);

// Rate and ETA of a long command on stderr, one line rewritten with '\r' at
// most 4 times a second: "verifying  42%  12,345/29,000 events  8,123 events/s
// ETA 0:02". Shown when stderr is a terminal or with --progress (stdout, which
// a pipe may read, is never touched). A total of 0 is unknown: no percentage
// or ETA. With unit "MiB" the counts are bytes, shown in MiB.
class progress_meter {
 public:
  progress_meter(std::string label, std::string unit, const po::variables_map& vm);
  void update(std::uint64_t done, std::uint64_t total);
  // Clears the line on a terminal; elsewhere (--progress into a file or pipe)
  // writes the last figures and ends the line.
  void finish();

 private:
  void print(std::uint64_t done, std::uint64_t total);

  std::string label_, unit_;
  bool shown_, tty_;
  std::chrono::steady_clock::time_point start_, last_;
  std::uint64_t done_ = 0, total_ = 0;
  bool printed_ = false;
};

// Adds --progress to a long command's options.
void add_progress_option(po::options_description& opts);

// The commands; each returns the process exit code (0 ok, 1 refused or damage).
int cmd_demo(const args_t&);
int cmd_info(const args_t&);
int cmd_ls(const args_t&);
int cmd_cat(const args_t&);
int cmd_tail(const args_t&);
int cmd_append(const args_t&);
int cmd_delete(const args_t&);
int cmd_metadata(const args_t&);
int cmd_scavenge(const args_t&);
int cmd_export(const args_t&);
int cmd_import(const args_t&);
int cmd_verify(const args_t&);
int cmd_repair(const args_t&);
int cmd_backup(const args_t&);
int cmd_migrate(const args_t&);
int cmd_bench(const args_t&);

}  // namespace evstore::cli
