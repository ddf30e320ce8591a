#include "cli.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>

namespace evstore::cli {

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
  s.append(stream, std::move(events), expected,
           [&](boost::system::error_code ec, append_result r) { done.set_value({ec, r}); });
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

po::variables_map parse(const args_t& args, po::options_description opts, const std::vector<std::string>& positional_names) {
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

progress_bar::progress_bar(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) != 0) {}

void progress_bar::update(std::uint64_t done, std::uint64_t total) {
  if (!tty_ || total == 0) return;
  const int percent = static_cast<int>(done * 100 / total);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  constexpr int width = 30;
  const int filled = percent * width / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%  %llu/%llu", label_.c_str(), filled, "##############################",
               width - filled, "", percent, static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
  std::fflush(stderr);
}

void progress_bar::done() {
  if (tty_ && last_percent_ >= 0) std::fprintf(stderr, "\r\033[K");
  last_percent_ = -1;
}

}  // namespace evstore::cli
