// Writes the format-1 fixtures of tests/data/v1 (README.md there): stores the
// format-1 engine writes, each with what that engine reads from it after its
// own recovery. It builds only at commits that still have the format-1 engine
// (target evstore_v1_fixtures, not built by default); afterwards this source
// stays as the record of how the fixtures were made.
//
//   generate_fixtures <output directory>
//
// The stores are made as tests/migrate_v1_reader_test.cpp made them when it
// still ran the engine; every expectation is read back from the engine on a
// copy of the files, never from what the generator meant to write.
#include "support/store_fixture.hpp"
#include "support/v1_fixture.hpp"
#include <evstore/store.hpp>
#include <evstore/testing/fault_injecting_file_system.hpp>
#include <evstore/testing/memory_file_system.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace evstore;
using namespace evstore::testing;
using namespace evstore::test;
using namespace std::chrono_literals;
using v1::disk_image;
using v1::store_expectation;
using v1::v1_event;

namespace {

const std::string dir = "/s";
// 200 upper-case bytes encode to 600 ("%4C" each): a file name split into nested directories.
const std::string long_name = std::string(199, 'L') + "1";

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

// The appends a store took, by their results: the commit fields of $all.
class commits {
 public:
  void append(store& s, const std::string& stream, std::vector<event_data> events) {
    auto r = append_wait(s, stream, std::move(events));
    check(!r.ec, "append to " + stream + ": " + r.ec.message());
    ranges_.push_back({r.result.first_position, r.result.position});
  }

  void fill(v1_event& e) const {
    for (const auto& [first, last] : ranges_) {
      if (e.position < first || e.position > last) continue;
      e.commit_first_position = first;
      e.commit_count = static_cast<std::uint32_t>(last - first + 1);
      e.commit_end = e.position == last;
    }
  }

 private:
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges_;
};

v1_event event_of(const recorded_event& e) {
  return {std::string(e.stream),
          e.version,
          e.position,
          e.committed_at,
          e.id,
          std::string(e.type),
          std::string(e.data),
          std::string(e.metadata)};
}

struct opened {
  std::optional<io_thread> io;
  result<store> s = error(errc::invalid_argument);
};

// Opens (recovers) a copy of `image`: the image itself is never written.
std::unique_ptr<opened> open_copy(const disk_image& image, bool durable) {
  auto o = std::make_unique<opened>();
  o->io.emplace();
  o->s = store::open(o->io->executor(),
                     {.directory = dir, .fsync_on_flush = durable, .file_system = v1::disk_of(image, dir)});
  return o;
}

// What the engine reads from `image` after its recovery: $all (commit fields
// from `c`, none without), read-stream definitions and consumer checkpoints.
store_expectation expect(const disk_image& image, bool durable, const commits* c, std::string made_by) {
  auto o = open_copy(image, durable);
  check(o->s.has_value(), made_by + ": recovery refused: " + (o->s ? "" : o->s.error().message()));
  store& s = *o->s;
  store_expectation x;
  x.made_by = std::move(made_by);
  x.has_commit_fields = c != nullptr;
  auto page = s.read("$all");
  check(page.has_value(), "reading $all");
  for (const recorded_event& e : page->events) {
    x.events.push_back(event_of(e));
    if (c) c->fill(x.events.back());
  }
  for (const read_stream_info& r : s.list_read_streams())
    x.read_streams.push_back({r.name, r.filter.to_json(), !r.building});
  auto consumers = s.list_consumers();
  check(consumers.has_value(), "listing consumers");
  for (const consumer_info& k : *consumers) x.consumers.push_back({k.stream, k.name, k.position, k.state});
  std::sort(x.consumers.begin(), x.consumers.end(), [](const auto& a, const auto& b) {
    return std::tie(a.stream, a.name) < std::tie(b.stream, b.name);
  });
  check(close_wait(s) == boost::system::error_code{}, "closing the recovered copy");
  return x;
}

// What the engine does with a damaged `image`: refuses it (opens false, the
// error), opens it but fails reading $all (opens true, the error: damage
// recovery did not look at), or reads event_count events.
v1::recovery_outcome recover(const disk_image& image, bool durable) {
  auto o = open_copy(image, durable);
  if (!o->s) return {false, o->s.error().message(), 0};
  auto page = o->s->read("$all");
  v1::recovery_outcome out{true, page ? std::string() : page.error().message(),
                           page ? page->events.size() : 0};
  (void)close_wait(*o->s);
  return out;
}

disk_image image_of(const memory_file_system& fs) { return v1::image_of(fs, dir); }

boost::system::error_code create_read_stream_wait(store& s, const std::string& name, filter f) {
  auto done = std::make_shared<std::promise<boost::system::error_code>>();
  s.create_read_stream(name, std::move(f), [done](boost::system::error_code ec) { done->set_value(ec); });
  auto fut = done->get_future();
  if (fut.wait_for(30s) != std::future_status::ready) return make_error_code(boost::system::errc::timed_out);
  return fut.get();
}

// A mix of streams and events: interleaved appends, commits of several
// events, ids and metadata or none, empty data, a very long stream name.
void append_mix(store& s, commits& c, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    const std::string n = std::to_string(i);
    c.append(s, "order-" + std::to_string(i % 5),
             {event_data{"Placed", R"({"n":)" + n + "}", R"({"by":"test"})", random_id()},
              event_data{"Paid", R"({"total":12.5})", {}, {}}, event_data{"Shipped", "", {}, random_id()}});
    c.append(s, "Cart-" + std::to_string(i % 3), {make_event("Added", R"({"sku":")" + n + "\"}")});
    if (i % 4 == 0) c.append(s, long_name, {event_data{"Long", "", R"({"m":1})", {}}});
  }
}

