// (a) buffered appends to one stream, (b) the same over 1000 streams.
#include "harness.hpp"

namespace evstore::bench {

void scenario_a(context& ctx) {
  const std::size_t n = ctx.cfg.n(200000);
  const int reps = 3;
  std::fprintf(stderr, "a) %zu single-event appends to one stream, buffered (median of %d runs)\n", n, reps);
  std::vector<std::pair<double, burst_outcome>> runs;
  for (int rep = 0; rep < reps; ++rep) {
    auto dir = std::make_unique<temp_dir>(ctx.cfg.dir, "a", ctx.cfg.keep);
    loop l;
    store s = open_store(l, dir->path());
    const auto o = run_burst(l, s, stream_names(1), single_event_appends(n), ctx.cfg.chunk);
    close_store(s);
    runs.emplace_back(static_cast<double>(o.events) / o.seconds, o);
    // The last run's store is the 200k-event stream that (d) replays.
    ctx.single_stream_store = std::move(dir);
    ctx.single_stream_events = o.events;
  }
  std::sort(runs.begin(), runs.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  const burst_outcome& o = runs[runs.size() / 2].second;
  row r = burst_row("a", "1 stream, buffered, " + fmt_int(static_cast<double>(n)) + " appends", o, n);
  r.figures += "; runs " + fmt_int(runs.front().first) + " .. " + fmt_int(runs.back().first) + " ev/s";
  r.target = ">= 1,000,000 ev/s";
  r.pass = r.events_per_s >= 1e6;
  r.extra["chunk"] = ctx.cfg.chunk;
  json::array all;
  for (const auto& run : runs) all.push_back(run.first);
  r.extra["runs_events_per_s"] = std::move(all);
  add(std::move(r));
}

void scenario_b(context& ctx) {
  const std::size_t n = ctx.cfg.n(200000);
  std::fprintf(stderr, "b) %zu single-event appends over 1000 streams, buffered, x3\n", n);
  ctx.many_streams_store = std::make_unique<temp_dir>(ctx.cfg.dir, "b", ctx.cfg.keep);
  const std::string& dir = ctx.many_streams_store->path();
  struct variant {
    std::string name;
    std::size_t max_open_files;
  };
  const variant variants[] = {{"1000 new streams, buffered (max_open_files=512)", 512},
                              {"1000 existing streams, buffered (max_open_files=512)", 512},
                              {"1000 existing streams, buffered (max_open_files=4096)", 4096}};
  std::size_t first = 0;
  for (const variant& v : variants) {
    const auto o = many_streams_burst(ctx, dir, n, v.max_open_files, first);
    first += n;
    ctx.many_streams_events += o.events;
    row r = burst_row("b", v.name, o, n);
    r.figures += ", flushing " +
                 fmt(static_cast<double>(o.after.flush_nanoseconds - o.before.flush_nanoseconds) / 1e9 /
                         o.seconds * 100,
                     0) +
                 "% of the time";
    r.extra["max_open_files"] = v.max_open_files;
    add(std::move(r));
  }
}

}  // namespace evstore::bench
