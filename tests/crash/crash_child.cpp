// evstore_crash_child <dir> <fsync 0|1> <seed> <max_appends>
//
// The writer process of the kill -9 loop (tests/kill_test.cpp).
// It opens the store, then issues max_appends appends whose every byte follows
// from (seed, append number): the stream, the number of events (1-5), the
// expected-version kind, and each event's type, data, metadata and id. Several
// appends are kept in flight at once (callbacks on an io_context run by the
// main thread), so one flush writes many of them.
//
// stdout (a pipe to the parent), one line each, flushed at once:
//   OPEN <event_count>                                         the store is open
//   ACK <append#> <stream> <first_version> <first_position> <count>   acknowledged
// A line fully written before the process died is an acknowledgement.
//
// Optional store options from the environment (the parent varies them):
//   EVSTORE_CRASH_CHECKPOINT_INTERVAL  store_options::checkpoint_interval
//   EVSTORE_CRASH_MAX_OPEN_FILES       store_options::max_open_files
//
// Exit: 0 after max_appends acknowledged appends and a clean close; 1 usage;
// 2 the store did not open; 3 wrong_expected_version (should never happen:
// this process is the only writer and tracks every stream's version); 4 any
// other append error; 5 an append acknowledged at another version than the
// one this process predicted.
//
// The deterministic content lives in namespace evstore::crash below; the parent
// includes this file with EVSTORE_CRASH_CHILD_NO_MAIN defined so both sides
// generate the same bytes from the same code.
#include <evstore/store.hpp>

#include <boost/uuid/uuid.hpp>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace evstore::crash {

inline constexpr std::uint32_t stream_count = 20;
inline constexpr std::uint32_t max_events_per_append = 5;

// splitmix64 finaliser: a good 64-bit mix, stable across platforms.
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline std::uint64_t hash(std::uint64_t seed, std::uint64_t append, std::uint64_t i, std::uint64_t salt) {
  return mix(mix(mix(mix(seed) ^ append) ^ i) ^ salt);
}

inline std::string stream_name(std::uint32_t k) { return "s-" + std::to_string(k); }
inline std::string fresh_stream_name(std::uint64_t seed, std::uint64_t append) {
  return "n-" + std::to_string(seed % 1000000) + "-" + std::to_string(append);
}

// What append number `append` of the child started with `seed` does.
struct append_plan {
  std::string stream;
  std::uint32_t count = 1;  // events, 1..5
  bool exact = false;       // expect::exactly(known version) (no_stream on an empty stream), else expect::any
  bool with_ids = false;    // every event carries a deterministic id
};

inline append_plan plan_append(std::uint64_t seed, std::uint64_t append) {
  const std::uint64_t h = hash(seed, append, 0, 0x5eed);
  append_plan p;
  // Half the appends go to 4 hot streams, so one flush often holds several
  // appends of one stream; the others spread over all 20.
  const std::uint32_t k = (h & 1) ? static_cast<std::uint32_t>((h >> 8) % 4)
                                  : static_cast<std::uint32_t>((h >> 8) % stream_count);
  p.stream = stream_name(k);
  // Some appends create a stream of their own (one in 8 of the first 64, one
  // in 512 later), so every run writes catalog records and creates stream
  // files, the crash windows of a new stream, without piling up thousands of
  // streams in the store.
  if ((h >> 40) % (append < 64 ? 8 : 512) == 0) p.stream = fresh_stream_name(seed, append);
  p.count = ((h >> 1) & 1) ? 1u : 2u + static_cast<std::uint32_t>((h >> 24) % (max_events_per_append - 1));
  p.exact = ((h >> 2) & 1) != 0;
  p.with_ids = ((h >> 3) & 1) != 0;
  return p;
}

inline std::string event_type(std::uint64_t seed, std::uint64_t append, std::uint32_t i) {
  return "Crash" + std::to_string(hash(seed, append, i, 0x7e) % 5);
}

