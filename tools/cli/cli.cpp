#include "cli.hpp"

#include <evstore/event_json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>

#include <unistd.h>

namespace evstore::cli {

bool holds_store(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "store.json", ec);
}

store open_or_exit(runner& r, const std::string& dir, bool read_only, bool fsync) {
  auto s = store::open(r.executor(), {.directory = dir, .fsync_on_flush = fsync, .read_only = read_only});
  if (!s) {
    std::cerr << "evstore: cannot open " << dir << ": " << s.error().message() << "\n";
    std::exit(2);
  }
  return std::move(*s);
}

std::pair<boost::system::error_code, append_result> append_blocking(store& s, const std::string& stream,
                                                                    std::vector<event_data> events,
                                                                    expected_version expected) {
  std::promise<std::pair<boost::system::error_code, append_result>> done;
  auto f = done.get_future();
  s.append(stream, std::move(events), expected, [&](boost::system::error_code ec, const append_result& r) {
    done.set_value({ec, r});
  });
  return f.get();
}

[[nodiscard]] boost::system::error_code close_blocking(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&](boost::system::error_code ec) { done.set_value(ec); });
  const auto ec = f.get();
  if (ec) std::cerr << "evstore: close: " << ec.message() << "\n";
  return ec;
}

po::variables_map parse(const args_t& args, std::string_view command, po::options_description opts,
                        const std::vector<std::string>& positional_names) {
  opts.add_options()("help,h", "this help");
  po::options_description all;
  all.add(opts);
  po::positional_options_description pos;
  for (const auto& name : positional_names) {
    all.add_options()(name.c_str(), po::value<std::string>()->required(), name.c_str());
    pos.add(name.c_str(), 1);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    if (vm.count("help")) {
      if (const command_help* help = find_command_help(command)) print_command_help(std::cout, *help, opts);
      throw help_shown{};
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  return vm;
}

append_pipeline::append_pipeline(store& s, std::size_t window, std::string unit)
    : store_(s), window_(window), unit_(std::move(unit)) {}

void append_pipeline::submit(const std::string& stream, std::vector<event_data> events,
                             expected_version expected, std::uint64_t n) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return in_flight_ < window_; });
  ++in_flight_;
  lock.unlock();
  store_.append(
      stream, std::move(events), expected, [this, n](boost::system::error_code ec, append_result r) {
        std::lock_guard guard(mutex_);
        if (ec) {
          ++failures_;
          if (!failure_) {
            failure_ = unit_ + " " + std::to_string(n) + ": " + ec.message();
            if (ec == errc::wrong_expected_version) {
              *failure_ += " (expected " + to_string(r.expected) + ", the store has " +
                           (r.actual ? "version " + std::to_string(*r.actual) : std::string("no stream")) +
                           ")";
            }
          }
        }
        --in_flight_;
        cv_.notify_all();
      });
}

std::optional<std::string> append_pipeline::drain() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return in_flight_ == 0; });
  return failure_;
}

bool append_pipeline::failed() {
  std::lock_guard lock(mutex_);
  return failure_.has_value();
}

std::uint64_t append_pipeline::failures() {
  std::lock_guard lock(mutex_);
  return failures_;
}

void write_event_line(std::FILE* out, std::string& scratch, const recorded_event& e) {
  scratch.clear();
  append_event_json(scratch, e);
  scratch += '\n';
  std::fwrite(scratch.data(), 1, scratch.size(), out);
}

int print_range(event_range& range) {
  std::string line;
  for (const recorded_event& e : range) write_event_line(stdout, line, e);
  if (range.error()) {
    std::cerr << "evstore: " << range.error()->message() << "\n";
    return 1;
  }
  return 0;
}

void add_progress_option(po::options_description& opts) {
  opts.add_options()("progress", "show rate and ETA on stderr even when it is not a terminal");
}

progress_meter::progress_meter(std::string label, std::string unit, const po::variables_map& vm)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      shown_(vm.count("progress") > 0 || isatty(STDERR_FILENO) != 0),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void progress_meter::update(std::uint64_t done, std::uint64_t total) {
  done_ = done;
  total_ = total;
  const auto now = std::chrono::steady_clock::now();
  if (!shown_ || (printed_ && now - last_ < std::chrono::milliseconds(250))) return;
  last_ = now;
  print(done, total);
}

namespace {

// 12345678 -> "12,345,678"
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// A count in the meter's unit: bytes as MiB with one decimal, else grouped.
std::string amount(double n, const std::string& unit) {
  if (unit != "MiB") return grouped(static_cast<std::uint64_t>(n));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", n / (1024.0 * 1024.0));
  return buf;
}

// 125 -> "2:05", 3725 -> "1:02:05"
std::string clock_time(std::uint64_t s) {
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  }
  return buf;
}

}  // namespace

void progress_meter::print(std::uint64_t done, std::uint64_t total) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::string line = "\r" + label_ + "  ";
  if (total > 0) line += std::to_string(std::min<std::uint64_t>(done * 100 / total, 100)) + "%  ";
  line += amount(static_cast<double>(done), unit_);
  if (total > 0) line += "/" + amount(static_cast<double>(total), unit_);
  line += " " + unit_ + "  " + amount(rate, unit_) + " " + unit_ + "/s";
  // Under a second the rate says little about what is left.
  if (total > 0 && rate > 0 && done <= total && (elapsed >= 1 || done == total)) {
    line += "  ETA " + clock_time(static_cast<std::uint64_t>(static_cast<double>(total - done) / rate));
  }
  if (tty_) line += "\033[K";  // clears what a longer earlier line left
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  printed_ = true;
}

void progress_meter::finish() {
  if (!shown_) return;
  if (tty_) {
    if (printed_) std::fputs("\r\033[K", stderr);
  } else {
    print(done_, total_);
    std::fputs("\n", stderr);
  }
  std::fflush(stderr);
  printed_ = false;
}

}  // namespace evstore::cli
