// Simulated power loss and I/O errors (TESTING.md §2).
//
// Every test runs a deterministic workload on a fault_injecting_file_system over
// a memory_file_system, stops it at a chosen mutating file operation (a crash, or
// an injected EIO/ENOSPC), optionally simulates a power loss, and then reopens
// the store on the memory file system and checks the invariants below with
// check_invariants():
//   (a) every acknowledged append is present, byte-identical, where its result
//       said (fsync mode always; buffered mode only without power loss);
//   (b) every append is all or nothing;
//   (c) $all positions are 0..n-1 and each stream's versions 0..m-1;
//   (d) $all and the streams agree event by event (same bytes, both ways);
//   (e) no read fails;
//   plus: appends of one session survive as a prefix (no holes), and
//   (f) the recovered store accepts appends that survive another reopen.
// After the first reopen the test also closes the store and cuts power again
// (synced_only): what recovery repaired must be durable (fsync mode) and
// consistent (both modes).
//
// Reproduce a failure of the random test with EVSTORE_POWER_LOSS_SEED=<seed>.
#include "support/store_fixture.hpp"

#include <evstore/fault_injecting_file_system.hpp>
#include <evstore/memory_file_system.hpp>
#include <evstore/store.hpp>

#include <boost/asio/post.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace evstore;
using namespace evstore::test;