// {"seed":S,"append":A,"i":I,"of":N,"pad":"..."}; the pad is usually short,
// now and then a few KiB so records straddle pages.
inline std::string event_json(std::uint64_t seed, std::uint64_t append, std::uint32_t i, std::uint32_t of) {
  const std::uint64_t h = hash(seed, append, i, 0xda7a);
  const std::size_t pad_len = (h % 64 == 0) ? 2000 + (h >> 8) % 6000 : (h >> 8) % 120;
  static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string pad(pad_len, 'x');
  std::uint64_t r = h;
  for (std::size_t k = 0; k < pad_len; ++k) {
    if (k % 8 == 0) r = mix(r + k);
    pad[k] = alphabet[(r >> ((k % 8) * 8)) % 36];
  }
  return "{\"seed\":" + std::to_string(seed) + ",\"append\":" + std::to_string(append) +
         ",\"i\":" + std::to_string(i) + ",\"of\":" + std::to_string(of) + ",\"pad\":\"" + pad + "\"}";
}

inline std::string event_metadata(std::uint64_t seed, std::uint64_t append, std::uint32_t i) {
  if (hash(seed, append, i, 0x3e7a) % 3 != 0) return {};
  return "{\"origin\":\"crash_child\",\"seed\":" + std::to_string(seed) + "}";
}

inline boost::uuids::uuid event_id(std::uint64_t seed, std::uint64_t append, std::uint32_t i) {
  boost::uuids::uuid id;
  const std::uint64_t a = hash(seed, append, i, 0x1d01), b = hash(seed, append, i, 0x1d02);
  std::memcpy(id.data, &a, 8);
  std::memcpy(id.data + 8, &b, 8);
  return id;
}

inline std::vector<event_data> make_events(std::uint64_t seed, std::uint64_t append) {
  const append_plan p = plan_append(seed, append);
  std::vector<event_data> events;
  for (std::uint32_t i = 0; i < p.count; ++i) {
    event_data e;
    e.type = event_type(seed, append, i);
    e.data = event_json(seed, append, i, p.count);
    e.metadata = event_metadata(seed, append, i);
    if (p.with_ids) e.id = event_id(seed, append, i);
    events.push_back(std::move(e));
  }
  return events;
}

// How many appends the child keeps in flight: 1..8, from the seed.
inline std::size_t window(std::uint64_t seed) { return 1 + hash(seed, 0, 0, 0x3140) % 8; }

}  // namespace evstore::crash

#ifndef EVSTORE_CRASH_CHILD_NO_MAIN

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>

namespace {

using namespace evstore;

struct child {
  child(store& st, std::uint64_t sd, std::uint64_t max,
        boost::asio::executor_work_guard<boost::asio::io_context::executor_type>& g)
      : s(st), seed(sd), max_appends(max), guard(&g) {}

  store& s;
  std::uint64_t seed;
  std::uint64_t max_appends;
  std::uint64_t issued = 0;
  std::uint64_t acknowledged = 0;
  std::map<std::string, std::uint64_t> pending_count;  // events per stream, in-flight appends included
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>* guard = nullptr;

  void issue() {
    const std::uint64_t a = issued++;
    const crash::append_plan p = crash::plan_append(seed, a);
    std::uint64_t& count = pending_count[p.stream];
    const std::uint64_t predicted_first = count;
    expected_version ex = expect::any;
    if (p.exact) ex = count == 0 ? expect::no_stream : expect::exactly(count - 1);
    count += p.count;
    s.append(p.stream, crash::make_events(seed, a), ex,
             [this, a, stream = p.stream, n = p.count, predicted_first](boost::system::error_code ec,
                                                                        append_result r) {
               on_done(a, stream, n, predicted_first, ec, r);
             });
  }

