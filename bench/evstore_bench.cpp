// evstore_bench: throughput, latency and open-time figures of the engine.
//
// A plain program (no benchmark framework) because the figures are custom:
// events/s and MB/s of whole scenarios, group-commit ratios, percentiles and
// open-time medians. Prints a Markdown table to stdout, progress to stderr, and
// writes every figure to a JSON file. See bench/README.md for what each
// scenario measures.
//
//   evstore_bench [--quick] [--only=a,d] [--dir=/tmp] [--json=bench-results.json]
//                 [--seconds=3] [--chunk=1000] [--keep] [--variant=TEXT]
#include <evstore/store.hpp>

#include "format/format.hpp"  // engine/src: record framing size, for MB/s of reads

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

#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef EVSTORE_BENCH_BUILD_TYPE
#define EVSTORE_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using clock_type = std::chrono::steady_clock;
using evstore::event_data;
using evstore::store;

double seconds_since(clock_type::time_point t0, clock_type::time_point t1 = clock_type::now()) {
  return std::chrono::duration<double>(t1 - t0).count();
}

// ---------------------------------------------------------------------------
// Command line

struct config {
  bool quick = false;
  std::set<std::string> only;  // empty: all
  std::string dir = "/tmp";
  std::string json_path = "bench-results.json";
  double seconds = 3.0;       // duration of each durable (c) run
  std::size_t chunk = 1000;   // appends issued per io_context turn in (a)/(b)
  bool keep = false;          // keep the temp directories
  std::string variant;        // (c), (h): run the variants whose name contains this

  bool wants(const std::string& name) const { return only.empty() || only.count(name) > 0; }
  // Full count, or a tenth of it with --quick.
  std::size_t n(std::size_t full) const { return quick ? full / 10 : full; }
};

[[noreturn]] void usage(const char* argv0, int code) {
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

config parse_args(int argc, char** argv) {
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

store open_store(loop& l, const std::string& dir, bool durable = false, std::size_t max_open_files = 512) {
  evstore::store_options o;
  o.directory = dir;
  o.fsync_on_flush = durable;
  o.max_open_files = max_open_files;
  auto s = store::open(l.executor(), o);
  if (!s) throw std::runtime_error("open " + dir + ": " + s.error().message());
  return std::move(*s);
}

void close_store(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&done](boost::system::error_code ec) { done.set_value(ec); });
  if (auto ec = f.get()) throw std::runtime_error("close: " + ec.message());
}

const std::string event_type = "OrderPlaced";

