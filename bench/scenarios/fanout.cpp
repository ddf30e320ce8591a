// (h) live-subscription fan-out to 100 and 1000 subscribers.
#include "harness.hpp"

namespace evstore::bench {

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
    bool out_of_order = false;        // a gap or a duplicate
    boost::system::error_code error;  // other than operation_aborted
  };

  fanout_state(std::size_t subscribers, std::uint64_t events)
      : total(events),
        subs(subscribers),
        to_catch_up(subscribers),
        to_finish(subscribers),
        to_end(subscribers) {
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
      if (b.events.front().version != s.received ||
          b.events.back().version != s.received + b.events.size() - 1) {
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
  std::uint64_t events = 0;    // appended
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
    auto sub = own_loop
                   ? s.subscribe("orders", options, readers->executor())
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
    if (sub.received != n)
      throw std::runtime_error("a subscriber received " + std::to_string(sub.received) + " events");
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
  std::fprintf(stderr, "  h appends alone (no subscribers), median of 3     %12s ev/s\n",
               fmt_int(alone_eps).c_str());
  for (std::size_t subscribers : {std::size_t{100}, std::size_t{1000}}) {
    for (bool own_loop : {false, true}) {
      const std::string variant =
          fmt_int(static_cast<double>(subscribers)) + " subscribers, " +
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
                  fmt(static_cast<double>(subscribers * o.events) /
                          std::max<double>(1, static_cast<double>(o.batches)),
                      1) +
                  " ev/batch, " + fmt_int(flushes) + " flushes; RSS " + fmt(o.rss_before_mb, 0) +
                  " MB, peak " + fmt(o.peak_rss_mb, 0) + " MB" + (o.peak_reset ? "" : " (since start)");
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

}  // namespace evstore::bench
