// (l) Scavenging: how fast a scavenge erases the events deletes hide, how
// much disk space it gives back, and what it does to the latency of a durable
// appender running beside it.
#include "harness.hpp"

#include <filesystem>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

namespace evstore::bench {
namespace {

// n events (of `pad` bytes of data each, 0: the usual ~120) over `streams`
// streams, then every stream deleted. Returns the bytes of the records.
std::uint64_t build_deleted(const std::string& dir, std::size_t n, std::size_t streams, std::size_t pad) {
  loop l;
  store s = open_store(l, dir, false, 4096);
  std::vector<std::vector<event_data>> appends(n);
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    event_data e = make_event(i);
    if (pad > 0) e.data = "{\"pad\":\"" + std::string(pad, 'x') + "\"}";
    bytes += record_bytes(e.type, e.data, e.metadata) + stream_name(i, streams).size();
    appends[i].push_back(std::move(e));
  }
  (void)run_burst(l, s, stream_names(streams), std::move(appends), 100);
  for (const std::string& name : stream_names(streams)) {
    std::promise<boost::system::error_code> done;
    s.delete_stream(name, {},
                    [&](boost::system::error_code ec, evstore::append_result) { done.set_value(ec); });
    if (auto ec = done.get_future().get()) throw std::runtime_error("delete " + name + ": " + ec.message());
  }
  close_store(s);
  return bytes;
}

std::uint64_t disk_bytes(const std::string& dir) {
  std::uint64_t blocks = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir + "/log")) {
    struct stat st {};
    if (::stat(f.path().c_str(), &st) == 0) blocks += static_cast<std::uint64_t>(st.st_blocks);
  }
  return blocks * 512;
}

evstore::scavenge_report scavenge_or_throw(store& s) {
  auto r = s.scavenge();
  if (!r) throw std::runtime_error("scavenge: " + r.error().message());
  return *r;
}

void scavenge_row(context& ctx, const std::string& variant, std::size_t n, std::size_t streams,
                  std::size_t pad) {
  temp_dir dir(ctx.cfg.dir, "l", ctx.cfg.keep);
  const std::uint64_t bytes = build_deleted(dir.path(), n, streams, pad);
  ::sync();
  loop l;
  store s = open_store(l, dir.path(), true);
  const std::uint64_t disk_before = disk_bytes(dir.path());
  const auto t0 = clock_type::now();
  const auto report = scavenge_or_throw(s);
  const double seconds = seconds_since(t0);
  const std::uint64_t disk_after = disk_bytes(dir.path());
  close_store(s);
  if (report.events_erased != n)
    throw std::runtime_error("scavenge erased " + std::to_string(report.events_erased));
  row r;
  r.scenario = "l";
  r.variant = variant;
  r.events = report.events_erased;
  r.seconds = seconds;
  r.events_per_s = static_cast<double>(report.events_erased) / seconds;
  r.mb_per_s = static_cast<double>(bytes) / seconds / 1e6;
  r.figures = fmt(static_cast<double>(report.bytes_released) / 1e6, 1) + " MB of " +
              fmt(static_cast<double>(report.bytes_erased) / 1e6, 1) + " MB given back; log " +
              fmt(static_cast<double>(disk_before) / 1e6, 1) + " -> " +
              fmt(static_cast<double>(disk_after) / 1e6, 1) + " MB on disk";
  r.extra["bytes_erased"] = report.bytes_erased;
  r.extra["bytes_released"] = report.bytes_released;
  r.extra["disk_before"] = disk_before;
  r.extra["disk_after"] = disk_after;
  add(std::move(r));
}

}  // namespace

void scenario_l(context& ctx) {
  std::fprintf(stderr, "l) scavenging deleted streams\n");
  scavenge_row(ctx, "small events, 2000 deleted streams", ctx.cfg.n(200000), 2000, 0);
  scavenge_row(ctx, "64 KiB events, 200 deleted streams", ctx.cfg.n(5000), 200, 64 * 1024);

  // One durable appender on its own, then with a scavenge of the same store's
  // 200k deleted events running beside it (for as long as the scavenge runs).
  temp_dir dir(ctx.cfg.dir, "l", ctx.cfg.keep);
  (void)build_deleted(dir.path(), ctx.cfg.n(400000), 2000, 0);
  ::sync();  // the build's write-back must not land in either window
  loop l;
  store s = open_store(l, dir.path(), true);
  const double window = ctx.cfg.quick ? 0.5 : 2.0;
  const auto alone = run_chains(l, s, 1, 1, window);
  double scavenge_seconds = 0;
  std::thread scavenger([&] {
    const auto t0 = clock_type::now();
    (void)scavenge_or_throw(s);
    scavenge_seconds = seconds_since(t0);
  });
  const auto beside = run_chains(l, s, 1, 1, window);
  scavenger.join();
  close_store(s);
  for (const auto& [variant, o] :
       {std::pair<std::string, const chains_outcome&>{"durable appender alone", alone},
        {"durable appender beside a scavenge", beside}}) {
    row r = chains_row("l", variant, o);
    r.figures = "p50 " + fmt(o.latency.p50_us, 0) + " us, p99 " + fmt(o.latency.p99_us, 0) + " us, max " +
                fmt(o.latency.max_us, 0) + " us";
    if (&o == &beside) r.figures += "; the scavenge took " + fmt(scavenge_seconds, 2) + " s";
    add(std::move(r));
  }
}

}  // namespace evstore::bench