// A JSON object of exactly 120 bytes, different for every i.
std::string payload(std::size_t i) {
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

event_data make_event(std::size_t i) { return event_data{event_type, payload(i), {}, std::nullopt}; }

// Bytes a record of this event takes in a partition (payload + framing).
std::size_t record_bytes(std::string_view type, std::string_view data, std::string_view metadata) {
  return evstore::detail::format::record_size(type.size(), data.size(), metadata.size());
}

std::string stream_name(std::size_t i, std::size_t streams) {
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
  double mb_per_s = 0;          // 1 MB = 1e6 bytes of records (payload + framing)
  std::string figures;          // extra figures for the table
  std::string target;           // e.g. ">= 1,000,000 ev/s"
  std::optional<bool> pass;
  json::object extra;
};

std::vector<row> results;

std::string fmt_int(double v) {
  const auto n = static_cast<long long>(v + 0.5);
  std::string s = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return n < 0 ? "-" + s : s;
}

std::string fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void add(row r) {
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
percentiles compute_percentiles(std::vector<Ns> ns) {
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

json::object to_json(const percentiles& p) {
  return {{"p50_us", p.p50_us}, {"p99_us", p.p99_us}, {"p999_us", p.p999_us}, {"max_us", p.max_us},
          {"mean_us", p.mean_us}};
}

json::object stats_delta(const evstore::store_statistics& a, const evstore::store_statistics& b) {
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

burst_outcome run_burst(loop& l, store& s, std::vector<std::string> streams, std::vector<std::vector<event_data>> appends,
                        std::size_t chunk) {
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

std::vector<std::vector<event_data>> single_event_appends(std::size_t n, std::size_t first = 0) {
  std::vector<std::vector<event_data>> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i].push_back(make_event(first + i));
  return out;
}

std::vector<std::string> stream_names(std::size_t streams) {
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
chains_outcome run_chains(loop& l, store& s, std::size_t appenders, std::size_t streams, double seconds,
                          std::size_t max_per_chain = SIZE_MAX) {
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
  std::unique_ptr<temp_dir> single_stream_store;   // 200k events in "orders" (a)
  std::unique_ptr<temp_dir> many_streams_store;    // 200k events over 1000 streams (b)
  std::uint64_t single_stream_events = 0;
  std::uint64_t many_streams_events = 0;
};

row burst_row(const std::string& scenario, const std::string& variant, const burst_outcome& o, std::size_t appends) {
  row r;
  r.scenario = scenario;
  r.variant = variant;
  r.events = o.events;
  r.seconds = o.seconds;
  r.events_per_s = static_cast<double>(o.events) / o.seconds;
  r.mb_per_s = static_cast<double>(o.after.bytes - o.before.bytes) / o.seconds / 1e6;
  const double flushes = static_cast<double>(o.after.flushes - o.before.flushes);
  r.figures = fmt_int(flushes) + " flushes, " + fmt(static_cast<double>(appends) / std::max(1.0, flushes), 0) +
              " appends/flush";
  r.extra["appends"] = appends;
  r.extra["stats"] = stats_delta(o.before, o.after);
  return r;
}

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

void build_single_stream_store(context& ctx) {
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

burst_outcome many_streams_burst(context& ctx, const std::string& dir, std::size_t n, std::size_t max_open_files,
                                 std::size_t first_event = 0) {
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
    r.figures += ", flushing " + fmt(static_cast<double>(o.after.flush_nanoseconds - o.before.flush_nanoseconds) /
                                         1e9 / o.seconds * 100, 0) + "% of the time";
    r.extra["max_open_files"] = v.max_open_files;
    add(std::move(r));
  }
}

void build_many_streams_store(context& ctx) {
  if (ctx.many_streams_store) return;
  const std::size_t n = ctx.cfg.n(200000);
  std::fprintf(stderr, "   (building %zu events over 1000 streams)\n", n);
  ctx.many_streams_store = std::make_unique<temp_dir>(ctx.cfg.dir, "b", ctx.cfg.keep);
  ctx.many_streams_events = many_streams_burst(ctx, ctx.many_streams_store->path(), n, 4096).events;
}

row chains_row(const std::string& scenario, const std::string& variant, const chains_outcome& o) {
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
  r.figures = fmt_int(flushes) + " flushes, " + fmt(flushes > 0 ? fsyncs / flushes : 0, 1) + " fsyncs/flush, " +
              fmt(flushes > 0 ? static_cast<double>(o.events) / flushes : 0, 1) + " ev/flush, " +
              fmt(flushes > 0 ? flush_ms / flushes : 0, 2) + " ms/flush; p50 " + fmt(o.latency.p50_us, 0) +
              " us, p99 " + fmt(o.latency.p99_us, 0) + " us";
  return r;
}

void scenario_c(context& ctx) {
  const double secs = ctx.cfg.quick ? std::min(ctx.cfg.seconds, 0.5) : ctx.cfg.seconds;
  std::fprintf(stderr, "c) durable (fsync_on_flush) sequential appenders, %.1f s each\n", secs);
  double one = 0;
  struct variant {
    std::size_t appenders;
    std::size_t streams;
    std::size_t max_open_files;
    std::string name;
  };
  const variant variants[] = {
      {1, 1, 512, "durable, 1 appender"},
      {64, 64, 512, "durable, 64 appenders, 64 streams"},
      {64, 1, 512, "durable, 64 appenders, 1 stream (expect::any)"},
      {64, 1000, 512, "durable, 64 appenders rotating over 1000 streams"},
      {64, 1000, 4096, "durable, 64 appenders rotating over 1000 streams (max_open_files=4096)"}};
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
    } else if (one > 0) {
      const double ratio = r.events_per_s / one;
      r.extra["ratio_to_1_appender"] = ratio;
      r.figures = "**" + fmt(ratio, 1) + "x of 1 appender**; " + r.figures;
      r.target = ">= 20x of 1 appender";
      r.pass = ratio >= 20;
    }
    add(std::move(r));
  }
}

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
std::pair<double, json::array> median_open_ms(loop& l, const std::string& dir, std::uint64_t expect, int reps) {
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
    r.variant = "open+destroy, " + fmt_int(static_cast<double>(n)) + " events in " + v.name + " vs " +
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

void scenario_g(context& ctx) {
  std::fprintf(stderr, "g) append latency, sequential single appends\n");
  for (bool durable : {false, true}) {
    temp_dir dir(ctx.cfg.dir, "g", ctx.cfg.keep);
    loop l;
    store s = open_store(l, dir.path(), durable);
    const std::size_t count = durable ? ctx.cfg.n(5000) : ctx.cfg.n(50000);
    const auto o = run_chains(l, s, 1, 1, durable ? (ctx.cfg.quick ? 1.0 : 5.0) : 30.0, count);
    close_store(s);
    row r = chains_row("g", durable ? "latency, durable, sequential" : "latency, buffered, sequential", o);
    r.figures = "p50 " + fmt(o.latency.p50_us, 1) + " us, p99 " + fmt(o.latency.p99_us, 1) + " us, p99.9 " +
                fmt(o.latency.p999_us, 1) + " us, max " + fmt(o.latency.max_us, 0) + " us";
    add(std::move(r));
  }
}

// (h) Live-subscription fan-out: `subscribers` subscriptions to one stream, all
// from_end (so they start parked, caught up on the empty stream), then n events
// appended in appends of 10, `appends_per_turn` appends issued per turn of the
// writer's io_context without waiting (run_burst). The clock runs from the first
// append until every subscriber has received every event.
//
// Where the subscribers run: the callback form of store::subscribe() has no
// executor parameter, so its subscriptions always run on the store's executor,
// i.e. the writer's loop (one io_context, one thread: appends, buffered flushes,
// subscription reads and callbacks all share it). That is what an application
// using the callback form gets, and is the "store's loop" variant. The "own
// loop" variant gives the subscribers a second io_context run by one thread
// (subscribe(stream, options, executor), pumping next() the way the callback
// form does internally), so the writer's thread only flushes and posts wake-ups;
// on this 2-core machine that is one core each.
constexpr std::size_t fanout_per_append = 10;
constexpr std::size_t fanout_appends_per_turn = 4;

// VmRSS/VmHWM of this process in MB (10^6 bytes), from /proc/self/status; -1 if unknown.
double proc_status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) * 1024 / 1e6;  // kB
  }
  return -1;
}

// Resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0), so that it measures
// one run instead of the whole process; false if the kernel refuses.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

struct fanout_state {
  struct subscriber {
    std::uint64_t received = 0;
    std::uint64_t batches = 0;  // non-empty batches
    bool caught_up = false;
    bool finished = false;
    bool out_of_order = false;  // a gap or a duplicate
    boost::system::error_code error;  // other than operation_aborted
  };

  fanout_state(std::size_t subscribers, std::uint64_t events)
      : total(events), subs(subscribers), to_catch_up(subscribers), to_finish(subscribers), to_end(subscribers) {
    handles.reserve(subscribers);
    if (subscribers == 0) {
      all_caught_up.set_value();
      all_received.set_value();
      all_ended.set_value();
    }
  }

  // Runs on the subscribers' thread; subscriber i's state is only touched by its own callbacks.
  void on_batch(std::size_t i, boost::system::error_code ec, const evstore::subscription_batch& b) {
    subscriber& s = subs[i];
    if (ec) {
      if (ec != asio::error::operation_aborted && !s.error) s.error = ec;
      // An early error must not leave the driver waiting: count it as caught up and finished.
      mark_caught_up(s);
      mark_finished(s);
      if (to_end.fetch_sub(1) == 1) all_ended.set_value();
      return;
    }
    if (!b.events.empty()) {
      ++s.batches;
      if (b.events.front().version != s.received || b.events.back().version != s.received + b.events.size() - 1) {
        s.out_of_order = true;
      }
      s.received += b.events.size();
    }
    if (b.caught_up) mark_caught_up(s);
    if (s.received >= total) mark_finished(s);
  }

  void mark_caught_up(subscriber& s) {
    if (s.caught_up) return;
    s.caught_up = true;
    if (to_catch_up.fetch_sub(1) == 1) all_caught_up.set_value();
  }
  void mark_finished(subscriber& s) {
    if (s.finished) return;
    s.finished = true;
    if (to_finish.fetch_sub(1) == 1) {
      received_at = clock_type::now();
      all_received.set_value();
    }
  }

  const std::uint64_t total;  // events each subscriber must receive
  std::vector<subscriber> subs;
  std::vector<evstore::subscription> handles;
  std::atomic<std::size_t> to_catch_up, to_finish, to_end;
  std::promise<void> all_caught_up, all_received, all_ended;
  clock_type::time_point received_at;  // written before all_received is set
};

// The callback form's loop, for a subscription on another executor.
void pump(std::shared_ptr<fanout_state> st, std::size_t i) {
  st->handles[i].next([st, i](boost::system::error_code ec, evstore::subscription_batch b) mutable {
    st->on_batch(i, ec, b);
    if (!ec) pump(std::move(st), i);
  });
}

struct fanout_outcome {
  std::size_t subscribers = 0;
  std::uint64_t events = 0;  // appended
  double append_seconds = 0;   // first append to the last acknowledgement
  double deliver_seconds = 0;  // first append until every subscriber has every event
  std::uint64_t batches = 0;   // non-empty batches delivered, all subscribers
  evstore::store_statistics before, after;
  double rss_before_mb = 0, peak_rss_mb = 0;
  bool peak_reset = false;  // false: peak_rss_mb is the peak since the process started
};

fanout_outcome run_fanout(const config& cfg, std::size_t subscribers, bool own_loop, std::size_t n) {
  temp_dir dir(cfg.dir, "h", cfg.keep);
  std::vector<std::vector<event_data>> appends((n + fanout_per_append - 1) / fanout_per_append);
  for (std::size_t k = 0; k < n; ++k) appends[k / fanout_per_append].push_back(make_event(k));
  loop writer;
  std::optional<loop> readers;  // own_loop: the subscribers' io_context and thread
  if (own_loop) readers.emplace();
  store s = open_store(writer, dir.path());
  auto st = std::make_shared<fanout_state>(subscribers, n);
  auto wait = [](std::future<void>& f, double secs) {
    return f.wait_for(std::chrono::duration<double>(secs)) == std::future_status::ready;
  };
  auto received = st->all_received.get_future();
  auto ended = st->all_ended.get_future();
  // Cancels every subscription and waits for each one's operation_aborted, on
  // every way out: the callbacks hold `st`, which holds the subscriptions.
  struct stopper {
    fanout_state& st;
    std::future<void>& ended;
    std::function<bool(std::future<void>&, double)> wait;
    bool stopped = false;
    bool stop() {
      if (stopped) return true;
      stopped = true;
      for (auto& h : st.handles) h.cancel();
      // Only a complete set of subscriptions can all end.
      const bool ok = st.handles.size() == st.subs.size() && wait(ended, 30);
      st.handles.clear();
      return ok;
    }
    ~stopper() { stop(); }
  } stop{*st, ended, wait};

  const evstore::subscription_options options{.from = evstore::from_end, .max_batch = 512};
  for (std::size_t i = 0; i < subscribers; ++i) {
    auto sub = own_loop ? s.subscribe("orders", options, readers->executor())
                        : s.subscribe("orders", options,
                                      [st, i](boost::system::error_code ec, const evstore::subscription_batch& b) {
                                        st->on_batch(i, ec, b);
                                      });
    if (!sub) throw std::runtime_error("subscribe: " + sub.error().message());
    st->handles.push_back(std::move(*sub));
  }
  if (own_loop) {
    for (std::size_t i = 0; i < subscribers; ++i) pump(st, i);
  }
  auto caught_up = st->all_caught_up.get_future();
  if (!wait(caught_up, 60)) throw std::runtime_error("subscribers did not report caught-up within 60 s");

  fanout_outcome out;
  out.subscribers = subscribers;
  out.rss_before_mb = proc_status_mb("VmRSS");
  out.peak_reset = reset_peak_rss();
  const auto o = run_burst(writer, s, stream_names(1), std::move(appends), fanout_appends_per_turn);
  if (!wait(received, 600)) throw std::runtime_error("subscribers did not receive every event within 600 s");
  out.peak_rss_mb = proc_status_mb("VmHWM");
  out.events = o.events;
  out.append_seconds = o.seconds;
  out.deliver_seconds = subscribers > 0 ? seconds_since(o.start, st->received_at) : o.seconds;
  out.before = o.before;
  out.after = s.statistics();
  if (!stop.stop()) throw std::runtime_error("cancelled subscriptions did not complete within 30 s");
  close_store(s);
  for (const auto& sub : st->subs) {
    if (sub.error) throw std::runtime_error("subscription failed: " + sub.error.message());
    if (sub.out_of_order) throw std::runtime_error("a subscriber saw a gap or a duplicate");
    if (sub.received != n) throw std::runtime_error("a subscriber received " + std::to_string(sub.received) + " events");
    out.batches += sub.batches;
  }
  return out;
}

void scenario_h(context& ctx) {
  const std::size_t n = ctx.cfg.n(50000);
  std::fprintf(stderr, "h) subscription fan-out: %zu events in appends of %zu to one stream, buffered\n", n,
               fanout_per_append);
  // Reference: the same appends with nobody subscribed, median of 3 (one run is ~40 ms).
  std::vector<double> alone_runs;
  for (int rep = 0; rep < 3; ++rep) {
    const fanout_outcome alone = run_fanout(ctx.cfg, 0, false, n);
    alone_runs.push_back(static_cast<double>(alone.events) / alone.append_seconds);
  }
  std::sort(alone_runs.begin(), alone_runs.end());
  const double alone_eps = alone_runs[1];
  std::fprintf(stderr, "  h appends alone (no subscribers), median of 3     %12s ev/s\n", fmt_int(alone_eps).c_str());
  for (std::size_t subscribers : {std::size_t{100}, std::size_t{1000}}) {
    for (bool own_loop : {false, true}) {
      const std::string variant = fmt_int(static_cast<double>(subscribers)) + " subscribers, " +
                                  (own_loop ? "next() on their own loop" : "callback form on the store's loop");
      if (variant.find(ctx.cfg.variant) == std::string::npos) continue;
      const fanout_outcome o = run_fanout(ctx.cfg, subscribers, own_loop, n);
      const double delivered = static_cast<double>(subscribers) * static_cast<double>(o.events);
      const double appended_eps = static_cast<double>(o.events) / o.append_seconds;
      const auto flushes = static_cast<double>(o.after.flushes - o.before.flushes);
      row r;
      r.scenario = "h";
      r.variant = variant;
      r.events = static_cast<std::uint64_t>(delivered);
      r.seconds = o.deliver_seconds;
      r.events_per_s = delivered / o.deliver_seconds;
      r.mb_per_s = static_cast<double>(subscribers) * static_cast<double>(o.after.bytes - o.before.bytes) /
                   o.deliver_seconds / 1e6;
      const double share = appended_eps / alone_eps * 100;
      r.figures = "events/s = deliveries; **appended " + fmt_int(appended_eps) + " ev/s** (" +
                  fmt(share, share < 10 ? 1 : 0) + "% of appends alone), " +
                  fmt(static_cast<double>(subscribers * o.events) / std::max<double>(1, static_cast<double>(o.batches)), 1) +
                  " ev/batch, " + fmt_int(flushes) + " flushes; RSS " + fmt(o.rss_before_mb, 0) + " MB, peak " +
                  fmt(o.peak_rss_mb, 0) + " MB" + (o.peak_reset ? "" : " (since start)");
      r.extra["subscribers"] = subscribers;
      r.extra["subscriber_loop"] = own_loop ? "own" : "store";
      r.extra["api"] = own_loop ? "next" : "callback";
      r.extra["appended_events"] = o.events;
      r.extra["append_seconds"] = o.append_seconds;
      r.extra["appended_events_per_s"] = appended_eps;
      r.extra["appended_events_per_s_without_subscribers"] = alone_eps;
      r.extra["delivered_events"] = r.events;
      r.extra["delivered_events_per_s"] = r.events_per_s;
      r.extra["batches"] = o.batches;
      r.extra["events_per_append"] = fanout_per_append;
      r.extra["appends_per_turn"] = fanout_appends_per_turn;
      r.extra["max_batch"] = 512;
      r.extra["rss_before_mb"] = o.rss_before_mb;
      r.extra["peak_rss_mb"] = o.peak_rss_mb;
      r.extra["peak_rss_reset_before_run"] = o.peak_reset;
      r.extra["stats"] = stats_delta(o.before, o.after);
      add(std::move(r));
    }
  }
}

// ---------------------------------------------------------------------------
// (i) Read streams and system streams

store open_store_with(loop& l, const evstore::store_options& o) {
  auto s = store::open(l.executor(), o);
  if (!s) throw std::runtime_error("open " + o.directory + ": " + s.error().message());
  return std::move(*s);
}

// The events of (i): 4 types in turn; data {"total":N,...} of about 120 bytes
// with N = 500..1499, so that "OrderPaid" with total 1000 is 1 event in 4000.
const std::vector<std::string> rs_types = {"OrderPlaced", "OrderPaid", "OrderShipped", "OrderDelivered"};
const std::string rs_filter_type = "OrderPaid";
constexpr const char* rs_filter_total = "1000";

std::uint64_t rs_total(std::size_t i) { return (i / rs_types.size()) % 1000 + 500; }

bool rs_matches(std::size_t i) { return rs_types[i % rs_types.size()] == rs_filter_type && rs_total(i) == 1000; }

std::string rs_payload(std::size_t i) {
  char buf[160];
  const int n = std::snprintf(buf, sizeof buf,
                              R"({"total":%llu,"orderId":"ord-%08zu","customer":"cust-%05zu","sku":"SKU-%06zu",)"
                              R"("currency":"EUR","pad":")",
                              static_cast<unsigned long long>(rs_total(i)), i, i % 100000, (i * 7919) % 1000000);
  std::string s(buf, static_cast<std::size_t>(n));
  constexpr std::size_t target = 120;
  if (s.size() + 2 < target) s.append(target - s.size() - 2, 'x');
  s += "\"}";
  return s;
}