namespace {

const std::string store_dir = "/store";

// ---------------------------------------------------------------------------
// Workloads

struct append_spec {
  std::string stream;
  std::size_t events = 1;
  expected_version expected = expect::any;
  std::size_t pad = 0;  // extra data bytes, so that records straddle 512-byte sectors
  bool ids = false;
  bool metadata = false;
};

// Appends issued back to back from one handler on the store's executor: they
// land in one tick, so one flush writes them all (group commit).
using step = std::vector<append_spec>;

struct workload {
  std::string name;
  std::vector<step> steps;
  std::uint64_t checkpoint_interval = 65536;
};

// One append the test issued (or meant to issue), and what became of it.
struct acked_append {
  std::size_t number = 0;   // written into every event: {"append":number,"i":i,"of":n,...}
  std::size_t session = 0;  // appends of one session are issued in order
  std::string stream;
  std::vector<event_data> events;
  expected_version expected = expect::any;
  bool issued = false;
  bool acked = false;  // completed with ec == {}
  boost::system::error_code ec;
  append_result result;
};

boost::uuids::uuid event_id(std::size_t number, std::size_t i) {
  boost::uuids::uuid id{};
  for (std::size_t k = 0; k < 8; ++k) {
    id.data[k] = static_cast<std::uint8_t>((number >> (8 * k)) & 0xff);
    id.data[8 + k] = static_cast<std::uint8_t>((i >> (8 * k)) & 0xff);
  }
  id.data[15] ^= 0xa5;  // never the nil uuid
  return id;
}

std::vector<event_data> make_append_events(std::size_t number, const append_spec& spec) {
  std::vector<event_data> out;
  for (std::size_t i = 0; i < spec.events; ++i) {
    event_data e;
    e.type = "Ev" + std::to_string(number) + "." + std::to_string(i);
    e.data = "{\"append\":" + std::to_string(number) + ",\"i\":" + std::to_string(i) +
             ",\"of\":" + std::to_string(spec.events) + ",\"pad\":\"" +
             std::string(spec.pad + (i * 37) % 50, static_cast<char>('a' + number % 26)) + "\"}";
    if (spec.metadata) e.metadata = "{\"m\":" + std::to_string(number * 10 + i) + "}";
    if (spec.ids) e.id = event_id(number, i);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<acked_append> define_appends(const workload& w, std::size_t first_number, std::size_t session) {
  std::vector<acked_append> out;
  std::size_t number = first_number;
  for (const step& st : w.steps) {
    for (const append_spec& spec : st) {
      acked_append a;
      a.number = number;
      a.session = session;
      a.stream = spec.stream;
      a.events = make_append_events(number, spec);
      a.expected = spec.expected;
      out.push_back(std::move(a));
      ++number;
    }
  }
  return out;
}

store_options options_for(const workload& w, bool fsync, std::shared_ptr<file_system> fs) {
  store_options o;
  o.directory = store_dir;
  o.fsync_on_flush = fsync;
  o.file_system = std::move(fs);
  o.checkpoint_interval = w.checkpoint_interval;
  return o;
}

// Issues appends[first, first + n) from one handler on the executor and waits
// for all of them.
void issue_step(store& s, io_thread& io, std::vector<acked_append>& appends, std::size_t first, std::size_t n) {
  std::vector<std::promise<append_outcome>> done(n);
  std::vector<std::future<append_outcome>> results;
  for (auto& p : done) results.push_back(p.get_future());
  boost::asio::post(io.executor(), [&s, &appends, &done, first, n] {
    for (std::size_t j = 0; j < n; ++j) {
      acked_append& a = appends[first + j];
      a.issued = true;
      s.append(a.stream, a.events, a.expected,
               [p = &done[j]](boost::system::error_code ec, append_result r) { p->set_value({ec, r}); });
    }
  });
  for (std::size_t j = 0; j < n; ++j) {
    append_outcome o = results[j].get();
    acked_append& a = appends[first + j];
    a.ec = o.ec;
    a.result = o.result;
    a.acked = !o.ec;
  }
}

struct run_output {
  bool opened = false;
  evstore::error open_error;
  std::uint64_t ops_after_open = 0;
  std::vector<std::uint64_t> ops_after_step;  // operation_count() after each step
  std::uint64_t ops_after_close = 0;
  boost::system::error_code close_ec;
  std::vector<acked_append> appends;  // every append of the workload, issued or not
};

// Opens the store on `fs`, runs the steps one after the other, closes it.
run_output run_workload(const workload& w, bool fsync, const std::shared_ptr<fault_injecting_file_system>& fs,
                        io_thread& io, std::size_t first_number = 0, std::size_t session = 0) {
  run_output out;
  out.appends = define_appends(w, first_number, session);
  auto s = store::open(io.executor(), options_for(w, fsync, fs));
  out.ops_after_open = fs->operation_count();
  if (!s) {
    out.open_error = s.error();
    return out;
  }
  out.opened = true;
  std::size_t at = 0;
  for (const step& st : w.steps) {
    issue_step(*s, io, out.appends, at, st.size());
    at += st.size();
    out.ops_after_step.push_back(fs->operation_count());
  }
  out.close_ec = close_wait(*s);
  out.ops_after_close = fs->operation_count();
  return out;
}

// ---------------------------------------------------------------------------
// Invariants

bool parse_marker(std::string_view data, std::size_t& number, std::size_t& i, std::size_t& of) {
  const std::string text(data);
  unsigned long long a = 0, b = 0, c = 0;
  if (std::sscanf(text.c_str(), "{\"append\":%llu,\"i\":%llu,\"of\":%llu", &a, &b, &c) != 3) return false;
  number = a;
  i = b;
  of = c;
  return true;
}

std::string show(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 60)) out += (c >= 32 && c < 127) ? c : '?';
  if (s.size() > 60) out += "...";
  return out + "\"";
}

// Differences between a recorded event and what append `a` wrote as its i-th event.
std::string diff_event(const recorded_event& e, const acked_append& a, std::size_t i) {
  const event_data& want = a.events[i];
  const std::string want_data = want.data.empty() ? "null" : want.data;
  std::string d;
  if (e.stream != a.stream) d += " stream " + show(e.stream) + " != " + show(a.stream) + ";";
  if (e.type != want.type) d += " type " + show(e.type) + " != " + show(want.type) + ";";
  if (e.data != want_data) d += " data " + show(e.data) + " != " + show(want_data) + ";";
  if (e.metadata != want.metadata) d += " metadata " + show(e.metadata) + " != " + show(want.metadata) + ";";
  if (e.id != want.id) d += " id differs;";
  return d;
}

std::string diff_recorded(const recorded_event& x, const recorded_event& y) {
  std::string d;
  if (x.stream != y.stream) d += " stream;";
  if (x.type != y.type) d += " type;";
  if (x.data != y.data) d += " data;";
  if (x.metadata != y.metadata) d += " metadata;";
  if (x.id != y.id) d += " id;";
  if (x.version != y.version) d += " version " + std::to_string(x.version) + "/" + std::to_string(y.version) + ";";
  if (x.position != y.position) d += " position " + std::to_string(x.position) + "/" + std::to_string(y.position) + ";";
  if (x.committed_at != y.committed_at) d += " committed_at;";
  return d;
}

// Checks (a)-(e) on an open store. `appends` are all appends ever issued to
// this directory (acked or not); with require_acked every acked one must be
// present. Returns the violations found (empty: all hold).
std::vector<std::string> check_invariants(store& s, const std::vector<acked_append>& appends, bool require_acked) {
  std::vector<std::string> problems;
  auto fail = [&problems](std::string m) { problems.push_back(std::move(m)); };
  std::map<std::size_t, const acked_append*> by_number;
  for (const acked_append& a : appends) by_number[a.number] = &a;

  auto all = s.read("$all");
  if (!all) {
    fail("(e) read $all failed: " + all.error().message());
    return problems;
  }
  const std::vector<recorded_event>& ev = all->events;
  if (ev.size() != s.event_count()) {
    fail("(c) read $all returned " + std::to_string(ev.size()) + " events, event_count() is " +
         std::to_string(s.event_count()));
  }
  if (!all->end) fail("(c) read $all without a limit did not reach the end");

  // Walk $all: it must be a sequence of whole appends in issue order.
  std::map<std::string, std::uint64_t> stream_count;
  std::map<std::string, std::vector<const recorded_event*>> by_stream;
  std::set<std::size_t> present;
  std::optional<std::size_t> last_number;
  for (std::size_t p = 0; p < ev.size() && problems.empty();) {
    const std::string at = "$all position " + std::to_string(p) + ": ";
    if (ev[p].position != p) {
      fail("(c) " + at + "event says position " + std::to_string(ev[p].position));
      break;
    }
    std::size_t number = 0, i = 0, of = 0;
    if (!parse_marker(ev[p].data, number, i, of) || by_number.count(number) == 0) {
      fail("(a) " + at + "an event nobody appended: data " + show(ev[p].data));
      break;
    }
    const acked_append& a = *by_number[number];
    if (!a.issued) {
      fail("(a) " + at + "append " + std::to_string(number) + " was never issued");
      break;
    }
    if (i != 0) {
      fail("(b) " + at + "starts in the middle of append " + std::to_string(number) + " (event " +
           std::to_string(i) + " of " + std::to_string(of) + ")");
      break;
    }
    if (last_number && number <= *last_number) {
      fail("(b) " + at + "append " + std::to_string(number) + " follows append " + std::to_string(*last_number));
      break;
    }
    last_number = number;
    present.insert(number);
    const std::size_t n = a.events.size();
    if (p + n > ev.size()) {
      fail("(b) append " + std::to_string(number) + " is partial: " + std::to_string(ev.size() - p) + " of " +
           std::to_string(n) + " events in $all");
    }
    std::uint64_t& version = stream_count[a.stream];
    for (std::size_t j = 0; j < n && p + j < ev.size(); ++j) {
      const recorded_event& e = ev[p + j];
      const std::string where = "$all position " + std::to_string(p + j) + ", append " + std::to_string(number) +
                                " event " + std::to_string(j) + ":";
      if (auto d = diff_event(e, a, j); !d.empty()) {
        fail("(b) " + where + d);
        break;
      }
      if (e.position != p + j) fail("(c) " + where + " position " + std::to_string(e.position));
      if (e.version != version) {
        fail("(c) " + where + " version " + std::to_string(e.version) + ", expected " + std::to_string(version));
      }
      if (a.acked && (e.position != a.result.first_position + j || e.version != a.result.first_version + j)) {
        fail("(a) " + where + " acknowledged at position " + std::to_string(a.result.first_position + j) +
             " version " + std::to_string(a.result.first_version + j) + ", found at position " +
             std::to_string(e.position) + " version " + std::to_string(e.version));
      }
      by_stream[a.stream].push_back(&e);
      ++version;
    }
    if (a.acked && (a.result.position + 1 != a.result.first_position + n || a.result.version + 1 != a.result.first_version + n)) {
      fail("append " + std::to_string(number) + ": append_result is inconsistent with its event count");
    }
    p += n;
  }
  if (!problems.empty()) return problems;

  // (a) acknowledged appends are there.
  if (require_acked) {
    for (const acked_append& a : appends) {
      if (a.acked && present.count(a.number) == 0) {
        fail("(a) acknowledged append " + std::to_string(a.number) + " to " + a.stream + " (positions " +
             std::to_string(a.result.first_position) + ".." + std::to_string(a.result.position) + ") is lost");
      }
    }
  }
  // Appends of one session survive as a prefix.
  for (const acked_append& a : appends) {
    if (present.count(a.number) != 0) continue;
    for (const acked_append& later : appends) {
      if (later.session == a.session && later.number > a.number && present.count(later.number) != 0) {
        fail("append " + std::to_string(a.number) + " is missing but the later append " +
             std::to_string(later.number) + " of the same session is present");
        break;
      }
    }
  }

  // (d) every stream agrees with $all, both ways.
  std::set<std::string> names;
  for (const acked_append& a : appends) names.insert(a.stream);
  const std::vector<stream_info> listed = s.list_streams(0, 100000);
  for (const stream_info& info : listed) names.insert(info.name);
  for (const auto& [name, events] : by_stream) names.insert(name);
  for (const std::string& name : names) {
    const auto& want = by_stream[name];
    auto page = s.read(name);
    if (!page) {
      if (page.error().code == errc::stream_not_found && want.empty()) continue;
      fail("(e) read " + name + " failed: " + page.error().message() + " ($all has " + std::to_string(want.size()) +
           " of its events)");
      continue;
    }
    if (page->events.size() != want.size()) {
      fail("(d) stream " + name + " has " + std::to_string(page->events.size()) + " events, $all has " +
           std::to_string(want.size()));
      continue;
    }
    for (std::size_t v = 0; v < want.size(); ++v) {
      if (auto d = diff_recorded(page->events[v], *want[v]); !d.empty()) {
        fail("(d) stream " + name + " version " + std::to_string(v) + " differs from $all:" + d);
        break;
      }
    }
    auto version = s.stream_version(name);
    if (!version) {
      fail("(e) stream_version(" + name + ") failed: " + version.error().message());
    } else if (*version != (want.empty() ? std::nullopt : std::optional<std::uint64_t>(want.size() - 1))) {
      fail("(d) stream_version(" + name + ") disagrees with $all");
    }
  }
  for (const stream_info& info : listed) {
    if (info.event_count != by_stream[info.name].size()) {
      fail("(d) list_streams says " + info.name + " has " + std::to_string(info.event_count) + " events, $all " +
           std::to_string(by_stream[info.name].size()));
    }
  }
  std::size_t nonempty = 0;
  for (const auto& [name, events] : by_stream) nonempty += events.empty() ? 0 : 1;
  if (listed.size() != nonempty) {
    fail("(d) list_streams lists " + std::to_string(listed.size()) + " streams, $all has events of " +
         std::to_string(nonempty));
  }

  // The lazy range over $all agrees with the page.
  auto range = s.events("$all");
  std::size_t k = 0;
  for (const recorded_event& e : range) {
    if (k >= ev.size() || !diff_recorded(e, ev[k]).empty()) {
      fail("(d) events(\"$all\") differs from read(\"$all\") at position " + std::to_string(k));
      break;
    }
    ++k;
  }
  if (range.error()) fail("(e) events(\"$all\") failed: " + range.error()->message());
  if (k != ev.size() && problems.empty()) fail("(d) events(\"$all\") yielded " + std::to_string(k) + " events");
  return problems;
}

// ---------------------------------------------------------------------------
// Crash states

struct crash_mode {
  bool power_loss = false;  // false: only the process died
  power_loss_mode mode = power_loss_mode::synced_only;
  std::uint64_t seed = 0;

