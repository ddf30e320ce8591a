#include "cli.hpp"

#include <evstore/event_json.hpp>

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

boost::system::error_code close_blocking(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&](boost::system::error_code ec) { done.set_value(ec); });
  const auto ec = f.get();
  if (ec) std::cerr << "evstore: close: " << ec.message() << "\n";
  return ec;
}

po::variables_map parse(const args_t& args, po::options_description opts,
                        const std::vector<std::string>& positional_names) {
  opts.add_options()("help,h", "show help");
  po::positional_options_description pos;
  for (const auto& name : positional_names) {
    opts.add_options()(name.c_str(), po::value<std::string>()->required(), name.c_str());
    pos.add(name.c_str(), 1);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage_text;
      std::exit(0);
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

progress_bar::progress_bar(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}

void progress_bar::update(std::uint64_t done, std::uint64_t total) {
  if (!tty_ || total == 0) return;
  const int percent = static_cast<int>(done * 100 / total);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  constexpr int width = 30;
  const int filled = percent * width / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%  %llu/%llu", label_.c_str(), filled,
               "##############################", width - filled, "", percent,
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
  std::fflush(stderr);
}

void progress_bar::done() {
  if (tty_ && last_percent_ >= 0) std::fprintf(stderr, "\r\033[K");
  last_percent_ = -1;
}

}  // namespace evstore::cli
