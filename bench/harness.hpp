// The harness of evstore_bench: its options, temporary stores, the loop
// that runs a store, the rows of the results table, percentiles, the two
// append drivers (bursts issued without waiting, chains of sequential
// appenders) and the shared stores that several scenarios read. Every
// scenario (bench/scenarios/*.cpp) includes it; see bench/README.md.
#pragma once

#include "format/format.hpp"  // engine/src: record framing size, for MB/s of reads
#include <evstore/store.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef EVSTORE_BENCH_BUILD_TYPE
#define EVSTORE_BENCH_BUILD_TYPE "unknown"
#endif

namespace evstore::bench {

namespace asio = boost::asio;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;
using evstore::event_data;
using evstore::store;

inline double seconds_since(clock_type::time_point t0, clock_type::time_point t1 = clock_type::now()) {
  return std::chrono::duration<double>(t1 - t0).count();
}

// ---------------------------------------------------------------------------
// Command line

struct config {
  bool quick = false;
  std::set<std::string> only;  // empty: all
  std::string dir = "/tmp";
  std::string json_path = "bench-results.json";
  double seconds = 3.0;      // duration of each durable (c) run
  std::size_t chunk = 1000;  // appends issued per io_context turn in (a)/(b)
  bool keep = false;         // keep the temp directories
  std::string variant;       // (c), (h): run the variants whose name contains this

  bool wants(const std::string& name) const { return only.empty() || only.count(name) > 0; }
  // Full count, or a tenth of it with --quick.
  std::size_t n(std::size_t full) const { return quick ? full / 10 : full; }
};

[[noreturn]] inline void usage(const char* argv0, int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: %s [--quick] [--only=a,b,c,d,e,f,g,h,i,j] [--dir=/tmp] [--json=bench-results.json]\n"
               "          [--seconds=3] [--chunk=1000] [--keep] [--variant=TEXT (c, h)]\n"
               "  a  200k single-event appends to one stream, buffered, issued without waiting\n"
               "  b  the same over 1000 streams\n"
               "  c  durable (fsync_on_flush) sequential appenders: 1, 64 streams, 64 on one stream\n"
               "  d  replay of a 200k-event stream: events() and read() pages of 1000\n"
               "  e  $all scan of the store of (b)\n"
               "  f  open+destroy time: 1M-event store vs empty store (median of 10)\n"
               "  g  append latency p50/p99, sequential single appends, buffered and durable\n"
               "  h  subscription fan-out: 50k events to 100 and 1000 live subscribers of one stream\n"
               "  i  system-stream indexing and a read stream's back-fill over 1M events in 1000 streams;\n"
               "     appends of (a) with system streams on vs off\n"
               "  j  follower lag: append to delivery in a read-only follower's $all subscription\n",
               argv0);
  std::exit(code);
}

inline config parse_args(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
      if (a == name && i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (a == "--quick") {
      c.quick = true;
    } else if (a == "--keep") {
      c.keep = true;
    } else if (a == "--help" || a == "-h") {
      usage(argv[0], 0);
    } else if (auto v = value("--only")) {
      std::stringstream ss(*v);
      for (std::string item; std::getline(ss, item, ',');) {
        if (item.size() != 1 || item[0] < 'a' || item[0] > 'j') usage(argv[0], 2);
        c.only.insert(item);
      }
    } else if (auto d = value("--dir")) {
      c.dir = *d;
    } else if (auto j = value("--json")) {
      c.json_path = *j;
    } else if (auto s = value("--seconds")) {
      c.seconds = std::stod(*s);
    } else if (auto va = value("--variant")) {
      c.variant = *va;
    } else if (auto k = value("--chunk")) {
      c.chunk = std::max<std::size_t>(1, std::stoul(*k));
    } else {
      std::fprintf(stderr, "unknown argument: %s\n", a.c_str());
      usage(argv[0], 2);
    }
  }
  return c;
}

// ---------------------------------------------------------------------------
// Environment: temp directories, an io_context thread, events

