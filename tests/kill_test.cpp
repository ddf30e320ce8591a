// The kill -9 loop (docs/reliability.md).
//
// Each iteration starts tests/crash/crash_child.cpp on a store directory that
// persists across iterations, records every acknowledgement the child prints,
// and ends it in one of three ways: SIGKILL after a random delay (0-30 ms,
// mostly counted from the moment the store is open, sometimes from the spawn,
// so recovery itself is interrupted); a SIGKILL the engine raises at the k-th
// hit of a kill point (EVSTORE_KILL_AT); or a short run that finishes and
// closes. Every fourth iteration a second child follows at once: it recovers
// the crashed store itself, appends, and is killed 0-15 ms after its spawn.
// The children also vary the checkpoint interval and the file cache size, and
// some of their appends create new streams (catalog records, new files).
// Then the test process opens the store as the writer (timed: that is the
// recovery) and checks
//   * every acknowledged append is there, byte-identical, at the acknowledged
//     stream, versions and positions;
//   * every event's bytes are those its child generated for it;
//   * $all positions are contiguous and every stream's versions are too;
//   * every append is all or nothing, and one child's visible appends are a
//     prefix of the appends it issued, in issue order;
//   * every $all event is in its stream at its version with the same bytes, and
//     every stream event is in $all; list_streams and stream_version agree;
//   * nothing verified by an earlier iteration changed, and the next child
//     opens the store with as many events as the check saw;
// and closes it before the next iteration. The read_only test does the same
// and first opens every crashed store read-only, as a reader process would,
// and checks that view the same way.
//
// EVSTORE_KILL_ITERATIONS (default 30) sets the iterations per mode (1000+ for
// the long run); the store directory starts afresh every 100 iterations, so
// long runs stay linear, and after a failing iteration, so failures count one
// by one. EVSTORE_KILL_SEED (default fixed) changes every random choice; a
// failure message names the seed, the iteration and each child's settings.
#define EVSTORE_CRASH_CHILD_NO_MAIN
#include "crash/crash_child.cpp"
#include "support/crash_invariants.hpp"
#include "support/store_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

using namespace evstore;
using namespace evstore::test;
using clock_type = std::chrono::steady_clock;

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v, &end, 10);
  return (end != v && *end == '\0') ? x : fallback;
}

// --- The child process.

struct ack {
  std::string stream;
  std::uint64_t first_version = 0;
  std::uint64_t first_position = 0;
  std::uint32_t count = 0;
};

struct child_plan {
  std::uint64_t seed = 0;
  std::uint64_t max_appends = 0;
  std::string kill_at;                             // EVSTORE_KILL_AT, empty for none
  std::optional<std::chrono::microseconds> delay;  // SIGKILL this long after...
  bool delay_from_spawn = false;                   // ...the spawn, else after the OPEN line
  std::chrono::milliseconds fallback{2000};        // SIGKILL this long after OPEN regardless
  std::uint64_t checkpoint_interval = 0;           // 0: the default
  std::uint64_t max_open_files = 0;                // 0: the default

  std::string describe() const {
    std::ostringstream o;
    o << "seed " << seed << ", max_appends " << max_appends;
    if (!kill_at.empty()) o << ", EVSTORE_KILL_AT=" << kill_at;
    if (delay) o << ", SIGKILL " << delay->count() << " us after " << (delay_from_spawn ? "spawn" : "open");
    if (checkpoint_interval) o << ", EVSTORE_CRASH_CHECKPOINT_INTERVAL=" << checkpoint_interval;
    if (max_open_files) o << ", EVSTORE_CRASH_MAX_OPEN_FILES=" << max_open_files;
    return o.str();
  }
};

struct child_outcome {
  bool spawned = false;
  bool opened = false;
  std::uint64_t open_count = 0;
  std::vector<std::pair<std::uint64_t, ack>> acks;  // (append#, ack) in arrival order
  std::vector<std::string> bad_lines;
  bool killed_by_parent = false;
  bool hung = false;  // never opened within the hard deadline
  int status = 0;
};

