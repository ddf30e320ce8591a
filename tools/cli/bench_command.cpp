// bench: a quick figure for this machine and disk, on a new store. Three
// steps: append (single-event appends, pipelined), read back (every stream,
// then $all), report.
#include "cli.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace evstore::cli {
namespace {

struct bench_plan {
  std::string dir;
  std::uint64_t events = 0, streams = 0;
  std::size_t size = 0;
  bool fsync = false;
  po::variables_map vm;  // --progress
};

// The options, checked (usage_error when out of range).
bench_plan parse_bench(const args_t& args) {
  po::options_description opts;
  opts.add_options()("events", po::value<std::uint64_t>()->default_value(200'000), "events to append")(
      "streams", po::value<std::uint64_t>()->default_value(1), "spread over this many streams")(
      "size", po::value<std::size_t>()->default_value(100), "bytes of JSON data per event")(
      "fsync", "durable mode: acknowledge after fdatasync (group commit)");
  add_progress_option(opts);
  auto vm = parse(args, "bench", opts, {"dir"});
  bench_plan p{vm["dir"].as<std::string>(),
               vm["events"].as<std::uint64_t>(),
               vm["streams"].as<std::uint64_t>(),
               vm["size"].as<std::size_t>(),
               vm.count("fsync") > 0,
               vm};
  if (p.events == 0 || p.streams == 0 || p.streams > p.events)
    throw usage_error("need 0 < --streams <= --events");
  if (p.size < 2 || p.size > (std::size_t{1} << 20)) throw usage_error("--size must be 2..1048576");
  return p;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Single-event appends, up to 4096 in flight. The seconds taken, or nullopt
// after saying why when an append failed.
std::optional<double> append_phase(store& s, const bench_plan& p) {
  // A JSON string of `size` bytes, quotes included.
  const std::string data = "\"" + std::string(p.size - 2, 'x') + "\"";
  append_pipeline pipeline(s, 4096, "append");
  const auto start = std::chrono::steady_clock::now();
  progress_meter bar("appending", "events", p.vm);
  for (std::uint64_t i = 0; i < p.events; ++i) {
    pipeline.submit("bench-" + std::to_string(i % p.streams), {{"BenchEvent", data, {}, {}}}, expect::any, i);
    if (i % 8192 == 0) bar.update(i, p.events);
  }
  const auto failure = pipeline.drain();
  bar.update(p.events, p.events);
  bar.finish();
  if (failure) {
    std::cerr << "evstore: " << pipeline.failures() << " appends failed (" << *failure << ")\n";
    return std::nullopt;
  }
  return seconds_since(start);
}

struct read_figures {
  std::uint64_t replayed = 0, scanned = 0;
  double replay_s = 0, scan_s = 0;
};

// Every stream from its start, then $all.
read_figures read_phase(store& s, const bench_plan& p) {
  read_figures f;
  auto start = std::chrono::steady_clock::now();
  for (std::uint64_t k = 0; k < p.streams; ++k) {
    auto range = s.events("bench-" + std::to_string(k));
    for (const recorded_event& e : range) f.replayed += e.data.size() > 0;
  }
  f.replay_s = seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (const recorded_event& e : s.events("$all")) f.scanned += e.data.size() > 0;
  f.scan_s = seconds_since(start);
  return f;
}

void print_figures(const bench_plan& p, double append_s, const read_figures& f) {
  const auto events = static_cast<double>(p.events);
  const double mb = static_cast<double>(p.events * p.size) / 1e6;
  std::printf("appends (%s, %llu streams, %zu-byte data): %.0f events/s, %.1f MB/s\n",
              p.fsync ? "fsync" : "buffered", static_cast<unsigned long long>(p.streams), p.size,
              events / append_s, mb / append_s);
  std::printf("replay of every stream: %.0f events/s\n", events / f.replay_s);
  std::printf("$all scan: %.0f events/s\n", events / f.scan_s);
  std::printf("the store is left in %s\n", p.dir.c_str());
}

}  // namespace

int cmd_bench(const args_t& args) {
  const bench_plan p = parse_bench(args);
  std::error_code fec;
  if (std::filesystem::exists(p.dir, fec) && !std::filesystem::is_empty(p.dir, fec)) {
    std::cerr << "evstore: bench writes a new store: " << p.dir << " is not empty\n";
    return 2;
  }
  runner r;
  store s = open_or_exit(r, p.dir, false, p.fsync);
  const auto append_s = append_phase(s, p);
  if (!append_s) {
    (void)close_blocking(s);  // failing already; close prints its own error
    return 1;
  }
  const read_figures f = read_phase(s, p);
  if (close_blocking(s)) return 1;
  if (f.replayed != p.events || f.scanned != p.events) {
    std::cerr << "evstore: read back " << f.replayed << " / " << f.scanned << " of " << p.events
              << " events\n";
    return 1;
  }
  print_figures(p, *append_s, f);
  return 0;
}

}  // namespace evstore::cli
