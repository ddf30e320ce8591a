// (c) durable sequential appenders, beside the disk's write+fdatasync loop.
#include "harness.hpp"

namespace evstore::bench {

row disk_sync_loop(const std::string& dir, double secs) {
  const std::string path = dir + "/sync-loop";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("disk loop: open " + path + ": " + std::strerror(errno));
  constexpr off_t prealloc = off_t{16} << 20;
  const std::string zeros(1 << 20, '\0');
  for (off_t at = 0; at < prealloc; at += static_cast<off_t>(zeros.size())) {
    if (::pwrite(fd, zeros.data(), zeros.size(), at) != static_cast<ssize_t>(zeros.size())) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error(std::string("disk loop: prefill: ") + std::strerror(e));
    }
  }
  ::fsync(fd);  // the file's blocks and size are durable before the clock starts
  const std::string record(record_bytes("OrderPlaced", payload(0), {}), 'r');
  std::vector<double> latencies_us;
  off_t at = 0;
  // The first syncs after the prefill still wait for its writeback: warm up.
  const auto warm = clock_type::now() + std::chrono::milliseconds(300);
  auto t0 = clock_type::now();
  while (seconds_since(t0) < secs) {
    if (!latencies_us.empty() && warm <= clock_type::now() && warm > t0) {
      latencies_us.clear();
      t0 = clock_type::now();
    }
    const auto w0 = clock_type::now();
    if (at + static_cast<off_t>(record.size()) > prealloc) at = 0;
    if (::pwrite(fd, record.data(), record.size(), at) != static_cast<ssize_t>(record.size()) ||
        ::fdatasync(fd) != 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error(std::string("disk loop: write/fdatasync: ") + std::strerror(e));
    }
    at += static_cast<off_t>(record.size());
    latencies_us.push_back(seconds_since(w0) * 1e6);
  }
  const double elapsed = seconds_since(t0);
  ::close(fd);
  std::sort(latencies_us.begin(), latencies_us.end());
  row r;
  r.scenario = "c";
  r.variant = "disk: preallocated write+fdatasync loop";
  r.events = latencies_us.size();
  r.seconds = elapsed;
  r.events_per_s = static_cast<double>(r.events) / elapsed;
  r.mb_per_s = static_cast<double>(r.events * record.size()) / elapsed / 1e6;
  const double p50 = latencies_us.empty() ? 0 : latencies_us[latencies_us.size() / 2];
  const double p99 = latencies_us.empty() ? 0 : latencies_us[latencies_us.size() * 99 / 100];
  r.extra["p50_us"] = p50;
  r.extra["p99_us"] = p99;
  r.figures = "the ceiling of one durable appender; p50 " + fmt(p50, 0) + " us, p99 " + fmt(p99, 0) + " us";
  return r;
}

void scenario_c(context& ctx) {
  const double secs = ctx.cfg.quick ? std::min(ctx.cfg.seconds, 0.5) : ctx.cfg.seconds;
  std::fprintf(stderr, "c) durable (fsync_on_flush) sequential appenders, %.1f s each\n", secs);
  double one = 0, disk = 0;
  if (std::string("durable, 1 appender").find(ctx.cfg.variant) != std::string::npos) {
    temp_dir dir(ctx.cfg.dir, "c-disk", ctx.cfg.keep);
    row r = disk_sync_loop(dir.path(), secs);
    disk = r.events_per_s;
    add(std::move(r));
  }
  struct variant {
    std::size_t appenders;
    std::size_t streams;
    std::size_t max_open_files;
    std::string name;
  };
  const variant variants[] = {
      {1, 1, 512, "durable, 1 appender"},
      {4, 4, 512, "durable, 4 appenders, 4 streams"},
      {16, 16, 512, "durable, 16 appenders, 16 streams"},
      {64, 64, 512, "durable, 64 appenders, 64 streams"},
      {64, 1, 512, "durable, 64 appenders, 1 stream (expect::any)"},
      {64, 1000, 512, "durable, 64 appenders rotating over 1000 streams"},
      {64, 1000, 4096, "durable, 64 appenders rotating over 1000 streams (max_open_files=4096)"},
      {64, 100000, 512, "durable, 64 appenders rotating over 100,000 streams"}};
  for (const variant& v : variants) {
    if (v.name.find(ctx.cfg.variant) == std::string::npos) continue;
    temp_dir dir(ctx.cfg.dir, "c", ctx.cfg.keep);
    loop l;
    store s = open_store(l, dir.path(), true, v.max_open_files);
    const auto o = run_chains(l, s, v.appenders, v.streams, secs);
    close_store(s);
    row r = chains_row("c", v.name, o);
    r.extra["appenders"] = v.appenders;
    r.extra["streams"] = v.streams;
    r.extra["max_open_files"] = v.max_open_files;
    if (v.appenders == 1) {
      one = r.events_per_s;
      if (disk > 0) {
        const double share = one / disk;
        r.extra["ratio_to_disk_loop"] = share;
        r.figures = "**" + fmt(100 * share, 0) + "% of the disk loop**; " + r.figures;
        r.target = ">= 90% of the disk loop";
        r.pass = share >= 0.9;
      }
    } else if (one > 0) {
      const double ratio = r.events_per_s / one;
      r.extra["ratio_to_1_appender"] = ratio;
      r.figures = "**" + fmt(ratio, 1) + "x of 1 appender**; " + r.figures;
    }
    // Group commit's promise: 64 appenders share each fdatasync, whatever
    // the number of streams they write to.
    if (v.appenders == 64) {
      r.target = ">= 150,000 ev/s";
      r.pass = r.events_per_s >= 150000;
    }
    add(std::move(r));
  }
}

}  // namespace evstore::bench
