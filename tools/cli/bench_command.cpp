// bench: a quick figure for this machine and disk, on a new store.
#include "cli.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace evstore::cli {

int cmd_bench(const args_t& args) {
  po::options_description opts("bench");
  opts.add_options()("events", po::value<std::uint64_t>()->default_value(200'000), "events to append")(
      "streams", po::value<std::uint64_t>()->default_value(1), "spread over this many streams")(
      "size", po::value<std::size_t>()->default_value(100), "bytes of JSON data per event")(
      "fsync", "durable mode: acknowledge after fdatasync (group commit)");
  auto vm = parse(args, opts, {"dir"});
  const std::string dir = vm["dir"].as<std::string>();
  const auto events = vm["events"].as<std::uint64_t>();
  const auto streams = vm["streams"].as<std::uint64_t>();
  const auto size = vm["size"].as<std::size_t>();
  if (events == 0 || streams == 0 || streams > events) throw usage_error("need 0 < --streams <= --events");
  if (size < 2 || size > (std::size_t{1} << 20)) throw usage_error("--size must be 2..1048576");
  std::error_code fec;
  if (std::filesystem::exists(dir, fec) && !std::filesystem::is_empty(dir, fec)) {
    std::cerr << "evstore: bench writes a new store: " << dir << " is not empty\n";
    return 2;
  }
  runner r;
  store s = open_or_exit(r, dir, false, vm.count("fsync") > 0);
  // A JSON string of `size` bytes, quotes included.
  const std::string data = "\"" + std::string(size - 2, 'x') + "\"";

  // Single-event appends, up to 4096 in flight.
  append_pipeline pipeline(s, 4096, "append");
  const auto start = std::chrono::steady_clock::now();
  progress_bar bar("appending");
  for (std::uint64_t i = 0; i < events; ++i) {
    pipeline.submit("bench-" + std::to_string(i % streams), {{"BenchEvent", data, {}, {}}}, expect::any, i);
    if (i % 8192 == 0) bar.update(i, events);
  }
  const auto failure = pipeline.drain();
  bar.done();
  const double append_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failure) {
    std::cerr << "evstore: " << pipeline.failures() << " appends failed (" << *failure << ")\n";
    close_blocking(s);
    return 1;
  }

  auto t = std::chrono::steady_clock::now();
  std::uint64_t replayed = 0;
  for (std::uint64_t k = 0; k < streams; ++k) {
    auto range = s.events("bench-" + std::to_string(k));
    for (const recorded_event& e : range) replayed += e.data.size() > 0;
  }
  const double replay_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  t = std::chrono::steady_clock::now();
  std::uint64_t scanned = 0;
  for (const recorded_event& e : s.events("$all")) scanned += e.data.size() > 0;
  const double scan_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  close_blocking(s);
  if (replayed != events || scanned != events) {
    std::cerr << "evstore: read back " << replayed << " / " << scanned << " of " << events << " events\n";
    return 1;
  }
  const double mb = static_cast<double>(events * size) / 1e6;
  std::printf("appends (%s, %llu streams, %zu-byte data): %.0f events/s, %.1f MB/s\n",
              vm.count("fsync") ? "fsync" : "buffered", static_cast<unsigned long long>(streams), size,
              static_cast<double>(events) / append_s, mb / append_s);
  std::printf("replay of every stream: %.0f events/s\n", static_cast<double>(events) / replay_s);
  std::printf("$all scan: %.0f events/s\n", static_cast<double>(events) / scan_s);
  std::printf("the store is left in %s\n", dir.c_str());
  return 0;
}

}  // namespace evstore::cli