event_data rs_event(std::size_t i) {
  return event_data{rs_types[i % rs_types.size()], rs_payload(i), {}, std::nullopt};
}

// The last entry of a stream (a link stream here): nullopt while it is empty.
std::optional<evstore::recorded_event> last_event(const store& s, const std::string& stream) {
  auto page = s.read(stream, {.from = evstore::from_end, .max_count = 1, .direction = evstore::direction::backward});
  if (!page) throw std::runtime_error("read " + stream + ": " + page.error().message());
  if (page->events.empty()) return std::nullopt;
  return page->events.front();
}

// Polls (a backward read of 1 event every `poll`) until `stream`'s last entry
// is the event at $all position `position`; returns when that was first seen.
clock_type::time_point wait_for_link(const store& s, const std::string& stream, std::uint64_t position,
                                     double timeout_s, std::chrono::microseconds poll = std::chrono::microseconds(500)) {
  const auto t0 = clock_type::now();
  for (;;) {
    const auto e = last_event(s, stream);
    const auto now = clock_type::now();
    if (e && e->position == position) return now;
    if (e && e->position > position) throw std::runtime_error(stream + " went past position " + std::to_string(position));
    if (seconds_since(t0, now) > timeout_s) {
      throw std::runtime_error(stream + " did not reach position " + std::to_string(position) + " within " +
                               fmt(timeout_s, 0) + " s (its last entry: " +
                               (e ? std::to_string(e->position) : std::string("none")) + ")");
    }
    std::this_thread::sleep_for(poll);
  }
}

