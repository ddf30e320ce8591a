// (a) buffered appends to one stream, (b) the same over 1000 and 100,000 streams.
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
  r.target = ">= 2,000,000 ev/s";
  r.pass = r.events_per_s >= 2e6;
  ctx.single_stream_events_per_s = r.events_per_s;
  r.extra["chunk"] = ctx.cfg.chunk;
  json::array all;
  for (const auto& run : runs) all.push_back(run.first);
  r.extra["runs_events_per_s"] = std::move(all);
  add(std::move(r));
}

namespace {

// (b)'s target: as fast as one stream (a), within 20%.
void judge_against_a(const context& ctx, row& r) {
  if (ctx.single_stream_events_per_s <= 0) return;
  const double share = r.events_per_s / ctx.single_stream_events_per_s;
  r.figures += "; **" + fmt(share * 100, 0) + "% of (a)**";
  r.target = ">= 80% of (a)";
  r.pass = share >= 0.8;
  r.extra["share_of_a"] = share;
}

}  // namespace

void scenario_b(context& ctx) {
  const std::size_t n = ctx.cfg.n(200000);
  std::fprintf(stderr,
               "b) %zu single-event appends over 1000 streams, buffered, x3; then over 100,000 streams, x2\n",
               n);
  ctx.many_streams_store = std::make_unique<temp_dir>(ctx.cfg.dir, "b", ctx.cfg.keep);
  temp_dir wide(ctx.cfg.dir, "b-wide", ctx.cfg.keep);
  struct variant {
    std::string name;
    std::size_t max_open_files;
    std::size_t streams;
  };
  const variant variants[] = {
      {"1000 new streams, buffered (max_open_files=512)", 512, 1000},
      {"1000 existing streams, buffered (max_open_files=512)", 512, 1000},
      {"1000 existing streams, buffered (max_open_files=4096)", 4096, 1000},
      {"100,000 streams, new (2 events each), buffered (max_open_files=512)", 512, 100000},
      {"100,000 existing streams, buffered (max_open_files=512)", 512, 100000}};
  std::size_t first = 0;
  std::size_t first_wide = 0;
  for (const variant& v : variants) {
    const bool narrow = v.streams == 1000;
    const std::string& dir = narrow ? ctx.many_streams_store->path() : wide.path();
    std::size_t& at = narrow ? first : first_wide;
    const auto o = many_streams_burst(ctx, dir, n, v.max_open_files, at, v.streams);
    at += n;
    if (narrow) ctx.many_streams_events += o.events;
    row r = burst_row("b", v.name, o, n);
    r.figures += ", flushing " +
                 fmt(static_cast<double>(o.after.flush_nanoseconds - o.before.flush_nanoseconds) / 1e9 /
                         o.seconds * 100,
                     0) +
                 "% of the time";
    judge_against_a(ctx, r);
    r.extra["max_open_files"] = v.max_open_files;
    r.extra["streams"] = v.streams;
    add(std::move(r));
  }
}

}  // namespace evstore::bench
