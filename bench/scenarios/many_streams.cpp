// (k) one stream per aggregate: many streams of 3 events each.
#include "harness.hpp"

#include <random>

#include <sys/stat.h>

namespace evstore::bench {
namespace {

// Apparent bytes (sum of file sizes), allocated bytes (st_blocks, what the
// disk holds) and the number of regular files under `dir`.
struct disk_usage {
  std::uint64_t apparent = 0;
  std::uint64_t allocated = 0;
  std::uint64_t files = 0;
};

disk_usage measure_disk_usage(const std::string& dir) {
  disk_usage u;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0) continue;
    u.apparent += static_cast<std::uint64_t>(st.st_size);
    u.allocated += static_cast<std::uint64_t>(st.st_blocks) * 512;
    ++u.files;
  }
  return u;
}

// Appends `per_stream` events to each of `streams` streams in `per_stream`
// passes (every aggregate gets its first event, then its second, ...: the
// order in which a live system touches aggregates), `slice` appends per
// burst so the pending appends stay bounded in memory.
double fill_aggregates(loop& l, store& s, std::size_t streams, std::size_t per_stream) {
  constexpr std::size_t slice = 100000;
  double seconds = 0;
  for (std::size_t pass = 0; pass < per_stream; ++pass) {
    for (std::size_t first = 0; first < streams; first += slice) {
      const std::size_t count = std::min(slice, streams - first);
      std::vector<std::string> names;
      names.reserve(count);
      for (std::size_t i = first; i < first + count; ++i) names.push_back(stream_name(i, streams));
      seconds += run_burst(l, s, std::move(names), single_event_appends(count, pass * streams + first), 1000)
                     .seconds;
    }
  }
  return seconds;
}

// The first read of streams the opened store has not touched yet: one
// `read()` of the whole (3-event) stream each, timed one by one.
percentiles cold_reads(const store& s, std::size_t streams, std::size_t samples, std::size_t per_stream) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::size_t> pick(0, streams - 1);
  std::set<std::size_t> chosen;
  while (chosen.size() < std::min(samples, streams)) chosen.insert(pick(rng));
  std::vector<std::uint64_t> ns;
  for (std::size_t i : chosen) {
    const std::string name = stream_name(i, streams);
    const auto t0 = clock_type::now();
    auto page = s.read(name);
    const auto t1 = clock_type::now();
    if (!page) throw std::runtime_error("read " + name + ": " + page.error().message());
    if (page->events.size() != per_stream) throw std::runtime_error("read " + name + ": wrong event count");
    ns.push_back(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
  return compute_percentiles(std::move(ns));
}

}  // namespace

void scenario_k(context& ctx) {
  const std::size_t streams = ctx.cfg.k_streams > 0 ? ctx.cfg.k_streams : ctx.cfg.n(1000000);
  constexpr std::size_t per_stream = 3;
  const std::uint64_t events = streams * per_stream;
  std::fprintf(stderr, "k) %zu streams x %zu events (one stream per aggregate), buffered\n", streams,
               per_stream);
  temp_dir dir(ctx.cfg.dir, "k", ctx.cfg.keep);
  double append_s = 0;
  {
    loop l;
    store s = open_store(l, dir.path());
    append_s = fill_aggregates(l, s, streams, per_stream);
    if (s.event_count() != events) throw std::runtime_error("k: wrong event count after the appends");
    close_store(s);
  }
  const disk_usage du = measure_disk_usage(dir.path());
  const double record = static_cast<double>(record_bytes(event_type, payload(0), {}));
  const double per_event = static_cast<double>(du.allocated) / static_cast<double>(events);

  row w;
  w.scenario = "k";
  w.variant = fmt_int(static_cast<double>(streams)) + " streams x 3 events: appends";
  w.events = events;
  w.seconds = append_s;
  w.events_per_s = static_cast<double>(events) / append_s;
  w.mb_per_s = static_cast<double>(events) * record / append_s / 1e6;
  w.figures = fmt(per_event, 0) + " B on disk per event (record " + fmt_int(record) + " B; " +
              fmt(static_cast<double>(du.apparent) / static_cast<double>(events), 0) + " B apparent), " +
              fmt_int(static_cast<double>(du.files)) + " files";
  w.target = ">= 1,000,000 ev/s; <= record + 40 B per event; files independent of streams";
  w.pass = w.events_per_s >= 1e6 && per_event <= record + 40 && du.files < 1000;
  w.extra["streams"] = streams;
  w.extra["bytes_allocated"] = du.allocated;
  w.extra["bytes_apparent"] = du.apparent;
  w.extra["files"] = du.files;
  w.extra["bytes_per_event"] = per_event;
  add(std::move(w));

  loop l;
  const auto [open_ms, all_open_ms] = median_open_ms(l, dir.path(), events, 5);
  row o;
  o.scenario = "k";
  o.variant = "open of that store (median of 5)";
  o.events = events;
  o.figures = fmt(open_ms, 1) + " ms";
  o.target = "<= 50 ms";
  o.pass = open_ms <= 50;
  o.extra["open_ms"] = open_ms;
  o.extra["runs_ms"] = all_open_ms;
  add(std::move(o));

  store s = open_store(l, dir.path());
  const percentiles cold = cold_reads(s, streams, 1000, per_stream);
  row c;
  c.scenario = "k";
  c.variant = "first read of a cold stream (1000 streams)";
  c.events = 1000 * per_stream;
  c.figures = "p50 " + fmt(cold.p50_us, 0) + " us, p99 " + fmt(cold.p99_us, 0) + " us, max " +
              fmt(cold.max_us, 0) + " us";
  c.target = "<= 1 ms";
  c.pass = cold.p99_us <= 1000;
  c.extra["latency"] = to_json(cold);
  add(std::move(c));
  close_store(s);
}

}  // namespace evstore::bench