// Entries in a link stream (its last entry number + 1).
std::uint64_t link_count(const store& s, const std::string& stream) {
  const auto e = last_event(s, stream);
  return e ? e->sequence + 1 : 0;
}

struct rs_store {
  std::unique_ptr<temp_dir> dir;
  std::uint64_t events = 0;
  std::uint64_t record_bytes = 0;  // sum of the records' sizes
  std::uint64_t matches = 0;       // events the read stream must link
  std::uint64_t of_filter_type = 0;
  double build_seconds = 0;
};

// n single-event appends round-robin over "order-0000".."order-0999", built
// with system streams off: the indexer then starts from position 0 when (i)
// reopens the store with them on, alone on the background thread.
rs_store build_rs_store(const config& cfg, std::size_t n) {
  rs_store out;
  out.dir = std::make_unique<temp_dir>(cfg.dir, "i-src", cfg.keep);
  loop l;
  store s = open_store_with(l, {.directory = out.dir->path(), .system_streams = false, .max_open_files = 4096});
  constexpr std::size_t slice = 100000;
  for (std::size_t first = 0; first < n; first += slice) {
    const std::size_t count = std::min(slice, n - first);
    std::vector<std::vector<event_data>> appends(count);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = first + k;
      appends[k].push_back(rs_event(i));
      const event_data& e = appends[k].back();
      out.record_bytes += record_bytes(e.type, e.data, e.metadata);
      out.matches += rs_matches(i) ? 1 : 0;
      out.of_filter_type += e.type == rs_filter_type ? 1 : 0;
    }
    // Stream of append k of this slice: (first + k) % 1000, as slices are multiples of 1000.
    out.build_seconds += run_burst(l, s, stream_names(1000), std::move(appends), cfg.chunk).seconds;
  }
  out.events = s.event_count();
  if (out.events != n) throw std::runtime_error("build: " + std::to_string(out.events) + " events");
  close_store(s);
  return out;
}

