// The harness of evstore_bench, which every scenario (bench/scenarios/*.cpp)
// includes: its parts, each including the one before, are bench_options.hpp
// (command line), bench_env.hpp (temporary stores, the loop, events),
// bench_results.hpp (rows, formats, percentiles) and bench_drivers.hpp (burst
// and chain appenders); this file holds what several scenarios share (the
// stores they read, the rows of bursts and chains) and the scenario list.
// See bench/README.md.
#pragma once

#include "bench_drivers.hpp"

namespace evstore::bench {

// ---------------------------------------------------------------------------
// Scenarios

struct context {
  config cfg;
  std::unique_ptr<temp_dir> single_stream_store;  // 200k events in "orders" (a)
  std::unique_ptr<temp_dir> many_streams_store;   // 200k events over 1000 streams (b)
  std::uint64_t single_stream_events = 0;
  std::uint64_t many_streams_events = 0;
  double single_stream_events_per_s = 0;  // (a)'s median, for (b)'s ratios
};

inline row burst_row(const std::string& scenario, const std::string& variant, const burst_outcome& o,
                     std::size_t appends) {
  row r;
  r.scenario = scenario;
  r.variant = variant;
  r.events = o.events;
  r.seconds = o.seconds;
  r.events_per_s = static_cast<double>(o.events) / o.seconds;
  r.mb_per_s = static_cast<double>(o.after.bytes - o.before.bytes) / o.seconds / 1e6;
  const double flushes = static_cast<double>(o.after.flushes - o.before.flushes);
  r.figures = fmt_int(flushes) + " flushes, " +
              fmt(static_cast<double>(appends) / std::max(1.0, flushes), 0) + " appends/flush";
  r.extra["appends"] = appends;
  r.extra["stats"] = stats_delta(o.before, o.after);
  return r;
}

inline void build_single_stream_store(context& ctx) {
  if (ctx.single_stream_store) return;
  const std::size_t n = ctx.cfg.n(200000);
  std::fprintf(stderr, "   (building a %zu-event stream)\n", n);
  ctx.single_stream_store = std::make_unique<temp_dir>(ctx.cfg.dir, "a", ctx.cfg.keep);
  loop l;
  store s = open_store(l, ctx.single_stream_store->path());
  const auto o = run_burst(l, s, stream_names(1), single_event_appends(n), ctx.cfg.chunk);
  close_store(s);
  ctx.single_stream_events = o.events;
}

inline burst_outcome many_streams_burst(context& ctx, const std::string& dir, std::size_t n,
                                        std::size_t max_open_files, std::size_t first_event = 0,
                                        std::size_t streams = 1000) {
  loop l;
  store s = open_store(l, dir, false, max_open_files);
  const auto o = run_burst(l, s, stream_names(streams), single_event_appends(n, first_event), ctx.cfg.chunk);
  close_store(s);
  return o;
}

// Three bursts of n appends round-robin over 1000 streams into one store:
//   1. the streams are new: every stream's first flush creates its 2 files;
//   2. the streams exist, default file cache (512 open files < 2000 files);
//   3. the streams exist, a file cache that holds all 2000 files.

inline void build_many_streams_store(context& ctx) {
  if (ctx.many_streams_store) return;
  const std::size_t n = ctx.cfg.n(200000);
  std::fprintf(stderr, "   (building %zu events over 1000 streams)\n", n);
  ctx.many_streams_store = std::make_unique<temp_dir>(ctx.cfg.dir, "b", ctx.cfg.keep);
  ctx.many_streams_events = many_streams_burst(ctx, ctx.many_streams_store->path(), n, 4096).events;
}

inline row chains_row(const std::string& scenario, const std::string& variant, const chains_outcome& o) {
  row r;
  r.scenario = scenario;
  r.variant = variant;
  r.events = o.events;
  r.seconds = o.seconds;
  r.events_per_s = static_cast<double>(o.events) / o.seconds;
  r.mb_per_s = static_cast<double>(o.at_stop.bytes - o.before.bytes) / o.seconds / 1e6;
  const auto flushes = static_cast<double>(o.at_stop.flushes - o.before.flushes);
  const auto fsyncs = static_cast<double>(o.at_stop.fsyncs - o.before.fsyncs);
  const auto flush_ms = static_cast<double>(o.at_stop.flush_nanoseconds - o.before.flush_nanoseconds) / 1e6;
  r.extra["flushes"] = flushes;
  r.extra["fsyncs"] = fsyncs;
  r.extra["fsyncs_per_flush"] = flushes > 0 ? fsyncs / flushes : 0.0;
  r.extra["events_per_flush"] = flushes > 0 ? static_cast<double>(o.events) / flushes : 0.0;
  r.extra["mean_flush_ms"] = flushes > 0 ? flush_ms / flushes : 0.0;
  r.extra["latency"] = to_json(o.latency);
  r.extra["stats_at_stop"] = stats_delta(o.before, o.at_stop);
  r.figures = fmt_int(flushes) + " flushes, " + fmt(flushes > 0 ? fsyncs / flushes : 0, 1) +
              " fsyncs/flush, " + fmt(flushes > 0 ? static_cast<double>(o.events) / flushes : 0, 1) +
              " ev/flush, " + fmt(flushes > 0 ? flush_ms / flushes : 0, 2) + " ms/flush; p50 " +
              fmt(o.latency.p50_us, 0) + " us, p99 " + fmt(o.latency.p99_us, 0) + " us";
  return r;
}

// What the disk allows one sequential durable writer: write one record
// (215 bytes, as an appended event's) into a file written in full
// beforehand, fdatasync, repeat. Overwriting written blocks changes no
// metadata, so each fdatasync is only the data: a durable append cannot beat
// it, and the 1-appender row is printed as its share. (posix_fallocate alone
// would not do: its unwritten extents make every sync a journal commit.)

// Scenarios (bench/scenarios/), in the order main runs them.
void scenario_a(context& ctx);  // buffered_appends.cpp
void scenario_b(context& ctx);  // buffered_appends.cpp
void scenario_c(context& ctx);  // durable_appenders.cpp
void scenario_d(context& ctx);  // replay_and_scan.cpp
void scenario_e(context& ctx);  // replay_and_scan.cpp
void scenario_f(context& ctx);  // open_time.cpp
void scenario_g(context& ctx);  // append_latency.cpp
void scenario_h(context& ctx);  // fanout.cpp
void scenario_i(context& ctx);  // read_streams.cpp
void scenario_j(context& ctx);  // follower_lag.cpp
void scenario_k(context& ctx);  // many_streams.cpp
void scenario_l(context& ctx);  // scavenge.cpp
void scenario_m(context& ctx);  // aggregate.cpp

// open_time.cpp: median time of open + destroy of the store in `dir` (which
// must hold `expect` events), after one warm-up open; and every run's time.
std::pair<double, json::array> median_open_ms(loop& l, const std::string& dir, std::uint64_t expect,
                                              int reps);

// report.cpp: the Markdown table on stdout and the JSON file.
void write_outputs(const config& cfg);

}  // namespace evstore::bench