class temp_dir {
 public:
  temp_dir(const std::string& base, const std::string& tag, bool keep) : keep_(keep) {
    std::string tmpl = base + "/evstore-bench-" + tag + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed under " + base);
    path_ = tmpl;
  }
  ~temp_dir() {
    if (keep_) {
      std::fprintf(stderr, "  kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool keep_;
};

// One io_context run by one thread: the application's event loop. Appends are
// issued from it, completions run on it (the store's strand lives on it).
class loop {
 public:
  loop() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~loop() {
    guard_.reset();
    thread_.join();
  }
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;
  asio::io_context& io() { return io_; }
  store::executor_type executor() { return io_.get_executor(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

inline store open_store(loop& l, const std::string& dir, bool durable = false,
                        std::size_t max_open_files = 512) {
  evstore::store_options o;
  o.directory = dir;
  o.fsync_on_flush = durable;
  o.max_open_files = max_open_files;
  auto s = store::open(l.executor(), o);
  if (!s) throw std::runtime_error("open " + dir + ": " + s.error().message());
  return std::move(*s);
}

// A store with any options on the loop; throws if it does not open.
inline store open_store_with(loop& l, const evstore::store_options& o) {
  auto s = store::open(l.executor(), o);
  if (!s) throw std::runtime_error("open " + o.directory + ": " + s.error().message());
  return std::move(*s);
}

inline void close_store(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&done](boost::system::error_code ec) { done.set_value(ec); });
  if (auto ec = f.get()) throw std::runtime_error("close: " + ec.message());
}

inline const std::string event_type = "OrderPlaced";

// A JSON object of exactly 120 bytes, different for every i.
inline std::string payload(std::size_t i) {
  char buf[160];
  const int n = std::snprintf(buf, sizeof buf,
                              R"({"orderId":"ord-%08zu","customer":"cust-%05zu","sku":"SKU-%06zu","qty":%zu,)"
                              R"("price":%zu.%02zu,"currency":"EUR","pad":")",
                              i, i % 100000, (i * 7919) % 1000000, i % 9 + 1, i % 500 + 1, i % 100);
  std::string s(buf, static_cast<std::size_t>(n));
  constexpr std::size_t target = 120;
  if (s.size() + 2 < target) s.append(target - s.size() - 2, 'x');
  s += "\"}";
  return s;
}

inline event_data make_event(std::size_t i) { return event_data{event_type, payload(i), {}, std::nullopt}; }

// Bytes a record of this event takes in a partition (payload + framing).
inline std::size_t record_bytes(std::string_view type, std::string_view data, std::string_view metadata) {
  return evstore::detail::format::record_size(type.size(), data.size(), metadata.size());
}

inline std::string stream_name(std::size_t i, std::size_t streams) {
  if (streams == 1) return "orders";
  char buf[32];
  std::snprintf(buf, sizeof buf, "order-%04zu", i % streams);
  return buf;
}

// ---------------------------------------------------------------------------
// Results

struct row {
  std::string scenario;
  std::string variant;
  std::uint64_t events = 0;
  double seconds = 0;
  double events_per_s = 0;
  double mb_per_s = 0;  // 1 MB = 1e6 bytes of records (payload + framing)
  std::string figures;  // extra figures for the table
  std::string target;   // e.g. ">= 1,000,000 ev/s"
  std::optional<bool> pass;
  json::object extra;
};

inline std::vector<row> results;

inline std::string fmt_int(double v) {
  const auto n = static_cast<long long>(v + 0.5);
  // Built digit by digit: GCC 12 warns falsely (-Wrestrict) on string::insert here.
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string s = n < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

inline std::string fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

inline void add(row r) {
  std::fprintf(stderr, "  %s %-44s %12s ev/s %8s MB/s  %s\n", r.scenario.c_str(), r.variant.c_str(),
               fmt_int(r.events_per_s).c_str(), fmt(r.mb_per_s).c_str(), r.figures.c_str());
  results.push_back(std::move(r));
}

struct percentiles {
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, min_us = 0, mean_us = 0;
};

// Of durations in ns; signed for lags, which may be negative (j: a delivery
// before its writer's completion handler ran).
template <class Ns>
inline percentiles compute_percentiles(std::vector<Ns> ns) {
  percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
    return static_cast<double>(ns[std::min(i, ns.size() - 1)]) / 1e3;
  };
  p.p50_us = at(0.50);
  p.p99_us = at(0.99);
  p.p999_us = at(0.999);
  p.max_us = static_cast<double>(ns.back()) / 1e3;
  p.min_us = static_cast<double>(ns.front()) / 1e3;
  double sum = 0;
  for (auto v : ns) sum += static_cast<double>(v);
  p.mean_us = sum / static_cast<double>(ns.size()) / 1e3;
  return p;
}

inline json::object to_json(const percentiles& p) {
  return {{"p50_us", p.p50_us},
          {"p99_us", p.p99_us},
          {"p999_us", p.p999_us},
          {"max_us", p.max_us},
          {"mean_us", p.mean_us}};
}

inline json::object stats_delta(const evstore::store_statistics& a, const evstore::store_statistics& b) {
  return {{"appends", b.appends - a.appends},
          {"events", b.events - a.events},
          {"bytes", b.bytes - a.bytes},
          {"flushes", b.flushes - a.flushes},
          {"fsyncs", b.fsyncs - a.fsyncs},
          {"flush_ms", static_cast<double>(b.flush_nanoseconds - a.flush_nanoseconds) / 1e6}};
}

// ---------------------------------------------------------------------------
// Drivers

// Issues every append from the loop thread, `chunk` appends per turn of the
// io_context (so one turn's appends share one flush), never waiting for a
// completion; the clock stops at the last completion.
struct burst_outcome {
  double seconds = 0;
  std::uint64_t events = 0;
  evstore::store_statistics before, after;
  clock_type::time_point start;  // when the first chunk was posted
};

inline burst_outcome run_burst(loop& l, store& s, std::vector<std::string> streams,
                               std::vector<std::vector<event_data>> appends, std::size_t chunk) {
  struct state {
    store* st;
    asio::io_context* io;
    std::vector<std::string> streams;  // stream of append i: streams[i % streams.size()]
    std::vector<std::vector<event_data>> appends;
    std::size_t chunk;
    std::size_t next = 0;
    std::size_t completed = 0;
    boost::system::error_code error;
    clock_type::time_point end;
    std::promise<void> done;

    void issue() {
      const std::size_t stop = std::min(next + chunk, appends.size());
      for (; next < stop; ++next) {
        st->append(streams[next % streams.size()], std::move(appends[next]), evstore::expect::any,
                   [this](boost::system::error_code ec, evstore::append_result) {
                     if (ec && !error) error = ec;
                     if (++completed == appends.size()) {
                       end = clock_type::now();
                       done.set_value();
                     }
                   });
      }
      if (next < appends.size()) asio::post(*io, [this] { issue(); });
    }
  };
  std::uint64_t events = 0;
  for (const auto& a : appends) events += a.size();
  auto st = std::make_unique<state>();
  st->st = &s;
  st->io = &l.io();
  st->streams = std::move(streams);
  st->appends = std::move(appends);
  st->chunk = chunk;
  auto f = st->done.get_future();
  burst_outcome out;
  out.before = s.statistics();
  const auto t0 = clock_type::now();
  out.start = t0;
  asio::post(l.io(), [p = st.get()] { p->issue(); });
  f.get();
  out.seconds = seconds_since(t0, st->end);
  out.after = s.statistics();
  out.events = events;
  if (st->error) throw std::runtime_error("append failed: " + st->error.message());
  return out;
}

inline std::vector<std::vector<event_data>> single_event_appends(std::size_t n, std::size_t first = 0) {
  std::vector<std::vector<event_data>> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i].push_back(make_event(first + i));
  return out;
}

inline std::vector<std::string> stream_names(std::size_t streams) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < streams; ++i) out.push_back(stream_name(i, streams));
  return out;
}