using fixture_stores = std::pair<std::map<std::string, disk_image>, std::map<std::string, store_expectation>>;

// "mixed": a closed buffered store with a small checkpoint interval (open
// scans the entries past the last checkpoint), a read stream and a consumer.
fixture_stores mixed() {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  commits c;
  {
    auto s = store::open(io.executor(), {.directory = dir, .file_system = mem, .checkpoint_interval = 16});
    check(s.has_value(), "open");
    append_mix(*s, c, 10);
    for (int i = 0; i < 20; ++i) c.append(*s, "bulk", make_events(10));
    check(!create_read_stream_wait(*s, "paid", filter::event_types({"Paid"}).where("/total", "12.5")),
          "create_read_stream");
    {
      auto consumer = s->consumer("order-1", "billing");
      check(consumer.has_value(), "consumer");
      check(!commit_wait(*consumer, 4, R"({"seen":4})"), "commit");
    }
    check(!close_wait(*s), "close");
  }
  const disk_image image = image_of(*mem);
  return {
      {{"mixed", image}},
      {{"mixed", expect(image, false, &c,
                        "buffered, checkpoint_interval 16: append_mix 10 rounds, 20 appends of 10 events to "
                        "bulk, read stream paid, consumer order-1/billing at 4; closed")}}};
}

// "bulk": one stream of 1,000 events (50 appends of 20), closed.
fixture_stores bulk() {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  commits c;
  {
    auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
    check(s.has_value(), "open");
    for (int i = 0; i < 50; ++i) c.append(*s, "bulk", make_events(20));
    check(!close_wait(*s), "close");
  }
  const disk_image image = image_of(*mem);
  return {{{"bulk", image}},
          {{"bulk", expect(image, false, &c, "buffered: 50 appends of 20 events to bulk; closed")}}};
}

// "journal": a durable store whose last flushes are only in the journal (the
// data files hold what the last checkpoint covers): closed once, reopened,
// appended to, then power lost (synced bytes only).
fixture_stores journal() {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  const store_options options{.directory = dir, .fsync_on_flush = true, .file_system = mem};
  commits c;
  {
    auto s = store::open(io.executor(), options);
    check(s.has_value(), "open");
    append_mix(*s, c, 4);
    check(!close_wait(*s), "close");
  }
  auto s = store::open(io.executor(), options);
  check(s.has_value(), "reopen");
  append_mix(*s, c, 6);
  c.append(*s, "new-after-checkpoint", make_events(3));
  mem->power_loss(power_loss_mode::synced_only, 1);
  const disk_image image = image_of(*mem);
  store_expectation x =
      expect(image, true, &c,
             "durable: append_mix 4 rounds, closed; reopened, append_mix 6 rounds, 3 events to "
             "new-after-checkpoint; power lost (synced_only)");
  check(v1::all_entries(image) < x.events.size(), "the journal holds no flush past the checkpoint");
  return {{{"journal", image}}, {{"journal", std::move(x)}}};
}

// "buffered_crash": stores last1, last2, last3: buffered, append_mix 3 rounds
// then one append of N events to "last", left as a process crash leaves them
// (never closed); with what recovery does with each damage recipe.
fixture_stores buffered_crash() {
  fixture_stores out;
  for (const std::size_t last : {1, 2, 3}) {
    const std::string name = "last" + std::to_string(last);
    io_thread io;
    auto mem = std::make_shared<memory_file_system>();
    commits c;
    auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
    check(s.has_value(), "open");
    append_mix(*s, c, 3);
    c.append(*s, "last", make_events(last));
    const disk_image image = image_of(*mem);
    store_expectation x = expect(image, false, &c,
                                 "buffered: append_mix 3 rounds, " + std::to_string(last) +
                                     " events to last; never closed (a process crash)");
    disk_image cut = image;
    v1::cut_last_all_entry(cut);
    x.damaged["cut_last_all_entry"] = recover(cut, false);
    disk_image torn = image;
    v1::tear_last_record(torn, "last");
    x.damaged["tear_last_record"] = recover(torn, false);
    disk_image flipped = image;
    v1::flip_second_catalog_record(flipped, x.events.at(0).stream);
    x.damaged["flip_second_catalog_record"] = recover(flipped, false);
    out.first[name] = image;
    out.second[name] = std::move(x);
  }
  return out;
}

