// evstore_bench's output: the machine it ran on, the Markdown table on
// stdout and every figure in the JSON file.
#include "harness.hpp"

namespace evstore::bench {

// ---------------------------------------------------------------------------
// Output

std::string read_first_line_with(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return {};
}

std::string fs_type(const std::string& dir) {
  struct statfs sf {};
  if (statfs(dir.c_str(), &sf) != 0) return "unknown";
  switch (static_cast<unsigned long>(sf.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(sf.f_type));
      return buf;
    }
  }
}

double load_average() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  in >> v;
  return v;
}

const double load_at_start = load_average();

// CPU time of the whole machine (/proc/stat) and of this process, to tell how
// much of the machine other processes used while the benchmark ran.
struct cpu_sample {
  double busy = 0, total = 0, self = 0;  // seconds
};

cpu_sample sample_cpu() {
  cpu_sample c;
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  std::vector<double> v;
  for (double x; v.size() < 8 && in >> x;) v.push_back(x);
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (std::size_t i = 0; i < v.size(); ++i) {
    c.total += v[i] / hz;
    if (i != 3 && i != 4) c.busy += v[i] / hz;  // not idle, not iowait
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  c.self = secs(ru.ru_utime) + secs(ru.ru_stime);
  return c;
}

const cpu_sample cpu_at_start = sample_cpu();

// Share of the machine's CPU capacity used by other processes since start, %.
double other_cpu_percent() {
  const cpu_sample now = sample_cpu();
  const double total = now.total - cpu_at_start.total;
  if (total <= 0) return 0;
  const double other = (now.busy - cpu_at_start.busy) - (now.self - cpu_at_start.self);
  return std::max(0.0, other / total * 100);
}

json::object machine_info(const config& cfg) {
  utsname u{};
  uname(&u);
  return {{"cpu", read_first_line_with("/proc/cpuinfo", "model name")},
          {"cores", std::thread::hardware_concurrency()},
          {"kernel", std::string(u.sysname) + " " + u.release},
          {"dir", cfg.dir},
          {"dir_fs", fs_type(cfg.dir)},
          {"build_type", EVSTORE_BENCH_BUILD_TYPE},
          {"loadavg_1min_start", load_at_start},
          {"loadavg_1min_end", load_average()},
          {"other_processes_cpu_percent", other_cpu_percent()}};
}

void write_outputs(const config& cfg) {
  json::array rows;
  for (const row& r : results) {
    json::object o{{"scenario", r.scenario},
                   {"variant", r.variant},
                   {"events", r.events},
                   {"seconds", r.seconds},
                   {"events_per_s", r.events_per_s},
                   {"mb_per_s", r.mb_per_s},
                   {"figures", r.figures},
                   {"target", r.target}};
    if (r.pass) o["pass"] = *r.pass;
    o["extra"] = r.extra;
    rows.push_back(std::move(o));
  }
  json::object doc{{"tool", "evstore_bench"},
                   {"quick", cfg.quick},
                   {"machine", machine_info(cfg)},
                   {"event_bytes", payload(0).size()},
                   {"record_bytes", record_bytes(event_type, payload(0), {})},
                   {"results", std::move(rows)}};
  std::ofstream out(cfg.json_path);
  out << json::serialize(doc) << "\n";
  if (!out) std::fprintf(stderr, "cannot write %s\n", cfg.json_path.c_str());

  std::printf("| scenario | variant | events | seconds | events/s | MB/s | figures | target |\n");
  std::printf("|---|---|---:|---:|---:|---:|---|---|\n");
  for (const row& r : results) {
    std::string target = r.target;
    if (r.pass) target += *r.pass ? " **PASS**" : " **FAIL**";
    const bool throughput = r.scenario != "f";
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.scenario.c_str(), r.variant.c_str(),
                fmt_int(static_cast<double>(r.events)).c_str(), fmt(r.seconds, 3).c_str(),
                throughput ? fmt_int(r.events_per_s).c_str() : "", throughput ? fmt(r.mb_per_s).c_str() : "",
                r.figures.c_str(), target.c_str());
  }
  std::printf(
      "\nEvents: %zu-byte JSON data, type \"%s\"; a record (payload + framing) is %zu bytes. "
      "MB = 10^6 bytes of records. Other processes used %.0f%% of the machine's CPU during the run. %s\n",
      payload(0).size(), event_type.c_str(), record_bytes(event_type, payload(0), {}), other_cpu_percent(),
      cfg.quick ? "**--quick run: counts are 10x smaller.**" : "");
}

}  // namespace evstore::bench