class line_parser {
 public:
  explicit line_parser(child_outcome& out) : out_(out) {}
  // Returns true when the chunk completed the OPEN line.
  bool feed(const char* data, std::size_t n) {
    bool opened_now = false;
    buffer_.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
      opened_now |= line(buffer_.substr(start, nl - start));
    }
    buffer_.erase(0, start);
    return opened_now;
  }

 private:
  bool line(const std::string& l) {
    std::istringstream in(l);
    std::string word;
    in >> word;
    if (word == "OPEN" && (in >> out_.open_count) && !out_.opened) {
      out_.opened = true;
      return true;
    }
    std::uint64_t a = 0;
    ack k;
    if (word == "ACK" && (in >> a >> k.stream >> k.first_version >> k.first_position >> k.count) &&
        (in >> std::ws).eof()) {
      out_.acks.emplace_back(a, std::move(k));
      return false;
    }
    out_.bad_lines.push_back(l);
    return false;
  }

  child_outcome& out_;
  std::string buffer_;  // an unterminated last line is never an acknowledgement
};

child_outcome run_child(const std::string& dir, bool fsync, const child_plan& plan) {
  child_outcome out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return out;

  std::vector<std::string> args = {EVSTORE_CRASH_CHILD, dir, fsync ? "1" : "0", std::to_string(plan.seed),
                                   std::to_string(plan.max_appends)};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "EVSTORE_KILL_AT=", 16) != 0 && std::strncmp(*e, "EVSTORE_CRASH_", 14) != 0) {
      env.emplace_back(*e);
    }
  }
  if (!plan.kill_at.empty()) env.push_back("EVSTORE_KILL_AT=" + plan.kill_at);
  if (plan.checkpoint_interval) {
    env.push_back("EVSTORE_CRASH_CHECKPOINT_INTERVAL=" + std::to_string(plan.checkpoint_interval));
  }
  if (plan.max_open_files)
    env.push_back("EVSTORE_CRASH_MAX_OPEN_FILES=" + std::to_string(plan.max_open_files));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on fd 1
  pid_t pid = -1;
  const auto spawned_at = clock_type::now();
  const int rc = posix_spawn(&pid, EVSTORE_CRASH_CHILD, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return out;
  }
  out.spawned = true;

  const auto hard_deadline = spawned_at + std::chrono::seconds(20);
  std::optional<clock_type::time_point> kill_time;
  if (plan.delay && plan.delay_from_spawn) kill_time = spawned_at + *plan.delay;
  line_parser parser(out);
  bool killed = false;
  auto kill_child = [&] {
    if (!killed) kill(pid, SIGKILL);
    killed = true;
  };
  char buf[65536];
  bool eof = false;
  for (;;) {
    timespec ts{};
    const timespec* tsp = nullptr;
    if (!killed) {
      const auto now = clock_type::now();
      auto deadline = kill_time ? std::min(*kill_time, hard_deadline) : hard_deadline;
      if (now >= deadline) {
        if (now >= hard_deadline && !out.opened) out.hung = true;
        out.killed_by_parent = true;
        kill_child();
        continue;
      }
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
      ts.tv_sec = static_cast<time_t>(left.count() / 1000000000);
      ts.tv_nsec = static_cast<long>(left.count() % 1000000000);
      tsp = &ts;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ppoll(&p, 1, tsp, nullptr);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (ready == 0) continue;  // a deadline passed: handled at the top
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) {  // EOF: the child is gone
      eof = true;
      break;
    }
    if (parser.feed(buf, static_cast<std::size_t>(n)) && !killed) {
      const auto now = clock_type::now();
      auto t = now + plan.fallback;
      if (plan.delay && !plan.delay_from_spawn) t = std::min(t, now + *plan.delay);
      kill_time = kill_time ? std::min(*kill_time, t) : t;
    }
  }
  if (!eof) kill_child();  // the pipe failed: never wait on a child that may run on
  close(fds[0]);
  while (waitpid(pid, &out.status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

// --- What the store holds, checked against what the children did.

struct event_key {
  std::uint64_t seed = 0;
  std::uint64_t append = 0;
  std::uint32_t i = 0;
  std::uint32_t of = 0;
  friend bool operator==(const event_key&, const event_key&) = default;
};

std::optional<event_key> parse_key(std::string_view data) {
  const std::string head(data.substr(0, 160));
  unsigned long long seed = 0, append = 0;
  unsigned i = 0, of = 0;
  if (std::sscanf(head.c_str(), "{\"seed\":%llu,\"append\":%llu,\"i\":%u,\"of\":%u,", &seed, &append, &i,
                  &of) != 4) {
    return std::nullopt;
  }
  return event_key{seed, append, i, of};
}

struct model {
  std::set<std::uint64_t> seeds;                                // children started on this directory
  std::map<std::uint64_t, std::map<std::uint64_t, ack>> acked;  // seed -> append# -> acknowledgement
  std::vector<std::pair<event_key, std::uint64_t>> verified;    // $all at the last check: key, version
  std::optional<std::uint64_t> last_count;                      // event_count at the last check
};

struct findings {
  std::uint64_t acknowledged_lost = 0;
  std::uint64_t partial_visible = 0;
  std::uint64_t problems = 0;
  std::vector<std::string> details;
  void problem(const std::string& what) {
    ++problems;
    if (details.size() < 25) details.push_back(what);
  }
  // Adds another check's problems; losses are counted once per iteration.
  void merge(const findings& o, const std::string& label) {
    acknowledged_lost = std::max(acknowledged_lost, o.acknowledged_lost);
    partial_visible = std::max(partial_visible, o.partial_visible);
    for (const auto& d : o.details) problem(label + d);
    problems += o.problems - o.details.size();
  }
};

std::string where(const recorded_event& e) {
  return std::string(e.stream) + "@" + std::to_string(e.version) + " (position " +
         std::to_string(e.position) + ")";
}

struct stored_group {
  std::vector<std::size_t> at;  // indexes into $all, in order
};

// Checks one open store against the model; `update` records its $all as verified.
void verify(const store& s, model& m, findings& f, bool update) {
  auto all = s.read("$all");
  if (!all) {
    f.problem("read $all: " + all.error().message());
    for (auto& [seed, acks] : m.acked) f.acknowledged_lost += acks.size();
    return;
  }
  const auto& ev = all->events;
  if (ev.size() != s.event_count()) {
    f.problem("$all has " + std::to_string(ev.size()) + " events, event_count() says " +
              std::to_string(s.event_count()));
  }
  if (ev.size() < m.verified.size()) {
    f.problem("$all shrank from " + std::to_string(m.verified.size()) + " to " + std::to_string(ev.size()) +
              " events since the last check");
  }

  std::vector<event_key> keys(ev.size());
  std::map<std::pair<std::uint64_t, std::uint64_t>, stored_group> groups;
  std::map<std::uint64_t, std::vector<std::pair<std::uint64_t, std::size_t>>>
      seed_order;                                                              // seed -> (append, first idx)
  std::map<std::string, std::vector<std::size_t>, std::less<>> stream_events;  // stream -> $all indexes
  for (std::size_t k = 0; k < ev.size(); ++k) {
    const recorded_event& e = ev[k];
    if (e.position != k)
      f.problem("$all index " + std::to_string(k) + " holds position " + std::to_string(e.position));
    auto& in_stream = stream_events[std::string(e.stream)];
    if (e.version != in_stream.size()) {
      f.problem("stream versions not contiguous: " + where(e) + " follows " +
                std::to_string(in_stream.size()) + " events of its stream in $all");
    }
    in_stream.push_back(k);
    const auto key = parse_key(e.data);
    if (!key) {
      f.problem("unrecognised data at " + where(e) + ": " + std::string(e.data.substr(0, 80)));
      continue;
    }
    keys[k] = *key;
    if (m.seeds.count(key->seed) == 0)
      f.problem("event of unknown seed " + std::to_string(key->seed) + " at " + where(e));
    const crash::append_plan plan = crash::plan_append(key->seed, key->append);
    const std::string type = crash::event_type(key->seed, key->append, key->i);
    const std::string data = crash::event_json(key->seed, key->append, key->i, plan.count);
    const std::string metadata = crash::event_metadata(key->seed, key->append, key->i);
    std::optional<boost::uuids::uuid> id;
    if (plan.with_ids) id.emplace(crash::event_id(key->seed, key->append, key->i));
    if (key->of != plan.count || key->i >= plan.count || e.stream != plan.stream || e.type != type ||
        e.data != data || e.metadata != metadata || e.id != id) {
      f.problem("wrong bytes at " + where(e) + " (seed " + std::to_string(key->seed) + ", append " +
                std::to_string(key->append) + ", event " + std::to_string(key->i) + ")");
    }
    auto& g = groups[{key->seed, key->append}];
    if (g.at.empty()) seed_order[key->seed].emplace_back(key->append, k);
    g.at.push_back(k);
  }

  // Appends: all or nothing, contiguous in $all and in their stream.
  for (const auto& [id, g] : groups) {
    const auto& [seed, append] = id;
    const std::uint32_t of = crash::plan_append(seed, append).count;
    bool shape_ok = g.at.size() <= of;
    for (std::size_t j = 0; j < g.at.size() && shape_ok; ++j) {
      const recorded_event& e = ev[g.at[j]];
      const recorded_event& first = ev[g.at[0]];
      shape_ok = g.at[j] == g.at[0] + j && keys[g.at[j]].i == j && e.stream == first.stream &&
                 e.version == first.version + j;
    }
    if (!shape_ok) {
      f.problem("append (seed " + std::to_string(seed) + ", #" + std::to_string(append) +
                ") is not one contiguous run of its events, first at " + where(ev[g.at[0]]));
    } else if (g.at.size() < of) {
      ++f.partial_visible;
      f.problem("partial append visible: seed " + std::to_string(seed) + " #" + std::to_string(append) +
                " shows " + std::to_string(g.at.size()) + " of " + std::to_string(of) + " events, first at " +
                where(ev[g.at[0]]));
    }
  }

  // One child's appends get positions in issue order and recovery keeps a
  // prefix of $all: its visible appends are #0..#k-1 in order.
  for (const auto& [seed, order] : seed_order) {
    for (std::size_t j = 0; j < order.size(); ++j) {
      if (order[j].first != j) {
        f.problem("seed " + std::to_string(seed) + ": visible appends are not a prefix in issue order: #" +
                  std::to_string(order[j].first) + " is the " + std::to_string(j) + "-th, at " +
                  where(ev[order[j].second]));
        break;
      }
    }
  }

  // Every acknowledged append, where it was acknowledged.
  for (const auto& [seed, acks] : m.acked) {
    for (const auto& [append, a] : acks) {
      auto it = groups.find({seed, append});
      bool ok = it != groups.end() && it->second.at.size() == a.count;
      if (ok) {
        const recorded_event& first = ev[it->second.at[0]];
        ok = first.stream == a.stream && first.version == a.first_version &&
             first.position == a.first_position && crash::plan_append(seed, append).count == a.count;
      }
      if (!ok) {
        ++f.acknowledged_lost;
        f.problem("acknowledged append lost or moved: seed " + std::to_string(seed) + " #" +
                  std::to_string(append) + " acked at " + a.stream + "@" + std::to_string(a.first_version) +
                  " position " + std::to_string(a.first_position) + ", " + std::to_string(a.count) +
                  " events; store has " +
                  (it == groups.end() ? std::string("nothing")
                                      : std::to_string(it->second.at.size()) + " events from " +
                                            where(ev[it->second.at[0]])));
      }
    }
  }

  // Nothing verified earlier changed.
  for (std::size_t k = 0; k < std::min(m.verified.size(), ev.size()); ++k) {
    if (!(keys[k] == m.verified[k].first) || ev[k].version != m.verified[k].second) {
      f.problem("event verified by an earlier check changed at position " + std::to_string(k));
      break;
    }
  }

  // Streams, list_streams and the lazy range against $all, both ways.
  std::set<std::string> names;
  for (std::uint32_t k = 0; k < crash::stream_count; ++k) names.insert(crash::stream_name(k));
  for (const std::string& p : check_views_agree_with_all(s, ev, names)) f.problem(p);

  if (update) {
    m.verified.clear();
    for (std::size_t k = 0; k < ev.size(); ++k) m.verified.emplace_back(keys[k], ev[k].version);
    m.last_count = ev.size();
  }
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

struct loop_totals {
  std::uint64_t iterations = 0, passed = 0, lost = 0, partial = 0, acked = 0;
  std::uint64_t by_timer = 0, by_point = 0, clean = 0, children = 0, before_open = 0, open_failures = 0;
  std::uint64_t read_only_checked = 0, read_only_consistent = 0;
  std::vector<double> recovery_ms;
  std::size_t last_store_events = 0;
  double seconds = 0;

  double median_recovery_ms() const {
    if (recovery_ms.empty()) return 0;
    std::vector<double> v = recovery_ms;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
};

// The kill -9 loop. Every fourth iteration a second child opens the
// crashed store before the test does (so a writer recovers accumulated crash
// state, then appends, and is killed again, sometimes during its recovery).
// With `read_only_view`, the test also opens each crashed store read-only
// before the writer does and checks that view the same way.
loop_totals run_kill_loop(bool fsync, bool read_only_view) {
  const std::uint64_t iterations = env_u64("EVSTORE_KILL_ITERATIONS", 30);
  const std::uint64_t base_seed = env_u64("EVSTORE_KILL_SEED", 20240601);
  constexpr std::uint64_t rotate_every = 100;
  std::mt19937_64 rng(crash::mix(base_seed ^ (fsync ? 0xf5f5 : 0xb0b0) ^ (read_only_view ? 0x40 : 0)));
  auto uniform = [&](std::uint64_t lo, std::uint64_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };

  temp_dir dir;
  io_thread io;
  std::string path;
  model m;
  loop_totals t;
  t.iterations = iterations;
  const auto started = clock_type::now();

  std::uint64_t stores = 0, since_rotation = 0;
  for (std::uint64_t it = 1; it <= iterations; ++it) {
    if (since_rotation++ % rotate_every == 0) {
      path = dir.sub("store-" + std::to_string(stores++));
      m = model{};
      since_rotation = 1;
    }
    findings f;
    std::string context = "iteration " + std::to_string(it) +
                          " (EVSTORE_KILL_SEED=" + std::to_string(base_seed) + ", " +
                          (fsync ? "fsync" : "buffered") + (read_only_view ? ", read-only view" : "") + ")";
    const int children = it % 4 == 0 ? 2 : 1;
    for (int c = 0; c < children; ++c) {
      child_plan plan;
      plan.seed =
          crash::mix(base_seed * 1000003 + it * 8 + static_cast<std::uint64_t>(c) * 2 + (fsync ? 1 : 0));
      while (m.seeds.count(plan.seed) != 0) ++plan.seed;
      m.seeds.insert(plan.seed);
      plan.max_appends = 1000000;
      const std::uint64_t kind = uniform(0, 99);
      if (c == 1) {
        // Right after a crash: the kill often lands in the child's recovery.
        plan.delay = std::chrono::microseconds(uniform(0, 15000));
        plan.delay_from_spawn = true;
      } else if (kind < 45) {
        plan.delay = std::chrono::microseconds(uniform(0, 30000));
        plan.delay_from_spawn = uniform(0, 4) == 0;
      } else if (kind < 90) {
        // A flush: its records, its $all entries; a checkpoint: the syncs,
        // the stream index's run (engine/src/store/flush.cpp, checkpoint.cpp).
        std::vector<std::string> points = {"flush_begin", "after_records", "after_all_index"};
        if (plan.checkpoint_interval != 0 || uniform(0, 1) == 0) {
          points.push_back("checkpoint_synced");
          points.push_back("checkpoint_indexed");
        }
        const std::string point = points[uniform(0, points.size() - 1)];
        const std::uint64_t flushes = fsync ? 6 : 60;  // about what 30 ms holds
        const std::uint64_t k = uniform(1, point.starts_with("checkpoint") ? 3 : flushes);
        plan.kill_at = point + ":" + std::to_string(k);
        plan.fallback = std::chrono::milliseconds(300);
      } else {
        plan.max_appends = uniform(1, 300);
      }
      // Checkpoints within the run, and a file cache that must evict.
      if (uniform(0, 2) == 0) plan.checkpoint_interval = uniform(1, 64);
      if (uniform(0, 3) == 0) plan.max_open_files = 8;
      context += "; child " + std::to_string(c + 1) + ": " + plan.describe();

      const child_outcome out = run_child(path, fsync, plan);
      ++t.children;
      if (!out.spawned) {
        f.problem(std::string("cannot start ") + EVSTORE_CRASH_CHILD);
        break;
      }
      const bool sigkill = WIFSIGNALED(out.status) && WTERMSIG(out.status) == SIGKILL;
      const bool exit0 = WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0;
      context += " -> " + describe_status(out.status) + ", " + std::to_string(out.acks.size()) + " acks";
      if (out.hung) f.problem("the child did not open the store within 20 s");
      if (!(sigkill || exit0)) f.problem("the child ended with " + describe_status(out.status));
      if (exit0 && out.acks.size() != plan.max_appends) {
        f.problem("the child exited 0 after " + std::to_string(out.acks.size()) + " acknowledgements of " +
                  std::to_string(plan.max_appends));
      }
      for (const auto& l : out.bad_lines) f.problem("unexpected child output: " + l);
      if (out.opened && m.last_count && out.open_count != *m.last_count) {
        f.problem("the child opened the store with " + std::to_string(out.open_count) +
                  " events, the last check saw " + std::to_string(*m.last_count));
      }
      if (!out.opened) ++t.before_open;
      if (out.killed_by_parent) {
        ++t.by_timer;
      } else if (sigkill) {
        ++t.by_point;
      } else {
        ++t.clean;
      }
      for (const auto& [append, a] : out.acks) {
        if (!m.acked[plan.seed].emplace(append, a).second) {
          f.problem("append #" + std::to_string(append) + " acknowledged twice");
        }
      }
      t.acked += out.acks.size();
      // A second child recovers on its own; what it opened is checked below.
      m.last_count.reset();
    }

    if (read_only_view) {
      // The view of a reader that opens the crashed store (nothing repaired).
      store_options options;
      options.directory = path;
      options.read_only = true;
      auto ro = store::open(io.executor(), options);
      const bool never_created = m.acked.empty() && !std::filesystem::exists(path + "/store.json");
      if (!ro && !(never_created && ro.error().code == errc::invalid_argument)) {
        f.problem("[read-only] open: " + ro.error().message());
      } else if (ro) {
        findings rf;
        verify(*ro, m, rf, false);
        ++t.read_only_checked;
        if (rf.problems == 0) ++t.read_only_consistent;
        f.merge(rf, "[read-only] ");
        if (auto ec = close_wait(*ro)) f.problem("[read-only] close: " + ec.message());
      }
    }

    // The writer: recovery and repair, timed, then the checks.
    {
      findings wf;
      store_options options;
      options.directory = path;
      options.fsync_on_flush = fsync;
      const auto t0 = clock_type::now();
      auto s = store::open(io.executor(), options);
      const auto t1 = clock_type::now();
      if (!s) {
        // Every acknowledged append of the store is out of reach.
        wf.problem("open after the kill: " + s.error().message());
        for (auto& [seed, acks] : m.acked) wf.acknowledged_lost += acks.size();
        ++t.open_failures;
      } else {
        t.recovery_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        verify(*s, m, wf, true);
        if (auto ec = close_wait(*s)) wf.problem("close: " + ec.message());
      }
      f.merge(wf, "");
    }

    t.lost += f.acknowledged_lost;
    t.partial += f.partial_visible;
    if (f.problems == 0) {
      ++t.passed;
    } else {
      std::string text;
      for (const auto& d : f.details) text += "\n  " + d;
      if (f.problems > f.details.size())
        text += "\n  ... " + std::to_string(f.problems - f.details.size()) + " more";
      ADD_FAILURE() << context << ": " << f.problems << " problem(s)" << text;
      // Go on in a fresh directory, so later iterations count on their own.
      since_rotation = 0;
    }
  }
  t.last_store_events = m.verified.size();
  t.seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  std::printf(
      "kill loop (%s%s, EVSTORE_KILL_SEED=%llu): %llu children, %llu acknowledged appends; "
      "%llu killed by timer, %llu at a kill point, %llu clean exits, %llu before the store was open; "
      "%llu stores failed to open; %zu events in the last store; %.1f s\n",
      fsync ? "fsync_on_flush" : "buffered", read_only_view ? ", read-only view" : "",
      static_cast<unsigned long long>(base_seed), static_cast<unsigned long long>(t.children),
      static_cast<unsigned long long>(t.acked), static_cast<unsigned long long>(t.by_timer),
      static_cast<unsigned long long>(t.by_point), static_cast<unsigned long long>(t.clean),
      static_cast<unsigned long long>(t.before_open), static_cast<unsigned long long>(t.open_failures),
      t.last_store_events, t.seconds);
  return t;
}

class kill_loop : public ::testing::TestWithParam<bool> {};

TEST_P(kill_loop, acknowledged_appends_survive_kill_9) {
  const loop_totals t = run_kill_loop(GetParam(), false);
  std::printf(
      "kill iterations %llu/%llu passed, acknowledged lost %llu, partial visible %llu, median recovery ms "
      "%.2f\n",
      static_cast<unsigned long long>(t.passed), static_cast<unsigned long long>(t.iterations),
      static_cast<unsigned long long>(t.lost), static_cast<unsigned long long>(t.partial),
      t.median_recovery_ms());
  std::fflush(stdout);
  EXPECT_EQ(t.passed, t.iterations);
  EXPECT_EQ(t.lost, 0u);
  EXPECT_EQ(t.partial, 0u);
}

// A reader (read_only) that opens a store whose writer was killed, or is in
// the middle of a flush, must see a consistent store: every event of $all in
// its stream and the reverse, no partial append.
TEST_P(kill_loop, read_only_open_of_crashed_store_is_consistent) {
  const loop_totals t = run_kill_loop(GetParam(), true);
  std::printf(
      "read-only opens of crashed stores %llu/%llu consistent; kill iterations %llu/%llu passed, "
      "acknowledged lost %llu, partial visible %llu\n",
      static_cast<unsigned long long>(t.read_only_consistent),
      static_cast<unsigned long long>(t.read_only_checked), static_cast<unsigned long long>(t.passed),
      static_cast<unsigned long long>(t.iterations), static_cast<unsigned long long>(t.lost),
      static_cast<unsigned long long>(t.partial));
  std::fflush(stdout);
  EXPECT_EQ(t.read_only_consistent, t.read_only_checked);
  EXPECT_EQ(t.passed, t.iterations);
}

INSTANTIATE_TEST_SUITE_P(kill_loop, kill_loop, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return std::string(param.param ? "fsync" : "buffered");
                         });

}  // namespace