void copy_store(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

void scenario_i_backfill(context& ctx, const rs_store& src, std::size_t max_open_files) {
  const std::uint64_t n = src.events;
  const std::string suffix = " (max_open_files=" + std::to_string(max_open_files) + ")";
  temp_dir dir(ctx.cfg.dir, "i", ctx.cfg.keep);
  copy_store(src.dir->path(), dir.path());
  loop l;
  // 1. System-stream indexing: the store has never been indexed (progress 0);
  //    opening it starts the indexer, which links every event into $ce-order
  //    and $et-<type>. Caught up once $et-<type of the last event> holds the
  //    last event (the indexer publishes a whole step's links together).
  const std::string last_type_stream = "$et-" + rs_types[(n - 1) % rs_types.size()];
  const auto t0 = clock_type::now();
  store s = open_store_with(l, {.directory = dir.path(), .max_open_files = max_open_files});
  const double open_ms = seconds_since(t0) * 1e3;
  const auto indexed_at = wait_for_link(s, last_type_stream, n - 1, 600, std::chrono::milliseconds(1));
  const double index_s = seconds_since(t0, indexed_at);
  const std::uint64_t in_ce = link_count(s, "$ce-order");
  const std::uint64_t in_et = link_count(s, "$et-" + rs_filter_type);
  if (in_ce != n) throw std::runtime_error("$ce-order holds " + std::to_string(in_ce) + " of " + std::to_string(n));
  if (in_et != src.of_filter_type) {
    throw std::runtime_error("$et-" + rs_filter_type + " holds " + std::to_string(in_et) + " of " +
                             std::to_string(src.of_filter_type));
  }
  {
    row r;
    r.scenario = "i";
    r.variant = "system-stream indexing of " + fmt_int(static_cast<double>(n)) + " events from 0" + suffix;
    r.events = n;
    r.seconds = index_s;
    r.events_per_s = static_cast<double>(n) / index_s;
    r.mb_per_s = static_cast<double>(src.record_bytes) / index_s / 1e6;
    r.figures = "open to $ce-order + 4 $et- streams complete (1 ms polls); open " + fmt(open_ms, 2) + " ms";
    r.extra["max_open_files"] = max_open_files;
    r.extra["open_ms"] = open_ms;
    r.extra["ce_entries"] = in_ce;
    r.extra["et_entries_" + rs_filter_type] = in_et;
    add(std::move(r));
  }

  // 2. The read stream's back-fill, the indexer idle.
  struct backfill {
    std::mutex m;
    std::uint64_t calls = 0, done = 0, total = 0;
    std::optional<clock_type::time_point> first_call;
    std::promise<boost::system::error_code> completed;
    clock_type::time_point completed_at;
  };
  auto bf = std::make_shared<backfill>();
  auto completed = bf->completed.get_future();
  const auto b0 = clock_type::now();
  s.create_read_stream(
      "big", evstore::filter::event_types({rs_filter_type}).where("/total", rs_filter_total),
      [bf](boost::system::error_code ec) {
        bf->completed_at = clock_type::now();
        bf->completed.set_value(ec);
      },
      [bf](std::uint64_t done, std::uint64_t total) {
        std::lock_guard lock(bf->m);
        if (!bf->first_call) bf->first_call = clock_type::now();
        ++bf->calls;
        bf->done = done;
        bf->total = total;
      });
  if (completed.wait_for(std::chrono::seconds(600)) != std::future_status::ready) {
    std::lock_guard lock(bf->m);
    throw std::runtime_error("create_read_stream did not complete within 600 s; progress " + std::to_string(bf->done) +
                             " of " + std::to_string(bf->total) + " after " + std::to_string(bf->calls) + " calls");
  }
  if (auto ec = completed.get()) throw std::runtime_error("create_read_stream: " + ec.message());
  const double backfill_s = seconds_since(b0, bf->completed_at);
  const std::uint64_t matched = link_count(s, "big");
  std::uint64_t listed = 0;
  bool building = true;
  for (const auto& info : s.list_read_streams()) {
    if (info.name == "big") {
      listed = info.event_count;
      building = info.building;
    }
  }
  // Every linked event matches the filter, in $all order.
  std::uint64_t checked = 0, last_position = 0;
  auto range = s.events("big");
  for (const evstore::recorded_event& e : range) {
    if (e.type != rs_filter_type || !rs_matches(e.position) || (checked > 0 && e.position <= last_position)) {
      throw std::runtime_error("read stream holds position " + std::to_string(e.position) + " which does not match");
    }
    last_position = e.position;
    ++checked;
  }
  if (range.error()) throw std::runtime_error("read big: " + range.error()->message());
  if (matched != src.matches || checked != src.matches || listed != src.matches || building) {
    throw std::runtime_error("read stream: " + std::to_string(matched) + " entries (" + std::to_string(checked) +
                             " read, " + std::to_string(listed) + " listed" + (building ? ", still building" : "") +
                             "), expected " + std::to_string(src.matches));
  }
  close_store(s);
  row r;
  r.scenario = "i";
  r.variant = "read-stream back-fill, event_types(" + rs_filter_type + ").where(/total, " + rs_filter_total + ")" + suffix;
  r.events = n;
  r.seconds = backfill_s;
  r.events_per_s = static_cast<double>(n) / backfill_s;
  r.mb_per_s = static_cast<double>(src.record_bytes) / backfill_s / 1e6;
  std::uint64_t calls = 0;
  double first_call_ms = -1;
  {
    std::lock_guard lock(bf->m);
    calls = bf->calls;
    if (bf->first_call) first_call_ms = seconds_since(b0, *bf->first_call) * 1e3;
  }
  r.figures = "events/s = $all events scanned; **matched " + fmt_int(static_cast<double>(matched)) + "** (" +
              fmt_int(static_cast<double>(src.of_filter_type)) + " of the type parsed); " + fmt_int(static_cast<double>(calls)) +
              " progress calls, first after " + fmt(first_call_ms, 2) + " ms";
  r.extra["max_open_files"] = max_open_files;
  r.extra["matched"] = matched;
  r.extra["events_of_filter_type"] = src.of_filter_type;
  r.extra["progress_calls"] = calls;
  r.extra["first_progress_ms"] = first_call_ms;
  add(std::move(r));
}

// Appends of (a) with system streams on and off: median of 5 each,
// alternating (one run is ~0.15 s; runs vary by 10-20 % on this machine). With them on, also how long after the last acknowledgement the
// indexer had linked the last event.
void scenario_i_appends(context& ctx) {
  const std::size_t n = ctx.cfg.n(200000);
  std::vector<double> on_runs, off_runs, lag_ms;
  constexpr int reps = 5;
  for (int rep = 0; rep < reps; ++rep) {
    for (bool system_streams : {true, false}) {
      temp_dir dir(ctx.cfg.dir, "i-a", ctx.cfg.keep);
      loop l;
      store s = open_store_with(l, {.directory = dir.path(), .system_streams = system_streams});
      const auto o = run_burst(l, s, stream_names(1), single_event_appends(n), ctx.cfg.chunk);
      const auto acked_at = o.start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.seconds));
      if (system_streams) {
        const auto linked_at = wait_for_link(s, "$et-" + event_type, o.events - 1, 60, std::chrono::microseconds(200));
        lag_ms.push_back(std::max(0.0, seconds_since(acked_at, linked_at) * 1e3));
      }
      close_store(s);
      (system_streams ? on_runs : off_runs).push_back(static_cast<double>(o.events) / o.seconds);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double on = median(on_runs), off = median(off_runs), lag = median(lag_ms);
  row r;
  r.scenario = "i";
  r.variant = "appends of (a), system streams on vs off";
  r.events = n;
  r.seconds = static_cast<double>(n) / on;
  r.events_per_s = on;
  r.mb_per_s = static_cast<double>(n * record_bytes(event_type, payload(0), {})) / r.seconds / 1e6;
  r.figures = "events/s = on; off " + fmt_int(off) + " ev/s, **on/off " + fmt(on / off, 2) +
              "**; $et-" + event_type + " complete " + fmt(lag, 1) + " ms after the last ack (medians of " + std::to_string(reps) + ")";
  json::array on_all, off_all, lag_all;
  for (double v : on_runs) on_all.push_back(v);
  for (double v : off_runs) off_all.push_back(v);
  for (double v : lag_ms) lag_all.push_back(v);
  r.extra["events_per_s_on"] = on;
  r.extra["events_per_s_off"] = off;
  r.extra["ratio_on_off"] = on / off;
  r.extra["runs_on"] = std::move(on_all);
  r.extra["runs_off"] = std::move(off_all);
  r.extra["indexer_lag_after_last_ack_ms"] = std::move(lag_all);
  add(std::move(r));
}

void scenario_i(context& ctx) {
  const std::size_t n = ctx.cfg.n(1000000);
  std::fprintf(stderr, "i) system streams and a read stream over %zu events in 1000 streams\n", n);
  std::fprintf(stderr, "   (building the store, system streams off)\n");
  const rs_store src = build_rs_store(ctx.cfg, n);
  std::fprintf(stderr, "   (built in %.1f s: %s ev/s)\n", src.build_seconds,
               fmt_int(static_cast<double>(n) / src.build_seconds).c_str());
  for (std::size_t max_open : {std::size_t{512}, std::size_t{4096}}) scenario_i_backfill(ctx, src, max_open);
  scenario_i_appends(ctx);
}

// ---------------------------------------------------------------------------
// (j) Follower lag
//
// A writer store and a read-only follower store opened on the same directory.
// Here both are in this one process (each with its own io_context and thread;
// the follower follows by itself: inotify on index/ and links/, polling every
// follow_poll_interval = 100 ms as a fallback). The follower only sees the
// writer's files, never its memory, so the path is the same as across
// processes; tests/follower_test.cpp follows a writer in another process.
//
// The follower subscribes to "$all" from_end (callback form, on the follower's
// executor). The writer appends one event at a time, each once the previous
// one was both acknowledged and delivered, then 1 ms later: no two events
// share a flush or a delivery. Lag of an event: from its append's completion
// handler in the writer to the follower's handler seeing it (matched by $all
// position).

struct lag_state {
  explicit lag_state(std::size_t n) : acked_at(n), delivered_at(n) {}

  // Follower's thread.
  void on_batch(boost::system::error_code ec, const evstore::subscription_batch& b) {
    const auto now = clock_type::now();
    std::lock_guard lock(m);
    if (ec) {
      if (ec != asio::error::operation_aborted && !error) error = ec;
      ended = true;
    } else {
      if (!b.events.empty()) ++batches;
      for (const auto& e : b.events) {
        if (e.position != base + delivered || delivered >= delivered_at.size()) {
          out_of_order = true;
          continue;
        }
        delivered_at[delivered++] = now;
      }
      if (b.caught_up) caught_up = true;
    }
    cv.notify_all();
  }

  // Writer's thread.
  void on_ack(std::size_t i, boost::system::error_code ec, const evstore::append_result& r) {
    const auto now = clock_type::now();
    std::lock_guard lock(m);
    if (ec && !error) error = ec;
    if (!ec && r.position != base + i) out_of_order = true;
    acked_at[i] = now;
    ++acked;
    cv.notify_all();
  }

  std::mutex m;
  std::condition_variable cv;
  std::uint64_t base = 0;  // $all position of the first append
  std::vector<clock_type::time_point> acked_at, delivered_at;
  std::size_t acked = 0, delivered = 0;
  std::uint64_t batches = 0;  // non-empty
  bool caught_up = false, ended = false, out_of_order = false;
  boost::system::error_code error;
};

struct lag_outcome {
  std::size_t events = 0;
  double seconds = 0;
  std::uint64_t batches = 0;
  percentiles lag;
  std::size_t over_5ms = 0, before_ack = 0;
  percentiles from_call;  // from the append() call to the delivery
};

lag_outcome run_follower_lag(const config& cfg, bool durable, std::size_t n, std::chrono::microseconds gap) {
  temp_dir dir(cfg.dir, "j", cfg.keep);
  auto st = std::make_shared<lag_state>(n);
  std::vector<clock_type::time_point> issued_at(n);  // this thread only
  loop writer_loop;
  store writer = open_store(writer_loop, dir.path(), durable);
  st->base = writer.event_count();
  lag_outcome out;
  {
    loop follower_loop;
    // Declared after its loop, so destroyed before it.
    store follower = open_store_with(follower_loop, {.directory = dir.path(), .read_only = true});
    auto sub = follower.subscribe("$all", {.from = evstore::from_end},
                                  [st](boost::system::error_code ec, const evstore::subscription_batch& b) {
                                    st->on_batch(ec, b);
                                  });
    if (!sub) throw std::runtime_error("follower subscribe: " + sub.error().message());
    // Cancels the subscription and waits for its end on every way out.
    struct stopper {
      lag_state& st;
      evstore::subscription& sub;
      ~stopper() {
        sub.cancel();
        std::unique_lock lock(st.m);
        if (!st.cv.wait_for(lock, std::chrono::seconds(30), [&] { return st.ended; })) {
          std::fprintf(stderr, "  j: the cancelled subscription did not end within 30 s\n");
        }
      }
    } stop{*st, *sub};
    {
      std::unique_lock lock(st->m);
      if (!st->cv.wait_for(lock, std::chrono::seconds(30), [&] { return st->caught_up || st->ended; })) {
        throw std::runtime_error("the follower's subscription did not report caught-up within 30 s");
      }
    }
    const auto t0 = clock_type::now();
    for (std::size_t i = 0; i < n; ++i) {
      issued_at[i] = clock_type::now();
      writer.append("orders", make_event(i), evstore::expect::any,
                    [st, i](boost::system::error_code ec, evstore::append_result r) { st->on_ack(i, ec, r); });
      std::unique_lock lock(st->m);
      if (!st->cv.wait_for(lock, std::chrono::seconds(10),
                           [&] { return st->error || st->out_of_order || st->ended || (st->acked > i && st->delivered > i); })) {
        throw std::runtime_error("event " + std::to_string(i) + " (position " + std::to_string(st->base + i) + "): " +
                                 (st->acked > i ? "acknowledged but not delivered to the follower" : "not acknowledged") +
                                 " within 10 s");
      }
      if (st->error) throw std::runtime_error("follower lag: " + st->error.message());
      if (st->out_of_order) throw std::runtime_error("the follower saw a gap, a duplicate or a wrong position");
      if (st->ended) throw std::runtime_error("the follower's subscription ended");
      lock.unlock();
      std::this_thread::sleep_for(gap);
    }
    out.seconds = seconds_since(t0);
  }
  close_store(writer);
  std::vector<std::int64_t> lag_ns, call_ns;
  lag_ns.reserve(n);
  call_ns.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(st->delivered_at[i] - st->acked_at[i]).count();
    lag_ns.push_back(static_cast<std::int64_t>(d));
    call_ns.push_back(static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(st->delivered_at[i] - issued_at[i]).count()));
    out.over_5ms += d > 5'000'000 ? 1 : 0;
    out.before_ack += d < 0 ? 1 : 0;
  }
  out.events = n;
  out.batches = st->batches;
  out.lag = compute_percentiles(std::move(lag_ns));
  out.from_call = compute_percentiles(std::move(call_ns));
  return out;
}