  std::string name() const {
    if (!power_loss) return "process-crash";
    switch (mode) {
      case power_loss_mode::synced_only: return "synced_only";
      case power_loss_mode::random_prefix: return "random_prefix/" + std::to_string(seed);
      case power_loss_mode::garbage: return "garbage/" + std::to_string(seed);
    }
    return "?";
  }
};

std::vector<crash_mode> crash_modes(std::uint64_t seed, int seeds_per_mode) {
  std::vector<crash_mode> out{{false}, {true, power_loss_mode::synced_only, seed}};
  for (int i = 0; i < seeds_per_mode; ++i) out.push_back({true, power_loss_mode::random_prefix, seed + i});
  for (int i = 0; i < seeds_per_mode; ++i) out.push_back({true, power_loss_mode::garbage, seed + i});
  return out;
}

void add_problems(std::vector<std::string>& to, const std::vector<std::string>& from, const std::string& prefix) {
  for (const auto& p : from) to.push_back(prefix + p);
}

// Reopens the store left on `mem` and checks it: right after recovery, after
// another power cut following recovery, and after new appends and a reopen.
// `acked_must_survive`: acknowledged appends must be there after recovery.
std::vector<std::string> verify_recovered(const std::shared_ptr<memory_file_system>& mem,
                                          std::vector<acked_append> appends, const workload& w, bool fsync,
                                          bool acked_must_survive, io_thread& io, std::uint64_t seed) {
  std::vector<std::string> problems;
  const store_options opts = options_for(w, fsync, mem);
  {
    auto s = store::open(io.executor(), opts);
    if (!s) {
      problems.push_back("reopen failed: " + s.error().message());
      return problems;
    }
    add_problems(problems, check_invariants(*s, appends, acked_must_survive), "after recovery: ");
    if (auto ec = close_wait(*s)) problems.push_back("close after recovery failed: " + ec.message());
  }
  if (!problems.empty()) return problems;

  // Recovery repaired the files and wrote a checkpoint. In fsync mode that
  // work must be durable: cut power again.
  mem->power_loss(power_loss_mode::synced_only, seed);
  const bool still_required = acked_must_survive && fsync;
  {
    auto s = store::open(io.executor(), opts);
    if (!s) {
      problems.push_back("reopen after recovery + power loss failed: " + s.error().message());
      return problems;
    }
    add_problems(problems, check_invariants(*s, appends, still_required), "after recovery + power loss: ");
    if (auto ec = close_wait(*s)) problems.push_back("close failed: " + ec.message());
  }
  if (!problems.empty()) return problems;

  // (f) The recovered store takes new appends, to an old and a new stream.
  if (!still_required) {
    for (acked_append& a : appends) a.acked = false;  // no longer required to be there
  }
  std::size_t next = 0;
  std::size_t session = 0;
  for (const acked_append& a : appends) {
    next = std::max(next, a.number + 1);
    session = std::max(session, a.session + 1);
  }
  const std::string old_stream = appends.empty() ? "a" : appends.front().stream;
  workload post{"post", {{{old_stream, 1, expect::any, 10, true, true}}, {{"post-crash", 2, expect::no_stream}}}};
  {
    auto s = store::open(io.executor(), opts);
    if (!s) {
      problems.push_back("(f) reopen for new appends failed: " + s.error().message());
      return problems;
    }
    std::vector<acked_append> added = define_appends(post, next, session);
    issue_step(*s, io, added, 0, 1);
    issue_step(*s, io, added, 1, 1);
    for (const acked_append& a : added) {
      if (!a.acked) problems.push_back("(f) append after recovery failed: " + a.ec.message());
      appends.push_back(a);
    }
    if (auto ec = close_wait(*s)) problems.push_back("(f) close failed: " + ec.message());
  }
  if (!problems.empty()) return problems;
  {
    auto s = store::open(io.executor(), opts);
    if (!s) {
      problems.push_back("(f) reopen after new appends failed: " + s.error().message());
      return problems;
    }
    add_problems(problems, check_invariants(*s, appends, true), "(f) after new appends and reopen: ");
    (void)close_wait(*s);
  }
  return problems;
}

// Counts crash states and keeps the first few violations for the report.
struct tally {
  std::uint64_t states = 0;
  std::uint64_t violations = 0;
  std::vector<std::string> first;

