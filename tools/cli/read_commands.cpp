// Commands that only read: info, ls, cat, tail, export. They open the store
// read-only, so they work beside a running writer (evstored or an application).
#include "cli.hpp"

#include <boost/asio/use_future.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace evstore::cli {
namespace {

// Events in the stream, or nullopt when the store cannot tell cheaply (read
// and system streams).
std::optional<std::uint64_t> known_count(const store& s, const std::string& stream) {
  if (stream == "$all") return s.event_count();
  auto v = s.stream_version(stream);
  if (!v) return std::nullopt;
  return *v ? **v + 1 : 0;
}

}  // namespace

int cmd_info(const args_t& args) {
  po::options_description opts;
  opts.add_options()("json", "one JSON object instead of lines");
  auto vm = parse(args, "info", opts, {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  if (vm.count("json")) {
    const boost::json::object info = {{"directory", s.options().directory},
                                      {"format", store_format_version},
                                      {"partitions", s.options().partitions},
                                      {"segmentSize", s.options().segment_size},
                                      {"events", s.event_count()},
                                      {"streams", s.stream_count()},
                                      {"readStreams", s.list_read_streams().size()}};
    std::cout << boost::json::serialize(info) << "\n";
    return 0;
  }
  std::cout << "directory: " << s.options().directory << "\nformat: evstore " << store_format_version
            << "\npartitions: " << s.options().partitions << "\nsegment size: " << s.options().segment_size
            << "\nevents: " << s.event_count() << "\nstreams: " << s.stream_count()
            << "\nread streams: " << s.list_read_streams().size() << "\n";
  return 0;
}

int cmd_ls(const args_t& args) {
  po::options_description opts;
  opts.add_options()("offset", po::value<std::size_t>()->default_value(0), "first stream index")(
      "limit", po::value<std::size_t>(), "streams to list (default: all)")(
      "json", "one JSON array of {\"stream\",\"events\"} instead of lines");
  auto vm = parse(args, "ls", opts, {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  const bool json = vm.count("json") > 0;
  // Page by page: the store hands out at most a page of streams per call.
  // JSON is written element by element, so a million streams need no
  // document in memory.
  constexpr std::size_t page = 1000;
  std::size_t offset = vm["offset"].as<std::size_t>();
  std::size_t left = vm.count("limit") ? vm["limit"].as<std::size_t>() : SIZE_MAX;
  const char* separator = "[";
  while (left > 0) {
    const auto streams = s.list_streams(offset, std::min(left, page));
    for (const stream_info& info : streams) {
      if (!json) {
        std::cout << info.name << "\t" << info.event_count << "\n";
        continue;
      }
      std::cout << separator
                << boost::json::serialize(
                       boost::json::object{{"stream", info.name}, {"events", info.event_count}});
      separator = ",";
    }
    if (streams.empty()) break;
    offset += streams.size();
    left -= std::min(left, streams.size());
  }
  if (json) std::cout << (*separator == '[' ? "[]\n" : "]\n");
  return 0;
}

int cmd_cat(const args_t& args) {
  po::options_description opts;
  opts.add_options()("from", po::value<std::uint64_t>(), "first version (position for $all)")(
      "limit", po::value<std::uint64_t>(), "most events to print")("backward", "newest first");
  auto vm = parse(args, "cat", opts, {"dir", "stream"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  const bool backward = vm.count("backward") > 0;
  read_options o;
  o.direction = backward ? direction::backward : direction::forward;
  o.from = vm.count("from") ? vm["from"].as<std::uint64_t>() : (backward ? from_end : 0);
  if (vm.count("limit")) o.max_count = vm["limit"].as<std::uint64_t>();
  const std::string stream = vm["stream"].as<std::string>();
  // A write stream with no events is missing, not empty (HTTP answers 404).
  if (auto probe = s.read(stream, {.max_count = 1}); !probe && probe.error().code == errc::stream_not_found) {
    std::cerr << "evstore: stream '" << stream << "' has no events\n";
    return 1;
  }
  auto range = s.events(stream, o);
  return print_range(range);
}

int cmd_tail(const args_t& args) {
  po::options_description opts;
  opts.add_options()("lines,n", po::value<std::uint64_t>()->default_value(10), "how many of the last events")(
      "from", po::value<std::uint64_t>(), "start at this event number instead")(
      "follow,f", "then print new events as they are appended, until interrupted");
  auto vm = parse(args, "tail", opts, {"dir", "stream"});
  const std::string stream = vm["stream"].as<std::string>();
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  std::uint64_t from = 0;
  if (vm.count("from")) {
    from = vm["from"].as<std::uint64_t>();
  } else if (const auto n = vm["lines"].as<std::uint64_t>(); n > 0) {
    auto last = s.read(stream, {.from = from_end, .max_count = n, .direction = direction::backward});
    if (!last) {
      std::cerr << "evstore: " << last.error().message() << "\n";
      return 1;
    }
    from = last->events.empty() ? 0 : last->events.back().sequence;
  } else {
    from = from_end;
  }
  if (!vm.count("follow")) {
    auto range = s.events(stream, {.from = from});
    return print_range(range);
  }
  // Catch-up and live are one subscription: nothing is missed or repeated
  // between the last stored event and the first new one.
  auto sub = s.subscribe(stream, {.from = from});
  if (!sub) {
    std::cerr << "evstore: " << sub.error().message() << "\n";
    return 1;
  }
  std::string line;
  for (;;) {
    subscription_batch b;
    try {
      b = sub->next(boost::asio::use_future).get();
    } catch (const boost::system::system_error& e) {
      std::cerr << "evstore: " << e.code().message() << "\n";
      return 1;
    }
    for (const recorded_event& e : b.events) write_event_line(stdout, line, e);
    if (std::fflush(stdout) != 0) return errno == EPIPE ? 0 : 1;
  }
}

int cmd_export(const args_t& args) {
  po::options_description opts;
  opts.add_options()("stream", po::value<std::string>()->default_value("$all"), "the stream to export")(
      "from", po::value<std::uint64_t>()->default_value(0), "first event number")(
      "output,o", po::value<std::string>(), "write to this file instead of stdout");
  add_progress_option(opts);
  auto vm = parse(args, "export", opts, {"dir"});
  const std::string stream = vm["stream"].as<std::string>();
  std::FILE* out = stdout;
  if (vm.count("output")) {
    out = std::fopen(vm["output"].as<std::string>().c_str(), "wx");  // never overwrite an earlier export
    if (out == nullptr) {
      std::cerr << "evstore: cannot create " << vm["output"].as<std::string>() << ": " << std::strerror(errno)
                << "\n";
      return 2;
    }
  }
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  const auto from = vm["from"].as<std::uint64_t>();
  const auto total = known_count(s, stream);
  progress_meter bar("exporting", "events", vm);
  std::uint64_t n = 0;
  std::string line;
  // Every event as stored, hidden ones too (an import needs every version);
  // the store's own $lifecycle events are not the application's: an import
  // could not append them, and deletes and metadata are not carried.
  auto range = s.events(stream, {.from = from, .include_hidden = true});
  for (const recorded_event& e : range) {
    if (e.stream.starts_with('$')) continue;
    write_event_line(out, line, e);
    if (++n % 4096 == 0) bar.update(n, total && *total > from ? *total - from : 0);
  }
  bar.update(n, total && *total > from ? *total - from : 0);
  bar.finish();
  int status = 0;
  if (range.error()) {
    std::cerr << "evstore: " << range.error()->message() << "\n";
    status = 1;
  }
  if (std::fflush(out) != 0 || std::ferror(out) || (out != stdout && std::fclose(out) != 0)) {
    std::cerr << "evstore: writing the export failed: " << std::strerror(errno) << "\n";
    status = 1;
  }
  std::cerr << "exported " << n << " events of " << stream << "\n";
  return status;
}

}  // namespace evstore::cli
