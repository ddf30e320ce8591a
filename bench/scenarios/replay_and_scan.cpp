// (d) replay of one stream, (e) a $all scan over 1000 streams.
#include "harness.hpp"

namespace evstore::bench {

void scenario_d(context& ctx) {
  build_single_stream_store(ctx);
  const std::uint64_t n = ctx.single_stream_events;
  std::fprintf(stderr, "d) replay of a %llu-event stream\n", static_cast<unsigned long long>(n));
  loop l;
  store s = open_store(l, ctx.single_stream_store->path());
  constexpr int reps = 5;
  // events(): the lazy range, page by page.
  std::vector<double> times;
  std::uint64_t count = 0, bytes = 0, touched = 0;
  for (int rep = 0; rep < reps; ++rep) {
    count = bytes = 0;
    const auto t0 = clock_type::now();
    auto range = s.events("orders");
    for (const evstore::recorded_event& e : range) {
      ++count;
      touched += e.data.size();
      bytes += record_bytes(e.type, e.data, e.metadata);
    }
    times.push_back(seconds_since(t0));
    if (range.error()) throw std::runtime_error("replay: " + range.error()->message());
    if (count != n) throw std::runtime_error("replay saw " + std::to_string(count) + " events");
  }
  std::sort(times.begin(), times.end());
  row r;
  r.scenario = "d";
  r.variant = "replay 1 stream, events() range";
  r.events = count;
  r.seconds = times[reps / 2];
  r.events_per_s = static_cast<double>(count) / r.seconds;
  r.mb_per_s = static_cast<double>(bytes) / r.seconds / 1e6;
  r.figures = "median of " + std::to_string(reps);
  r.target = ">= 2,000,000 ev/s";
  r.pass = r.events_per_s >= 2e6;
  r.extra["checksum"] = touched;
  add(std::move(r));

  // read(): explicit pages of 1000.
  times.clear();
  for (int rep = 0; rep < reps; ++rep) {
    count = bytes = 0;
    const auto t0 = clock_type::now();
    evstore::read_options o;
    o.max_count = 1000;
    for (;;) {
      auto page = s.read("orders", o);
      if (!page) throw std::runtime_error("read: " + page.error().message());
      for (const evstore::recorded_event& e : page->events) {
        ++count;
        touched += e.data.size();
        bytes += record_bytes(e.type, e.data, e.metadata);
      }
      if (page->end) break;
      o.from = page->next;
    }
    times.push_back(seconds_since(t0));
    if (count != n) throw std::runtime_error("paged replay saw " + std::to_string(count) + " events");
  }
  std::sort(times.begin(), times.end());
  row r2;
  r2.scenario = "d";
  r2.variant = "replay 1 stream, read() pages of 1000";
  r2.events = count;
  r2.seconds = times[reps / 2];
  r2.events_per_s = static_cast<double>(count) / r2.seconds;
  r2.mb_per_s = static_cast<double>(bytes) / r2.seconds / 1e6;
  r2.figures = "median of " + std::to_string(reps);
  r2.target = ">= 2,000,000 ev/s";
  r2.pass = r2.events_per_s >= 2e6;
  r2.extra["checksum"] = touched;
  add(std::move(r2));
}

void scenario_e(context& ctx) {
  build_many_streams_store(ctx);
  const std::uint64_t n = ctx.many_streams_events;
  std::fprintf(stderr, "e) $all scan of %llu events over 1000 streams\n", static_cast<unsigned long long>(n));
  for (std::size_t max_open : {std::size_t{512}, std::size_t{4096}}) {
    loop l;
    store s = open_store(l, ctx.many_streams_store->path(), false, max_open);
    // Thrashing the file cache is slow: one pass is enough to show it.
    const int reps = max_open < 2000 ? 1 : 3;
    std::vector<double> times;
    std::uint64_t count = 0, bytes = 0, touched = 0;
    for (int rep = 0; rep < reps; ++rep) {
      count = bytes = 0;
      const auto t0 = clock_type::now();
      auto range = s.events("$all");
      for (const evstore::recorded_event& e : range) {
        ++count;
        touched += e.data.size() + e.stream.size();
        bytes += record_bytes(e.type, e.data, e.metadata);
      }
      times.push_back(seconds_since(t0));
      if (range.error()) throw std::runtime_error("$all scan: " + range.error()->message());
      if (count != n) throw std::runtime_error("$all scan saw " + std::to_string(count) + " events");
    }
    std::sort(times.begin(), times.end());
    row r;
    r.scenario = "e";
    r.variant = "$all scan, 1000 streams (max_open_files=" + std::to_string(max_open) + ")";
    r.events = count;
    r.seconds = times[reps / 2];
    r.events_per_s = static_cast<double>(count) / r.seconds;
    r.mb_per_s = static_cast<double>(bytes) / r.seconds / 1e6;
    r.figures = reps > 1 ? "median of " + std::to_string(reps) : "1 run";
    r.extra["max_open_files"] = max_open;
    r.extra["checksum"] = touched;
    add(std::move(r));
  }
}

// Fills `dir` with n events in appends of per_append events, round-robin over
// `streams` streams; returns the build time.

}  // namespace evstore::bench
