// The append drivers: bursts issued without waiting, and chains of sequential
// appenders. Part of harness.hpp.
#pragma once

#include "bench_results.hpp"

namespace evstore::bench {

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

inline burst_outcome run_burst(loop& l, store& s, std::vector<std::string> streams,
                               std::vector<std::vector<event_data>> appends, std::size_t chunk) {
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

inline std::vector<std::vector<event_data>> single_event_appends(std::size_t n, std::size_t first = 0) {
  std::vector<std::vector<event_data>> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i].push_back(make_event(first + i));
  return out;
}

inline std::vector<std::string> stream_names(std::size_t streams) {
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
inline chains_outcome run_chains(loop& l, store& s, std::size_t appenders, std::size_t streams,
                                 double seconds, std::size_t max_per_chain = SIZE_MAX) {
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

}  // namespace evstore::bench
