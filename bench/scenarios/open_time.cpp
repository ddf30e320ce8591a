// (f) open time of a store with 1M events against one without them.
#include "harness.hpp"

namespace evstore::bench {

double build_store(const std::string& dir, std::size_t n, std::size_t streams, std::size_t per_append) {
  double seconds = 0;
  loop l;
  store s = open_store(l, dir, false, 4096);
  const std::size_t slice = std::max<std::size_t>(per_append, std::min<std::size_t>(n, 100000));
  for (std::size_t first = 0; first < n; first += slice) {
    const std::size_t count = std::min(slice, n - first);
    std::vector<std::vector<event_data>> appends((count + per_append - 1) / per_append);
    for (std::size_t k = 0; k < count; ++k) appends[k / per_append].push_back(make_event(first + k));
    seconds += run_burst(l, s, stream_names(streams), std::move(appends), 100).seconds;
  }
  if (s.event_count() != n) throw std::runtime_error("build: " + std::to_string(s.event_count()) + " events");
  close_store(s);
  return seconds;
}

// Median time of open + destroy, after one warm-up open.
std::pair<double, json::array> median_open_ms(loop& l, const std::string& dir, std::uint64_t expect,
                                              int reps) {
  std::vector<double> ms;
  json::array all;
  for (int i = 0; i < reps + 1; ++i) {
    const auto t0 = clock_type::now();
    {
      store s = open_store(l, dir);
      if (s.event_count() != expect) throw std::runtime_error("reopened store has the wrong event count");
    }
    if (i > 0) {
      ms.push_back(seconds_since(t0) * 1e3);
      all.push_back(ms.back());
    }
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], std::move(all)};
}

void scenario_f(context& ctx) {
  const std::size_t n = ctx.cfg.n(1000000);
  constexpr int reps = 10;
  std::fprintf(stderr, "f) open+destroy time: %zu-event stores vs stores without those events\n", n);
  struct variant {
    std::string name;
    std::size_t streams;
  };
  // 1 stream: events only. 1000 streams: the baseline has the same 1000
  // streams (1 event each), so the ratio isolates the number of events.
  const variant variants[] = {{"1 stream", 1}, {"1000 streams", 1000}};
  loop l;
  for (const variant& v : variants) {
    temp_dir full(ctx.cfg.dir, "f-full", ctx.cfg.keep);
    temp_dir base(ctx.cfg.dir, "f-base", ctx.cfg.keep);
    const double build_s = build_store(full.path(), n, v.streams, 100);
    std::uint64_t base_events = 0;
    if (v.streams > 1) {
      build_store(base.path(), v.streams, v.streams, 1);
      base_events = v.streams;
    } else {
      loop l2;
      store s = open_store(l2, base.path());
      close_store(s);
    }
    const auto [base_ms, base_all] = median_open_ms(l, base.path(), base_events, reps);
    const auto [full_ms, full_all] = median_open_ms(l, full.path(), n, reps);
    const double ratio = full_ms / base_ms;
    row r;
    r.scenario = "f";
    r.variant =
        "open+destroy, " + fmt_int(static_cast<double>(n)) + " events in " + v.name + " vs " +
        (v.streams > 1 ? fmt_int(static_cast<double>(v.streams)) + " events in " + v.name : "empty store");
    r.events = n;
    r.seconds = full_ms / 1e3;
    r.figures = (v.streams > 1 ? "base " : "empty ") + fmt(base_ms, 3) + " ms, full " + fmt(full_ms, 3) +
                " ms, **ratio " + fmt(ratio, 2) + "x** (median of " + std::to_string(reps) + ")";
    r.target = "<= 2x";
    r.pass = ratio <= 2.0;
    r.extra["base_ms"] = base_ms;
    r.extra["full_ms"] = full_ms;
    r.extra["ratio"] = ratio;
    r.extra["streams"] = v.streams;
    r.extra["build_seconds"] = build_s;
    r.extra["build_events_per_s"] = static_cast<double>(n) / build_s;
    r.extra["base_ms_all"] = base_all;
    r.extra["full_ms_all"] = full_all;
    add(std::move(r));
  }
}

}  // namespace evstore::bench
