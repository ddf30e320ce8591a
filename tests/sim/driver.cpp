#include "driver.hpp"

#include "catalog.hpp"
#include "checker.hpp"

#include <chrono>
#include <thread>

namespace evstore::sim {
namespace {

// Long enough for a loaded 2-core machine; a step of this small store takes milliseconds.
constexpr auto deadline = std::chrono::seconds(30);

std::string code_name(const boost::system::error_code& ec) {
  if (!ec) return "ok";
  if (ec.category() == category()) return ec.message();
  return ec.category().name() + std::string(":") + std::to_string(ec.value());
}

bool matches(const recorded_event& got, const sim_event& e) {
  const std::string_view data = e.data.empty() ? std::string_view("null") : std::string_view(e.data);
  return got.stream == e.stream && got.type == e.type && got.data == data && got.metadata == e.metadata &&
         got.id == e.id;
}

bool is_read_stream_name(const std::string& s) {
  static const std::vector<std::string> names = [] {
    options all;  // every class on: every name a read stream may have
    return read_stream_names(all);
  }();
  return std::find(names.begin(), names.end(), s) != names.end();
}

}  // namespace

driver::driver(const options& o, std::uint64_t seed)
    : options_(o),
      seed_(seed),
      rng_(seed * 0x9e3779b97f4a7c15ULL + 1),
      trace_(o.verbose),
      work_(io_.get_executor()) {
  fsync_ = o.on("fsync") && rng_.chance(50);
  static const std::uint64_t intervals[] = {1, 2, 5, 16, 65536};
  checkpoint_interval_ = intervals[rng_.below(5)];
  max_open_files_ = rng_.between(8, 40);
  // Half the seeds keep 1..4 writer states: streams leave the cache between
  // most appends, so versions and retries come back from the index and disk.
  writer_stream_cache_ = rng_.chance(50) ? rng_.between(1, 4) : 65536;
  // The stream index's block cache: none, one that keeps a single block a
  // shard (every other lookup evicts), or the default.
  index_cache_bytes_ = rng_.chance(30) ? 0 : rng_.chance(50) ? 1 : std::size_t{32} << 20;
  disk_ = std::make_shared<memory_file_system>();
  write_faults_ = std::make_shared<fault_injecting_file_system>(disk_);
  writer_fs_ = std::make_shared<read_fault_file_system>(write_faults_);
  follower_fs_ = std::make_shared<read_fault_file_system>(disk_);
  trace_.add("seed " + std::to_string(seed) + (fsync_ ? " durable" : " buffered") + " checkpoint_interval " +
             std::to_string(checkpoint_interval_) + " max_open_files " + std::to_string(max_open_files_) +
             " writer_stream_cache " + std::to_string(writer_stream_cache_) + " index_cache_bytes " +
             std::to_string(index_cache_bytes_));
}

driver::~driver() {
  try {
    follower_.reset();
    drop_writer();
  } catch (const std::exception&) {
    // A violation while tearing down adds nothing to the one reported.
  }
}

run_result driver::run() {
  current_seed.store(seed_);
  current_step.store(0);
  try {
    open_writer();
    settle();
    check();
    for (step_ = 1; step_ <= options_.steps; ++step_) {
      const world w{writer_.has_value(), writer_failed_ || indexer_failed_, follower_.has_value(), fsync_};
      const op_kind k = next_op(rng_, options_, w);
      trace_.add("step " + std::to_string(step_) + " " + name_of(k));
      step(k);
      ++result_.ops;
    }
    step_ = options_.steps;
    // The end: the writer up, every subscription delivered everything.
    if (!writer_ || writer_failed_ || indexer_failed_) {
      if (writer_) close_writer();
      open_writer();
    }
    settle();
    check();
    finish_subscriptions();
    if (follower_) follower_refresh();
  } catch (const violation& v) {
    result_.violation = v.what();
    trace_.add(std::string("violation: ") + v.what());
  }
  result_.steps = step_;
  result_.hash = trace_.hash();
  return result_;
}

void driver::step(op_kind k) {
  current_step.store(step_);
  const bool needs_writer = k != op_kind::follower_open && k != op_kind::follower_refresh &&
                            k != op_kind::follower_read && k != op_kind::follower_close &&
                            k != op_kind::restart && k != op_kind::power_loss;
  if (needs_writer && !writer_) {
    trace_.add("  skipped: writer down");
    return;
  }
  if (writer_) arm_churn();
  switch (k) {
    case op_kind::append: {
      std::vector<append_request> requests;
      const std::size_t n = rng_.chance(60) ? 1 : rng_.between(2, 3);
      for (std::size_t i = 0; i < n; ++i) requests.push_back(make_append(rng_, options_, model_, nonce_));
      append_step(std::move(requests), plan_write_fault(rng_, options_));
      break;
    }
    case op_kind::retry: {
      auto r = make_retry(rng_, model_, failed_requests_);
      if (!r) {
        trace_.add("  nothing to retry");
        break;
      }
      append_step({std::move(*r)}, plan_write_fault(rng_, options_));
      break;
    }
    case op_kind::read_with_fault: read_with_fault(); break;
    case op_kind::subscribe: subscribe(); break;
    case op_kind::consumer: consumer_step(plan_write_fault(rng_, options_)); break;
    case op_kind::create_read_stream: create_read_stream(plan_write_fault(rng_, options_)); break;
    case op_kind::delete_read_stream: delete_read_stream(plan_write_fault(rng_, options_)); break;
    case op_kind::follower_open: follower_open(); break;
    case op_kind::follower_refresh: follower_refresh(); break;
    case op_kind::follower_read: follower_read(); break;
    case op_kind::follower_race: follower_race(); break;
    case op_kind::follower_close:
      follower_.reset();
      follower_loaded_.clear();
      break;
    case op_kind::backup:
      if (writer_failed_ || indexer_failed_) {
        trace_.add("  skipped: writer failed");
        break;
      }
      backup();
      break;
    case op_kind::restart:
      if (writer_) close_writer();
      open_writer();
      break;
    case op_kind::kill:
      kill_writer(false);
      if (rng_.chance(50)) open_writer();
      break;
    case op_kind::power_loss:
      kill_writer(true);
      if (rng_.chance(50)) open_writer();
      break;
    case op_kind::close_backfill: close_during_backfill(); break;
  }
  if (writer_) {
    settle();
    check();
  }
  settle_churn();
}

store_options driver::writer_options() {
  store_options o;
  o.directory = directory;
  o.fsync_on_flush = fsync_;
  o.file_system = writer_fs_;
  o.system_streams = true;
  o.max_open_files = max_open_files_;
  o.writer_stream_cache = writer_stream_cache_;
  o.index_cache_bytes = index_cache_bytes_;
  o.checkpoint_interval = checkpoint_interval_;
  return o;
}

void driver::arm(const fault_plan& f) {
  switch (f.what) {
    case fault_plan::kind::none: break;
    case fault_plan::kind::write_error: write_faults_->fail_operation(f.k, f.ec, f.persistent); break;
    case fault_plan::kind::crash: write_faults_->crash_after(f.k); break;
    case fault_plan::kind::read_error: writer_fs_->fail_read(f.k); break;
  }
  if (f.what != fault_plan::kind::none) trace_.add("  fault armed: " + f.describe());
  fault_armed_ = f.what != fault_plan::kind::none;
}

bool driver::disarm(const fault_plan& f, std::uint64_t ops_before) {
  write_faults_->clear_faults();
  const bool read_fired = writer_fs_->clear();
  const std::uint64_t ops = write_faults_->operation_count() - ops_before;
  bool fired = false;
  switch (f.what) {
    case fault_plan::kind::none: break;
    case fault_plan::kind::write_error: fired = ops >= f.k; break;
    case fault_plan::kind::crash: fired = ops > f.k; break;
    case fault_plan::kind::read_error: fired = read_fired; break;
  }
  if (fired) {
    ++result_.faults;
    trace_.add("  fault fired");
    fault_fired_since_open_ = true;
  }
  // A crash fault leaves every later operation failing until the kill: still "armed".
  fault_armed_ = fault_armed_ && f.what == fault_plan::kind::crash && fired;
  return fired;
}

void driver::open_writer() {
  const fault_plan f = plan_open_fault(rng_, options_);
  arm(f);
  auto s = store::open(io_.get_executor(), writer_options());
  const bool fired = disarm(f, write_faults_->operation_count());
  trace_.add("  open writer: " + (s ? std::string("ok") : code_name(s.error().code)));
  if (!s) {
    expect(fired, "writer: open failed without an injected fault: " + s.error().message());
    run_queued();
    s = store::open(io_.get_executor(), writer_options());
    expect(s.has_value(), "writer: open failed again after a read error: " + (s ? "" : s.error().message()));
  }
  writer_.emplace(std::move(*s));
  writer_failed_ = indexer_failed_ = false;
  // A read error at open may have hit the indexer's first step, which runs meanwhile.
  fault_fired_since_open_ = fired;
  model_.writer_failed = model_.writer_may_have_failed = false;
  reconcile();
}

void driver::reconcile() {
  store& w = *writer_;
  const std::uint64_t acked = model_.all().size();
  const std::uint64_t n = w.event_count();
  expect(n >= acked, "writer: acknowledged events lost on reopen: " + std::to_string(n) + " events, " +
                         std::to_string(acked) + " acknowledged");
  // What the store holds beyond the acknowledged events must be whole in-doubt
  // appends, in the order they were made.
  std::vector<recorded_event> tail;  // events own their bytes
  for (std::uint64_t from = acked; from < n;) {
    auto p = w.read("$all", {.from = from, .max_count = 64});
    expect(p.has_value(), "writer: reading $all after reopen: " + (p ? "" : p.error().message()));
    if (p->events.empty()) break;
    from += p->events.size();
    tail.insert(tail.end(), p->events.begin(), p->events.end());
  }
  std::size_t at = 0;
  for (const append_request& r : model_.in_doubt()) {
    bool kept = tail.size() - at >= r.events.size();
    for (std::size_t i = 0; kept && i < r.events.size(); ++i) kept = matches(tail[at + i], r.events[i]);
    trace_.add("  in doubt: " + r.stream + " x" + std::to_string(r.events.size()) +
               (kept ? " kept" : " gone"));
    if (!kept) continue;
    expect(model_.predict(r).what == outcome::written,
           "writer: kept an in-doubt append that should not be written");
    model_.apply(r);
    at += r.events.size();
  }
  expect(at == tail.size(), "writer: reopened with " + std::to_string(tail.size() - at) +
                                " events no append made whole (from position " + std::to_string(acked + at) +
                                ")");
  model_.clear_in_doubt();

  if (!model_.read_streams_in_doubt.empty()) {
    for (const std::string& name : model_.read_streams_in_doubt) model_.read_streams.erase(name);
    for (const auto& rs : w.list_read_streams()) model_.read_streams[rs.name] = rs.filter;
    model_.read_streams_in_doubt.clear();
  }
  for (auto& [key, c] : model_.consumers) {
    auto st = w.consumer_state(key.first, key.second);
    const std::uint64_t pos = st ? st->position : 0;
    const std::string state = st ? st->state : std::string();
    expect(c.may_hold(pos, state), "writer: consumer " + key.first + "/" + key.second + " stored at " +
                                       std::to_string(pos) + ", committed " + c.describe());
  }
  trace_.add("  reconciled: " + std::to_string(model_.all().size()) + " events");
  // Subscriptions of a read stream that an in-doubt delete removed: gone with it.
  for (std::size_t i = 0; i < subs_.size();) {
    const std::string& st = subs_[i]->stream;
    if (is_read_stream_name(st) && !model_.read_streams.contains(st)) {
      subs_.erase(subs_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  resubscribe();
}

void driver::close_writer() {
  hook_.countdown = -1;
  for (auto& s : subs_) s->sub.reset();
  if (options_.on("sub-churn")) {
    for (auto& s : subs_) await_end(*s, "destroyed before close()");
  }
  drive(
      [&] {
        for (auto& s : subs_) {
          if (s->pending) return false;
        }
        return true;
      },
      "cancelling subscriptions");
  bool done = false;
  boost::system::error_code ec;
  writer_->close([&](boost::system::error_code e) {
    ec = e;
    done = true;
  });
  drive([&] { return done; }, "close");
  trace_.add("  close: " + code_name(ec));
  expect(!ec || writer_failed_ || indexer_failed_, "writer: close failed: " + ec.message());
  drop_writer();
}

void driver::drop_writer() {
  hook_.countdown = -1;
  for (auto& s : subs_) s->sub.reset();
  writer_.reset();
  // Pending completions (cancelled subscriptions, the engine's last references).
  run_queued();
  // The engine's I/O thread may hold the last reference for a moment (a
  // checkpoint or a segment prepared ahead, handing back to the strand): the
  // writer lock goes with the store, so wait for it as a restarted process
  // would wait for the old one to exit (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto held = disk_->lock(std::string(directory) + "/LOCK")) break;
    run_queued();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& s : subs_) {
    if (options_.on("sub-churn")) {
      expect(s->callback ? s->ended : !s->pending,
             "subscription " + s->stream + (s->callback ? " (callback)" : "") + ": destroyed " +
                 (s->churned ? "while in use (sub-churn), then its store: " : "with its store: ") +
                 (s->callback ? "no final error" : "the pending next() never completed"));
    }
    // Taken up again by a new subscription when the writer reopens.
    s->pending = s->ended = false;
    s->end = {};
  }
  std::erase_if(subs_, [](const auto& s) { return s->churned; });
}

void driver::kill_writer(bool power_loss) {
  if (writer_) {
    write_faults_->crash_after(0);  // from now on nothing the dying process does reaches the disk
    drop_writer();
    write_faults_->clear_faults();
  }
  ++result_.crashes;
  if (power_loss) {
    follower_.reset();  // the follower's machine lost power too
    follower_loaded_.clear();
    const power_loss_mode mode = pick_power_loss(rng_);
    disk_->power_loss(mode, rng_.next());
    trace_.add(std::string("  power loss: ") + name_of(mode));
  } else {
    trace_.add("  killed");
  }
}

void driver::drive(const std::function<bool()>& done, const std::string& what) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    io_.run_one_for(std::chrono::milliseconds(10));
    expect(std::chrono::steady_clock::now() < end || done(), "writer: " + what + " never completed");
  }
}

void driver::run_queued() {
  while (io_.poll() > 0) {
  }
}

void driver::settle() {
  if (!writer_) return;
  // The indexer of this small store needs milliseconds; a stuck one should not cost 30 s.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    run_queued();
    const auto st = writer_->statistics();
    if (st.indexer_error) {
      indexer_stopped(st.indexer_error);
      break;
    }
    bool building = false;
    for (const auto& rs : writer_->list_read_streams()) building = building || rs.building;
    if (st.indexed >= writer_->event_count() && !building) break;
    expect(std::chrono::steady_clock::now() < end, "writer: indexer stuck at " + std::to_string(st.indexed) +
                                                       " of " + std::to_string(writer_->event_count()));
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  run_queued();
}

void driver::check() {
  if (!writer_) return;
  check_writer(*writer_, options_, model_, rng_, !indexer_failed_ && model_.read_streams_in_doubt.empty());
}

}  // namespace evstore::sim