  void record(const std::string& label, const std::vector<std::string>& problems) {
    ++states;
    if (problems.empty()) return;
    ++violations;
    if (first.size() < 12) first.push_back(label + ": " + problems.front());
  }
  void report(const std::string& what) const {
    for (const auto& f : first) ADD_FAILURE() << f;
    EXPECT_EQ(violations, 0u) << what;
  }
};

std::string label_of(const workload& w, bool fsync, std::uint64_t k, const crash_mode& m) {
  return w.name + (fsync ? " [fsync]" : " [buffered]") + " crash after op " + std::to_string(k) + ", " + m.name();
}

// One crash state: run `w` with the process dying after k operations, apply
// the crash mode, then reopen and check.
void explore_crash_state(const workload& w, bool fsync, std::uint64_t k, const crash_mode& m, io_thread& io,
                         tally& t) {
  auto mem = std::make_shared<memory_file_system>();
  auto fault = std::make_shared<fault_injecting_file_system>(mem);
  fault->crash_after(k);
  run_output run = run_workload(w, fsync, fault, io);
  if (m.power_loss) mem->power_loss(m.mode, m.seed);
  // Buffered mode promises nothing on power loss; without one, both modes keep
  // every acknowledged append.
  const bool require = fsync || !m.power_loss;
  t.record(label_of(w, fsync, k, m), verify_recovered(mem, run.appends, w, fsync, require, io, m.seed + 1000));
}

std::uint64_t count_operations(const workload& w, bool fsync, io_thread& io) {
  auto fault = std::make_shared<fault_injecting_file_system>(std::make_shared<memory_file_system>());
  run_output run = run_workload(w, fsync, fault, io);
  EXPECT_TRUE(run.opened) << run.open_error.message();
  for (const acked_append& a : run.appends) EXPECT_TRUE(a.acked) << w.name << ": " << a.ec.message();
  EXPECT_FALSE(run.close_ec);
  return fault->operation_count();
}

std::vector<workload> small_workloads() {
  return {
      {"one_stream_single_events",
       {{{"a", 1, expect::no_stream, 0, true}}, {{"a", 1, expect::exactly(0)}}, {{"a", 1, expect::any, 0, false, true}}}},
      {"multi_event_appends",
       {{{"a", 3, expect::no_stream, 200, false, true}}, {{"a", 2, expect::exactly(2), 0, true}}}},
      {"new_stream_midway",
       {{{"a", 2, expect::no_stream}}, {{"b", 1, expect::no_stream, 600, true}}, {{"a", 2, expect::exactly(1), 300}}}},
      {"group_commit_two_streams",
       {{{"a", 1, expect::no_stream}, {"b", 2, expect::no_stream, 100, true}}, {{"b", 1, expect::exactly(1), 0, false, true}}}},
  };
}

std::uint64_t seed_from_env(std::uint64_t fallback) {
  if (const char* s = std::getenv("EVSTORE_POWER_LOSS_SEED")) return std::strtoull(s, nullptr, 0);
  return fallback;
}

// A seeded workload of `appends` appends over `streams` streams, in steps of 1-3
// appends, with exact and existence expectations that hold.
workload random_workload(std::uint64_t seed, std::size_t appends, std::size_t streams) {
  std::mt19937_64 rng(seed);
  auto draw = [&rng](std::uint64_t n) { return rng() % n; };
  workload w{"random_" + std::to_string(seed), {}, 16};
  std::vector<std::uint64_t> count(streams, 0);
  for (std::size_t made = 0; made < appends;) {
    step st;
    const std::size_t n = std::min<std::size_t>(1 + draw(3), appends - made);
    for (std::size_t j = 0; j < n; ++j) {
      append_spec a;
      const std::size_t sid = draw(streams);
      a.stream = "stream-" + std::to_string(sid);
      a.events = 1 + draw(4);
      a.pad = draw(4) == 0 ? 400 + draw(700) : draw(120);
      a.ids = draw(2) == 0;
      a.metadata = draw(3) == 0;
      const auto r = draw(10);
      if (count[sid] == 0) {
        a.expected = r < 5 ? expect::no_stream : expect::any;
      } else if (r < 4) {
        a.expected = expect::exactly(count[sid] - 1);
      } else if (r < 6) {
        a.expected = expect::stream_exists;
      }
      count[sid] += a.events;
      st.push_back(std::move(a));
    }
    made += n;
    w.steps.push_back(std::move(st));
  }
  return w;
}

TEST(power_loss, crash_after_every_operation_small_workloads) {
  io_thread io;
  const std::uint64_t seed = seed_from_env(1);
  tally t;
  std::uint64_t operations = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (bool fsync : {false, true}) {
    for (const workload& w : small_workloads()) {
      const std::uint64_t n = count_operations(w, fsync, io);
      operations += n;
      for (std::uint64_t k = 0; k <= n; ++k) {
        for (const crash_mode& m : crash_modes(seed + k * 16, 3)) explore_crash_state(w, fsync, k, m, io, t);
      }
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "[power_loss] small workloads: crash points " << operations + 8 << ", crash states " << t.states
            << ", violations " << t.violations << " (seed " << seed << ", " << ms.count() << " ms)" << std::endl;
  t.report("seed " + std::to_string(seed));
}

TEST(power_loss, random_crash_points_larger_workloads) {
  io_thread io;
  const std::uint64_t seed = seed_from_env(20240611);
  tally t;
  const auto t0 = std::chrono::steady_clock::now();
  std::mt19937_64 rng(seed);
  for (bool fsync : {false, true}) {
    const workload w = random_workload(seed + (fsync ? 1 : 0), 50, 10);
    const std::uint64_t n = count_operations(w, fsync, io);
    for (const crash_mode& base : crash_modes(0, 1)) {
      for (int i = 0; i < 30; ++i) {
        const std::uint64_t k = rng() % (n + 1);
        crash_mode m = base;
        m.seed = rng();
        explore_crash_state(w, fsync, k, m, io, t);
      }
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::cout << "[power_loss] 50-append workloads over 10 streams: crash states " << t.states << ", violations "
            << t.violations << " (seed " << seed << ", EVSTORE_POWER_LOSS_SEED reproduces; " << ms.count() << " ms)"
            << std::endl;
  t.report("seed " + std::to_string(seed) + " (set EVSTORE_POWER_LOSS_SEED to reproduce)");
}

}  // namespace
