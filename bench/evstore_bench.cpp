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

#include "format.hpp"  // engine/src: record framing size, for MB/s of reads

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
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
  std::string variant;        // (c) only: run the variants whose name contains this

  bool wants(const std::string& name) const { return only.empty() || only.count(name) > 0; }
  // Full count, or a tenth of it with --quick.
  std::size_t n(std::size_t full) const { return quick ? full / 10 : full; }
};

[[noreturn]] void usage(const char* argv0, int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: %s [--quick] [--only=a,b,c,d,e,f,g] [--dir=/tmp] [--json=bench-results.json]\n"
               "          [--seconds=3] [--chunk=1000] [--keep] [--variant=TEXT (c only)]\n"
               "  a  200k single-event appends to one stream, buffered, issued without waiting\n"
               "  b  the same over 1000 streams\n"
               "  c  durable (fsync_on_flush) sequential appenders: 1, 64 streams, 64 on one stream\n"
               "  d  replay of a 200k-event stream: events() and read() pages of 1000\n"
               "  e  $all scan of the store of (b)\n"
               "  f  open+destroy time: 1M-event store vs empty store (median of 10)\n"
               "  g  append latency p50/p99, sequential single appends, buffered and durable\n",
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
        if (item.size() != 1 || item[0] < 'a' || item[0] > 'g') usage(argv[0], 2);
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
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
};

percentiles compute_percentiles(std::vector<std::uint64_t> ns) {
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evstore_bench: %s\n", e.what());
    write_outputs(ctx.cfg);
    return 1;
  }
  write_outputs(ctx.cfg);
  std::fprintf(stderr, "total %.1f s; results in %s\n", seconds_since(t0), ctx.cfg.json_path.c_str());
  return 0;
}