// "closed": a closed buffered store, append_mix 6 rounds.
fixture_stores closed() {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  commits c;
  {
    auto s = store::open(io.executor(), {.directory = dir, .file_system = mem});
    check(s.has_value(), "open");
    append_mix(*s, c, 6);
    check(!close_wait(*s), "close");
  }
  const disk_image image = image_of(*mem);
  return {{{"closed", image}},
          {{"closed", expect(image, false, &c, "buffered: append_mix 6 rounds; closed")}}};
}

// Appends to three streams at once (one flush, group commit, when they land in
// one tick) until the file system fails them all or `rounds` are done.
void append_until_the_crash(store& s, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::future<boost::system::error_code>> done;
    for (const std::string& stream : {"order-" + std::to_string(round % 2), "new-" + std::to_string(round),
                                      round % 3 == 0 ? long_name : std::string("cart")}) {
      auto p = std::make_shared<std::promise<boost::system::error_code>>();
      done.push_back(p->get_future());
      s.append(stream,
               {event_data{"A", R"({"r":)" + std::to_string(round) + "}", R"({"m":1})", random_id()},
                event_data{"B", "", {}, {}}},
               expect::any, [p](boost::system::error_code ec, const append_result&) { p->set_value(ec); });
    }
    bool failed = false;
    for (auto& f : done) {
      if (f.wait_for(10s) != std::future_status::ready || f.get()) failed = true;
    }
    if (failed) return;
  }
}

// "crash_buffered", "crash_durable": a store (checkpoint interval 8) crashed
// after `crash_at` writes, for a sample of crash points, then power lost
// (random_prefix, torn_bytes) or not (process_crash: the files as the writes
// before the crash left them). A buffered store never syncs, so a power loss
// leaves it empty: its interesting states are the process crashes. States
// recovery refuses are left out (nothing to compare).
enum class crash_kind { process_crash, random_prefix, torn_bytes };

void crash(fixture_stores& out, bool durable, crash_kind kind, std::uint64_t from, std::uint64_t to,
           std::uint64_t step) {
  const char* kind_name = kind == crash_kind::process_crash
                              ? "process_crash"
                              : (kind == crash_kind::random_prefix ? "random_prefix" : "torn_bytes");
  int refused = 0;
  int kept = 0;
  for (std::uint64_t crash_at = from; crash_at < to; crash_at += step) {
    auto mem = std::make_shared<memory_file_system>();
    {
      auto faulty = std::make_shared<fault_injecting_file_system>(mem);
      io_thread io;
      auto s = store::open(
          io.executor(),
          {.directory = dir, .fsync_on_flush = durable, .file_system = faulty, .checkpoint_interval = 8});
      check(s.has_value(), "open");
      faulty->crash_after(crash_at);
      append_until_the_crash(*s, 30);
    }
    if (kind == crash_kind::random_prefix) mem->power_loss(power_loss_mode::random_prefix, crash_at);
    if (kind == crash_kind::torn_bytes) mem->power_loss(power_loss_mode::torn_bytes, crash_at);
    const disk_image image = image_of(*mem);
    if (!open_copy(image, durable)->s) {
      ++refused;
      continue;
    }
    char name[64];
    std::snprintf(name, sizeof name, "w%03llu-%s", static_cast<unsigned long long>(crash_at), kind_name);
    out.first[name] = image;
    out.second[name] =
        expect(image, durable, nullptr,
               std::string(durable ? "durable" : "buffered") +
                   ", checkpoint_interval 8: 30 rounds of appends to 3 streams, crashed after " +
                   std::to_string(crash_at) + " writes, " + kind_name);
    // The crash states never hold a commit cut in $all (a process crash cuts
    // between whole writes, a buffered store loses every unsynced byte to a
    // power loss, a durable one restores $all from its journal), so cut the
    // last entry of a buffered store's $all too: recovery then ends $all at
    // the commit before when the last append had several events.
    if (kind == crash_kind::process_crash && v1::all_entries(image) > 0) {
      disk_image cut = image;
      v1::cut_last_all_entry(cut);
      out.second[name].damaged["cut_last_all_entry"] = recover(cut, durable);
    }
    ++kept;
  }
  std::cerr << (durable ? "durable " : "buffered ") << kind_name << ": " << kept << " states, " << refused
            << " refused by recovery\n";
}

