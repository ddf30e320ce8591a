// evstore_bench's command line (config, parse_args) and the names every part of the
// harness shares (asio, json, clock_type). Part of harness.hpp.
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
  double seconds = 3.0;       // duration of each durable (c) run
  std::size_t chunk = 1000;   // appends issued per io_context turn in (a)/(b)
  bool keep = false;          // keep the temp directories
  std::string variant;        // (c), (h): run the variants whose name contains this
  std::size_t k_streams = 0;  // (k): streams of 3 events; 0 = 1,000,000 (100,000 with --quick)

  bool wants(const std::string& name) const { return only.empty() || only.count(name) > 0; }
  // Full count, or a tenth of it with --quick.
  std::size_t n(std::size_t full) const { return quick ? full / 10 : full; }
};

[[noreturn]] inline void usage(const char* argv0, int code) {
  std::fprintf(
      code == 0 ? stdout : stderr,
      "usage: %s [--quick] [--only=a,b,c,d,e,f,g,h,i,j,k,l] [--dir=/tmp] [--json=bench-results.json]\n"
      "          [--seconds=3] [--chunk=1000] [--keep] [--variant=TEXT (c, h)]\n"
      "          [--k-streams=1000000]\n"
      "  a  200k single-event appends to one stream, buffered, issued without waiting\n"
      "  b  the same over 1000 streams, then over 100,000 streams\n"
      "  c  durable (fsync_on_flush) sequential appenders: 1, 64 streams, 64 on one stream\n"
      "  d  replay of a 200k-event stream: events() and read() pages of 1000\n"
      "  e  $all scan of the store of (b)\n"
      "  f  open+destroy time: 1M-event store vs empty store (median of 10)\n"
      "  g  append latency p50/p99, sequential single appends, buffered and durable\n"
      "  h  subscription fan-out: 50k events to 100 and 1000 live subscribers of one stream\n"
      "  i  system-stream indexing and a read stream's back-fill over 1M events in 1000 streams;\n"
      "     appends of (a) with system streams on vs off\n"
      "  j  follower lag: append to delivery in a read-only follower's $all subscription\n"
      "  k  one stream per aggregate: 1M streams x 3 events (--k-streams): appends, bytes and files\n"
      "     on disk, open time, first read of a cold stream\n"
      "  l  scavenging deleted streams (small and 64 KiB events): erase rate, space given back;\n"
      "     a durable appender's latency alone and beside a scavenge\n"
      "  m  aggregate() of a 1M-event stream: a full fold, and from a snapshot (0 and 1000 events\n"
      "     after it)\n",
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
        if (item.size() != 1 || item[0] < 'a' || item[0] > 'm') usage(argv[0], 2);
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
    } else if (auto ks = value("--k-streams")) {
      c.k_streams = std::max<std::size_t>(1, std::stoul(*ks));
    } else if (auto k = value("--chunk")) {
      c.chunk = std::max<std::size_t>(1, std::stoul(*k));
    } else {
      std::fprintf(stderr, "unknown argument: %s\n", a.c_str());
      usage(argv[0], 2);
    }
  }
  return c;
}

}  // namespace evstore::bench
