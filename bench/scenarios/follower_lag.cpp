// (j) follower lag: a writer and a read-only follower on one directory.
#include "harness.hpp"

namespace evstore::bench {

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
    auto sub = follower.subscribe(
        "$all", {.from = evstore::from_end},
        [st](boost::system::error_code ec, const evstore::subscription_batch& b) { st->on_batch(ec, b); });
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
      writer.append(
          "orders", make_event(i), evstore::expect::any,
          [st, i](boost::system::error_code ec, evstore::append_result r) { st->on_ack(i, ec, r); });
      std::unique_lock lock(st->m);
      if (!st->cv.wait_for(lock, std::chrono::seconds(10), [&] {
            return st->error || st->out_of_order || st->ended || (st->acked > i && st->delivered > i);
          })) {
        throw std::runtime_error(
            "event " + std::to_string(i) + " (position " + std::to_string(st->base + i) +
            "): " + (st->acked > i ? "acknowledged but not delivered to the follower" : "not acknowledged") +
            " within 10 s");
      }
      if (st->error) throw std::runtime_error("follower lag: " + st->error.message());
      if (st->out_of_order)
        throw std::runtime_error("the follower saw a gap, a duplicate or a wrong position");
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
    const auto d =
        std::chrono::duration_cast<std::chrono::nanoseconds>(st->delivered_at[i] - st->acked_at[i]).count();
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
  std::fprintf(stderr, "j) follower lag: %zu single appends, each after the previous was delivered + 1 ms\n",
               n);
  for (bool durable : {false, true}) {
    const lag_outcome o = run_follower_lag(ctx.cfg, durable, n, gap);
    row r;
    r.scenario = "j";
    r.variant =
        std::string("follower lag, ") + (durable ? "durable" : "buffered") + " writer, $all subscriber";
    r.events = o.events;
    r.seconds = o.seconds;
    r.events_per_s = static_cast<double>(o.events) / o.seconds;
    r.mb_per_s = static_cast<double>(o.events * record_bytes(event_type, payload(0), {})) / o.seconds / 1e6;
    r.figures = "ack to follower delivery: **p50 " + fmt(o.lag.p50_us, 0) + " us, p99 " +
                fmt(o.lag.p99_us, 0) + " us, max " + fmt(o.lag.max_us, 0) +
                " us**; append() call to delivery p50 " + fmt(o.from_call.p50_us, 0) + " us, p99 " +
                fmt(o.from_call.p99_us, 0) + " us; " + fmt_int(static_cast<double>(o.over_5ms)) +
                " over 5 ms, " + fmt_int(static_cast<double>(o.before_ack)) + " before the ack; " +
                fmt_int(static_cast<double>(o.batches)) + " batches";
    r.extra["durable"] = durable;
    r.extra["gap_ms"] = 1;
    r.extra["follow_poll_interval_ms"] = 100;
    r.extra["lag"] = json::object{{"p50_us", o.lag.p50_us},
                                  {"p99_us", o.lag.p99_us},
                                  {"max_us", o.lag.max_us},
                                  {"min_us", o.lag.min_us},
                                  {"mean_us", o.lag.mean_us}};
    r.extra["append_call_to_delivery"] = json::object{{"p50_us", o.from_call.p50_us},
                                                      {"p99_us", o.from_call.p99_us},
                                                      {"max_us", o.from_call.max_us},
                                                      {"min_us", o.from_call.min_us},
                                                      {"mean_us", o.from_call.mean_us}};
    r.extra["over_5ms"] = o.over_5ms;
    r.extra["delivered_before_ack"] = o.before_ack;
    r.extra["batches"] = o.batches;
    add(std::move(r));
  }
}

}  // namespace evstore::bench