  void on_done(std::uint64_t a, const std::string& stream, std::uint32_t n, std::uint64_t predicted_first,
               boost::system::error_code ec, const append_result& r) {
    if (ec == errc::wrong_expected_version) {
      std::fprintf(stderr,
                   "crash_child: append %llu to %s: wrong_expected_version (expected %s, actual %s)\n",
                   static_cast<unsigned long long>(a), stream.c_str(), to_string(r.expected).c_str(),
                   r.actual ? std::to_string(*r.actual).c_str() : "none");
      std::_Exit(3);
    }
    if (ec) {
      std::fprintf(stderr, "crash_child: append %llu to %s failed: %s\n", static_cast<unsigned long long>(a),
                   stream.c_str(), ec.message().c_str());
      std::_Exit(4);
    }
    if (r.first_version != predicted_first || r.version != predicted_first + n - 1 ||
        r.position != r.first_position + n - 1 || r.duplicate) {
      std::fprintf(
          stderr,
          "crash_child: append %llu to %s acknowledged at versions %llu..%llu positions %llu..%llu"
          "%s, predicted first version %llu, %u events\n",
          static_cast<unsigned long long>(a), stream.c_str(),
          static_cast<unsigned long long>(r.first_version), static_cast<unsigned long long>(r.version),
          static_cast<unsigned long long>(r.first_position), static_cast<unsigned long long>(r.position),
          r.duplicate ? " (duplicate)" : "", static_cast<unsigned long long>(predicted_first), n);
      std::_Exit(5);
    }
    std::printf("ACK %llu %s %llu %llu %u\n", static_cast<unsigned long long>(a), stream.c_str(),
                static_cast<unsigned long long>(r.first_version),
                static_cast<unsigned long long>(r.first_position), n);
    std::fflush(stdout);
    ++acknowledged;
    if (issued < max_appends) {
      issue();
    } else if (acknowledged == max_appends) {
      s.close([this](boost::system::error_code cec) {
        if (cec) {
          std::fprintf(stderr, "crash_child: close failed: %s\n", cec.message().c_str());
          std::_Exit(4);
        }
        guard->reset();
      });
    }
  }
};

bool parse_u64(const char* text, std::uint64_t& out) {
  char* end = nullptr;
  out = std::strtoull(text, &end, 10);
  return end != text && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t fsync = 0, seed = 0, max_appends = 0;
  if (argc != 5 || !parse_u64(argv[2], fsync) || fsync > 1 || !parse_u64(argv[3], seed) ||
      !parse_u64(argv[4], max_appends)) {
    std::fprintf(stderr, "usage: evstore_crash_child <dir> <fsync 0|1> <seed> <max_appends>\n");
    return 1;
  }
  boost::asio::io_context io(1);
  auto guard = boost::asio::make_work_guard(io);
  store_options options;
  options.directory = argv[1];
  options.fsync_on_flush = fsync == 1;
  std::uint64_t value = 0;
  if (const char* v = std::getenv("EVSTORE_CRASH_CHECKPOINT_INTERVAL"); v && parse_u64(v, value)) {
    options.checkpoint_interval = value;
  }
  if (const char* v = std::getenv("EVSTORE_CRASH_MAX_OPEN_FILES"); v && parse_u64(v, value)) {
    options.max_open_files = value;
  }
  auto opened = store::open(io.get_executor(), options);
  if (!opened) {
    std::fprintf(stderr, "crash_child: cannot open %s: %s\n", argv[1], opened.error().message().c_str());
    return 2;
  }
  store& s = *opened;
  child c(s, seed, max_appends, guard);
  for (std::uint32_t k = 0; k < crash::stream_count; ++k) {
    const std::string name = crash::stream_name(k);
    auto v = s.stream_version(name);
    if (!v) {
      std::fprintf(stderr, "crash_child: cannot read %s: %s\n", name.c_str(), v.error().message().c_str());
      return 2;
    }
    c.pending_count[name] = *v ? **v + 1 : 0;
  }
  std::printf("OPEN %llu\n", static_cast<unsigned long long>(s.event_count()));
  std::fflush(stdout);
  if (max_appends == 0) {
    guard.reset();
  } else {
    for (std::size_t k = 0; k < crash::window(seed) && c.issued < max_appends; ++k) c.issue();
  }
  io.run();
  return 0;
}

#endif  // EVSTORE_CRASH_CHILD_NO_MAIN