// `appenders` independent chains on the loop, each doing sequential single
// appends (the next is issued from the previous one's completion), for
// `seconds`. Latency: from the append call to its completion handler.
struct chains_outcome {
  double seconds = 0;
  std::uint64_t events = 0;
  evstore::store_statistics before, at_stop, after;
  percentiles latency;
};

// Appender c's k-th append goes to stream (c + k * appenders) % streams: with
// streams == appenders each appender keeps its own stream, with more streams
// the appenders rotate over them, with 1 they all share it.
inline chains_outcome run_chains(loop& l, store& s, std::size_t appenders, std::size_t streams,
                                 double seconds, std::size_t max_per_chain = SIZE_MAX) {
  struct chain {
    std::size_t index = 0;
    std::size_t count = 0;
    std::vector<std::uint64_t> latency_ns;
  };
  struct state {
    store* st;
    std::vector<std::string> names;
    std::vector<chain> chains;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> completed{0};
    std::size_t active = 0;
    std::size_t max_per_chain = SIZE_MAX;
    boost::system::error_code error;
    std::promise<void> all_done;
    std::promise<void> reached_max;
    std::size_t finished_max = 0;

    void step(chain& c) {
      if (stop.load(std::memory_order_relaxed) || c.count >= max_per_chain) {
        if (c.count >= max_per_chain && ++finished_max == chains.size()) reached_max.set_value();
        if (--active == 0) all_done.set_value();
        return;
      }
      const auto t0 = clock_type::now();
      const std::string& stream = names[(c.index + c.count * chains.size()) % names.size()];
      st->append(stream, make_event(c.count), evstore::expect::any,
                 [this, &c, t0](boost::system::error_code ec, evstore::append_result) {
                   c.latency_ns.push_back(static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count()));
                   if (ec && !error) error = ec;
                   ++c.count;
                   completed.fetch_add(1, std::memory_order_relaxed);
                   step(c);
                 });
    }
  };
  auto st = std::make_unique<state>();
  st->st = &s;
  for (std::size_t i = 0; i < streams; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "account-%04zu", i);
    st->names.push_back(streams == 1 ? std::string("ledger") : std::string(buf));
  }
  st->chains.resize(appenders);
  st->active = appenders;
  st->max_per_chain = max_per_chain;
  for (std::size_t i = 0; i < appenders; ++i) {
    st->chains[i].index = i;
    st->chains[i].latency_ns.reserve(max_per_chain == SIZE_MAX ? 100000 : max_per_chain);
  }
  auto done = st->all_done.get_future();
  auto reached = st->reached_max.get_future();
  chains_outcome out;
  out.before = s.statistics();
  const auto t0 = clock_type::now();
  asio::post(l.io(), [p = st.get()] {
    for (auto& c : p->chains) p->step(c);
  });
  (void)reached.wait_for(std::chrono::duration<double>(seconds));
  st->stop.store(true);
  out.seconds = seconds_since(t0);
  out.events = st->completed.load();
  out.at_stop = s.statistics();
  done.get();
  out.after = s.statistics();
  if (st->error) throw std::runtime_error("append failed: " + st->error.message());
  std::vector<std::uint64_t> all;
  for (auto& c : st->chains) all.insert(all.end(), c.latency_ns.begin(), c.latency_ns.end());
  out.latency = compute_percentiles(std::move(all));
  return out;
}

// ---------------------------------------------------------------------------
// Scenarios

struct context {
  config cfg;
  std::unique_ptr<temp_dir> single_stream_store;  // 200k events in "orders" (a)
  std::unique_ptr<temp_dir> many_streams_store;   // 200k events over 1000 streams (b)
  std::uint64_t single_stream_events = 0;
  std::uint64_t many_streams_events = 0;
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
                                        std::size_t max_open_files, std::size_t first_event = 0) {
  loop l;
  store s = open_store(l, dir, false, max_open_files);
  const auto o = run_burst(l, s, stream_names(1000), single_event_appends(n, first_event), ctx.cfg.chunk);
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

// report.cpp: the Markdown table on stdout and the JSON file.
void write_outputs(const config& cfg);

}  // namespace evstore::bench