void scenario_j(context& ctx) {
  const std::size_t n = ctx.cfg.quick ? 300 : 2000;
  const auto gap = std::chrono::milliseconds(1);
  std::fprintf(stderr, "j) follower lag: %zu single appends, each after the previous was delivered + 1 ms\n", n);
  for (bool durable : {false, true}) {
    const lag_outcome o = run_follower_lag(ctx.cfg, durable, n, gap);
    row r;
    r.scenario = "j";
    r.variant = std::string("follower lag, ") + (durable ? "durable" : "buffered") + " writer, $all subscriber";
    r.events = o.events;
    r.seconds = o.seconds;
    r.events_per_s = static_cast<double>(o.events) / o.seconds;
    r.mb_per_s = static_cast<double>(o.events * record_bytes(event_type, payload(0), {})) / o.seconds / 1e6;
    r.figures = "ack to follower delivery: **p50 " + fmt(o.lag.p50_us, 0) + " us, p99 " + fmt(o.lag.p99_us, 0) +
                " us, max " + fmt(o.lag.max_us, 0) + " us**; append() call to delivery p50 " +
                fmt(o.from_call.p50_us, 0) + " us, p99 " + fmt(o.from_call.p99_us, 0) + " us; " +
                fmt_int(static_cast<double>(o.over_5ms)) +
                " over 5 ms, " + fmt_int(static_cast<double>(o.before_ack)) + " before the ack; " +
                fmt_int(static_cast<double>(o.batches)) + " batches";
    r.extra["durable"] = durable;
    r.extra["gap_ms"] = 1;
    r.extra["follow_poll_interval_ms"] = 100;
    r.extra["lag"] = json::object{{"p50_us", o.lag.p50_us}, {"p99_us", o.lag.p99_us}, {"max_us", o.lag.max_us},
                                  {"min_us", o.lag.min_us}, {"mean_us", o.lag.mean_us}};
    r.extra["append_call_to_delivery"] =
        json::object{{"p50_us", o.from_call.p50_us}, {"p99_us", o.from_call.p99_us}, {"max_us", o.from_call.max_us},
                     {"min_us", o.from_call.min_us}, {"mean_us", o.from_call.mean_us}};
    r.extra["over_5ms"] = o.over_5ms;
    r.extra["delivered_before_ack"] = o.before_ack;
    r.extra["batches"] = o.batches;
    add(std::move(r));
  }
}

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
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
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
    json::object o{{"scenario", r.scenario},   {"variant", r.variant},         {"events", r.events},
                   {"seconds", r.seconds},     {"events_per_s", r.events_per_s}, {"mb_per_s", r.mb_per_s},
                   {"figures", r.figures},     {"target", r.target}};
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
  std::printf("\nEvents: %zu-byte JSON data, type \"%s\"; a record (payload + framing) is %zu bytes. "
              "MB = 10^6 bytes of records. Other processes used %.0f%% of the machine's CPU during the run. %s\n",
              payload(0).size(), event_type.c_str(), record_bytes(event_type, payload(0), {}), other_cpu_percent(),
              cfg.quick ? "**--quick run: counts are 10x smaller.**" : "");
}

}  // namespace

int main(int argc, char** argv) {
  context ctx;
  ctx.cfg = parse_args(argc, argv);
  std::error_code ec;
  std::filesystem::create_directories(ctx.cfg.dir, ec);
  const auto t0 = clock_type::now();
  try {
    if (ctx.cfg.wants("a")) scenario_a(ctx);
    if (ctx.cfg.wants("b")) scenario_b(ctx);
    if (ctx.cfg.wants("c")) scenario_c(ctx);
    if (ctx.cfg.wants("d")) scenario_d(ctx);
    if (ctx.cfg.wants("e")) scenario_e(ctx);
    if (ctx.cfg.wants("f")) scenario_f(ctx);
    if (ctx.cfg.wants("g")) scenario_g(ctx);
    if (ctx.cfg.wants("h")) scenario_h(ctx);
    if (ctx.cfg.wants("i")) scenario_i(ctx);
    if (ctx.cfg.wants("j")) scenario_j(ctx);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evstore_bench: %s\n", e.what());
    write_outputs(ctx.cfg);
    return 1;
  }
  write_outputs(ctx.cfg);
  std::fprintf(stderr, "total %.1f s; results in %s\n", seconds_since(t0), ctx.cfg.json_path.c_str());
  return 0;
}