// Crash points, sampled to keep the fixtures ~2 MB (a state of ~30 events
// weighs ~20 KB): every 27th write for process crashes of a buffered store,
// every 54th for its power losses (they leave it empty), every 18th for a
// durable store.
fixture_stores crash_buffered() {
  fixture_stores out;
  crash(out, false, crash_kind::process_crash, 2, 400, 27);
  crash(out, false, crash_kind::random_prefix, 2, 400, 54);
  crash(out, false, crash_kind::torn_bytes, 2, 400, 54);
  return out;
}

fixture_stores crash_durable() {
  fixture_stores out;
  crash(out, true, crash_kind::random_prefix, 2, 400, 18);
  crash(out, true, crash_kind::torn_bytes, 2, 400, 18);
  return out;
}

// "realistic": a durable store an application could have: 5 streams of
// orders, customers and stock, ~200 events in appends of 1 to 4, ids on most,
// metadata on some; a read stream of paid orders and two consumers; closed.
fixture_stores realistic() {
  io_thread io;
  auto mem = std::make_shared<memory_file_system>();
  commits c;
  {
    auto s = store::open(
        io.executor(),
        {.directory = dir, .fsync_on_flush = true, .file_system = mem, .checkpoint_interval = 64});
    check(s.has_value(), "open");
    const std::vector<std::string> streams = {"order-1001", "order-1002", "customer-c7", "stock-sku42",
                                              "customer-c9"};
    std::size_t total = 0;
    for (int i = 0; total < 200; ++i) {
      const std::string& stream = streams[static_cast<std::size_t>(i * 7 % 5)];
      std::vector<event_data> events;
      for (int k = 0; k <= i % 4; ++k) {
        const std::string n = std::to_string(i * 4 + k);
        events.push_back(
            event_data{k == 0 ? "Created" : (k == 1 ? "Paid" : "Updated"),
                       R"({"n":)" + n + R"(,"total":)" + std::to_string(10 + i % 17) +
                           R"(.25,"note":"caf\u00e9 \"x\""})",
                       i % 3 == 0 ? std::string(R"({"correlation":")") + n + "\"}" : std::string(),
                       i % 5 == 4 ? std::optional<boost::uuids::uuid>() : random_id()});
      }
      total += events.size();
      c.append(*s, stream, std::move(events));
    }
    check(!create_read_stream_wait(*s, "paid-orders", filter::category("order").where("/total", "12.25")),
          "create_read_stream");
    for (const auto& [stream, name, position] :
         {std::tuple{"order-1001", "billing", 5}, std::tuple{"customer-c7", "mailer", 2}}) {
      auto consumer = s->consumer(stream, name);
      check(consumer.has_value(), "consumer");
      check(!commit_wait(*consumer, position, R"({"handled":)" + std::to_string(position) + "}"), "commit");
    }
    check(!close_wait(*s), "close");
  }
  const disk_image image = image_of(*mem);
  return {{{"realistic", image}},
          {{"realistic",
            expect(image, true, &c,
                   "durable, checkpoint_interval 64: ~200 events in appends of 1 to 4 to 5 streams, "
                   "read stream paid-orders, consumers order-1001/billing at 5, customer-c7/mailer at "
                   "2; closed")}}};
}

void write(const std::string& out_dir, const std::string& name, const fixture_stores& f) {
  auto fs = posix_file_system();
  for (const auto& [ext, bytes] :
       {std::pair{".v1img", v1::to_archive(f.first)}, std::pair{".json", v1::to_json(f.second)}}) {
    std::string path = out_dir;
    path.append("/").append(name).append(ext);
    auto file = fs->open(path, open_mode::read_write_create);
    check(file.has_value(), "creating " + path);
    check(!(*file)->truncate(0), "truncating " + path);
    check(!(*file)->write_at(0, std::as_bytes(std::span(bytes))), "writing " + path);
    std::cerr << path << ": " << bytes.size() << " bytes\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: generate_fixtures <output directory>\n";
    return 2;
  }
  const std::string out = argv[1];
  try {
    write(out, "mixed", mixed());
    write(out, "bulk", bulk());
    write(out, "journal", journal());
    write(out, "buffered_crash", buffered_crash());
    write(out, "closed", closed());
    write(out, "crash_buffered", crash_buffered());
    write(out, "crash_durable", crash_durable());
    write(out, "realistic", realistic());
  } catch (const std::exception& e) {
    std::cerr << "generate_fixtures: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
