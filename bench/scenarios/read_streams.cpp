// (i) system-stream indexing, read-stream back-fill, appends with system streams on and off.
#include "harness.hpp"

namespace evstore::bench {

// ---------------------------------------------------------------------------
// (i) Read streams and system streams

// The events of (i): 4 types in turn; data {"total":N,...} of about 120 bytes
// with N = 500..1499, so that "OrderPaid" with total 1000 is 1 event in 4000.
const std::vector<std::string> rs_types = {"OrderPlaced", "OrderPaid", "OrderShipped", "OrderDelivered"};
const std::string rs_filter_type = "OrderPaid";
constexpr const char* rs_filter_total = "1000";

std::uint64_t rs_total(std::size_t i) { return (i / rs_types.size()) % 1000 + 500; }

bool rs_matches(std::size_t i) {
  return rs_types[i % rs_types.size()] == rs_filter_type && rs_total(i) == 1000;
}

std::string rs_payload(std::size_t i) {
  char buf[160];
  const int n =
      std::snprintf(buf, sizeof buf,
                    R"({"total":%llu,"orderId":"ord-%08zu","customer":"cust-%05zu","sku":"SKU-%06zu",)"
                    R"("currency":"EUR","pad":")",
                    static_cast<unsigned long long>(rs_total(i)), i, i % 100000, (i * 7919) % 1000000);
  std::string s(buf, static_cast<std::size_t>(n));
  constexpr std::size_t target = 120;
  if (s.size() + 2 < target) s.append(target - s.size() - 2, 'x');
  s += "\"}";
  return s;
}

event_data rs_event(std::size_t i) {
  return event_data{rs_types[i % rs_types.size()], rs_payload(i), {}, std::nullopt};
}

// The last entry of a stream (a link stream here): nullopt while it is empty.
std::optional<evstore::recorded_event> last_event(const store& s, const std::string& stream) {
  auto page =
      s.read(stream, {.from = evstore::from_end, .max_count = 1, .direction = evstore::direction::backward});
  if (!page) throw std::runtime_error("read " + stream + ": " + page.error().message());
  if (page->events.empty()) return std::nullopt;
  return page->events.front();
}

// Polls (a backward read of 1 event every `poll`) until `stream`'s last entry
// is the event at $all position `position`; returns when that was first seen.
clock_type::time_point wait_for_link(const store& s, const std::string& stream, std::uint64_t position,
                                     double timeout_s,
                                     std::chrono::microseconds poll = std::chrono::microseconds(500)) {
  const auto t0 = clock_type::now();
  for (;;) {
    const auto e = last_event(s, stream);
    const auto now = clock_type::now();
    if (e && e->position == position) return now;
    if (e && e->position > position)
      throw std::runtime_error(stream + " went past position " + std::to_string(position));
    if (seconds_since(t0, now) > timeout_s) {
      throw std::runtime_error(
          stream + " did not reach position " + std::to_string(position) + " within " + fmt(timeout_s, 0) +
          " s (its last entry: " + (e ? std::to_string(e->position) : std::string("none")) + ")");
    }
    std::this_thread::sleep_for(poll);
  }
}

// Entries in a link stream (its last entry number + 1).
std::uint64_t link_count(const store& s, const std::string& stream) {
  const auto e = last_event(s, stream);
  return e ? e->sequence + 1 : 0;
}

struct rs_store {
  std::unique_ptr<temp_dir> dir;
  std::uint64_t events = 0;
  std::uint64_t record_bytes = 0;  // sum of the records' sizes
  std::uint64_t matches = 0;       // events the read stream must link
  std::uint64_t of_filter_type = 0;
  double build_seconds = 0;
};

// n single-event appends round-robin over "order-0000".."order-0999", built
// with system streams off: the indexer then starts from position 0 when (i)
// reopens the store with them on, alone on the background thread.
rs_store build_rs_store(const config& cfg, std::size_t n) {
  rs_store out;
  out.dir = std::make_unique<temp_dir>(cfg.dir, "i-src", cfg.keep);
  loop l;
  store s =
      open_store_with(l, {.directory = out.dir->path(), .system_streams = false, .max_open_files = 4096});
  constexpr std::size_t slice = 100000;
  for (std::size_t first = 0; first < n; first += slice) {
    const std::size_t count = std::min(slice, n - first);
    std::vector<std::vector<event_data>> appends(count);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = first + k;
      appends[k].push_back(rs_event(i));
      const event_data& e = appends[k].back();
      out.record_bytes += record_bytes(e.type, e.data, e.metadata);
      out.matches += rs_matches(i) ? 1 : 0;
      out.of_filter_type += e.type == rs_filter_type ? 1 : 0;
    }
    // Stream of append k of this slice: (first + k) % 1000, as slices are multiples of 1000.
    out.build_seconds += run_burst(l, s, stream_names(1000), std::move(appends), cfg.chunk).seconds;
  }
  out.events = s.event_count();
  if (out.events != n) throw std::runtime_error("build: " + std::to_string(out.events) + " events");
  close_store(s);
  return out;
}

void copy_store(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
}

void scenario_i_backfill(context& ctx, const rs_store& src, std::size_t max_open_files) {
  const std::uint64_t n = src.events;
  const std::string suffix = " (max_open_files=" + std::to_string(max_open_files) + ")";
  temp_dir dir(ctx.cfg.dir, "i", ctx.cfg.keep);
  copy_store(src.dir->path(), dir.path());
  loop l;
  // 1. System-stream indexing: the store has never been indexed (progress 0);
  //    opening it starts the indexer, which links every event into $ce-order
  //    and $et-<type>. Caught up once $et-<type of the last event> holds the
  //    last event (the indexer publishes a whole step's links together).
  const std::string last_type_stream = "$et-" + rs_types[(n - 1) % rs_types.size()];
  const auto t0 = clock_type::now();
  store s = open_store_with(l, {.directory = dir.path(), .max_open_files = max_open_files});
  const double open_ms = seconds_since(t0) * 1e3;
  const auto indexed_at = wait_for_link(s, last_type_stream, n - 1, 600, std::chrono::milliseconds(1));
  const double index_s = seconds_since(t0, indexed_at);
  const std::uint64_t in_ce = link_count(s, "$ce-order");
  const std::uint64_t in_et = link_count(s, "$et-" + rs_filter_type);
  if (in_ce != n)
    throw std::runtime_error("$ce-order holds " + std::to_string(in_ce) + " of " + std::to_string(n));
  if (in_et != src.of_filter_type) {
    throw std::runtime_error("$et-" + rs_filter_type + " holds " + std::to_string(in_et) + " of " +
                             std::to_string(src.of_filter_type));
  }
  {
    row r;
    r.scenario = "i";
    r.variant = "system-stream indexing of " + fmt_int(static_cast<double>(n)) + " events from 0" + suffix;
    r.events = n;
    r.seconds = index_s;
    r.events_per_s = static_cast<double>(n) / index_s;
    r.mb_per_s = static_cast<double>(src.record_bytes) / index_s / 1e6;
    r.figures = "open to $ce-order + 4 $et- streams complete (1 ms polls); open " + fmt(open_ms, 2) + " ms";
    r.extra["max_open_files"] = max_open_files;
    r.extra["open_ms"] = open_ms;
    r.extra["ce_entries"] = in_ce;
    r.extra["et_entries_" + rs_filter_type] = in_et;
    add(std::move(r));
  }

  // 2. The read stream's back-fill, the indexer idle.
  struct backfill {
    std::mutex m;
    std::uint64_t calls = 0, done = 0, total = 0;
    std::optional<clock_type::time_point> first_call;
    std::promise<boost::system::error_code> completed;
    clock_type::time_point completed_at;
  };
  auto bf = std::make_shared<backfill>();
  auto completed = bf->completed.get_future();
  const auto b0 = clock_type::now();
  s.create_read_stream(
      "big", evstore::filter::event_types({rs_filter_type}).where("/total", rs_filter_total),
      [bf](boost::system::error_code ec) {
        bf->completed_at = clock_type::now();
        bf->completed.set_value(ec);
      },
      [bf](std::uint64_t done, std::uint64_t total) {
        std::lock_guard lock(bf->m);
        if (!bf->first_call) bf->first_call = clock_type::now();
        ++bf->calls;
        bf->done = done;
        bf->total = total;
      });
  if (completed.wait_for(std::chrono::seconds(600)) != std::future_status::ready) {
    std::lock_guard lock(bf->m);
    throw std::runtime_error("create_read_stream did not complete within 600 s; progress " +
                             std::to_string(bf->done) + " of " + std::to_string(bf->total) + " after " +
                             std::to_string(bf->calls) + " calls");
  }
  if (auto ec = completed.get()) throw std::runtime_error("create_read_stream: " + ec.message());
  const double backfill_s = seconds_since(b0, bf->completed_at);
  const std::uint64_t matched = link_count(s, "big");
  std::uint64_t listed = 0;
  bool building = true;
  for (const auto& info : s.list_read_streams()) {
    if (info.name == "big") {
      listed = info.event_count;
      building = info.building;
    }
  }
  // Every linked event matches the filter, in $all order.
  std::uint64_t checked = 0, last_position = 0;
  auto range = s.events("big");
  for (const evstore::recorded_event& e : range) {
    if (e.type != rs_filter_type || !rs_matches(e.position) || (checked > 0 && e.position <= last_position)) {
      throw std::runtime_error("read stream holds position " + std::to_string(e.position) +
                               " which does not match");
    }
    last_position = e.position;
    ++checked;
  }
  if (range.error()) throw std::runtime_error("read big: " + range.error()->message());
  if (matched != src.matches || checked != src.matches || listed != src.matches || building) {
    throw std::runtime_error("read stream: " + std::to_string(matched) + " entries (" +
                             std::to_string(checked) + " read, " + std::to_string(listed) + " listed" +
                             (building ? ", still building" : "") + "), expected " +
                             std::to_string(src.matches));
  }
  close_store(s);
  row r;
  r.scenario = "i";
  r.variant = "read-stream back-fill, event_types(" + rs_filter_type + ").where(/total, " + rs_filter_total +
              ")" + suffix;
  r.events = n;
  r.seconds = backfill_s;
  r.events_per_s = static_cast<double>(n) / backfill_s;
  r.mb_per_s = static_cast<double>(src.record_bytes) / backfill_s / 1e6;
  std::uint64_t calls = 0;
  double first_call_ms = -1;
  {
    std::lock_guard lock(bf->m);
    calls = bf->calls;
    if (bf->first_call) first_call_ms = seconds_since(b0, *bf->first_call) * 1e3;
  }
  r.figures = "events/s = $all events scanned; **matched " + fmt_int(static_cast<double>(matched)) + "** (" +
              fmt_int(static_cast<double>(src.of_filter_type)) + " of the type parsed); " +
              fmt_int(static_cast<double>(calls)) + " progress calls, first after " + fmt(first_call_ms, 2) +
              " ms";
  r.extra["max_open_files"] = max_open_files;
  r.extra["matched"] = matched;
  r.extra["events_of_filter_type"] = src.of_filter_type;
  r.extra["progress_calls"] = calls;
  r.extra["first_progress_ms"] = first_call_ms;
  add(std::move(r));
}

// Appends of (a) with system streams on and off: median of 5 each,
// alternating (one run is ~0.15 s; runs vary by 10-20 % on this machine). With them on, also how long after
// the last acknowledgement the indexer had linked the last event.
void scenario_i_appends(context& ctx) {
  const std::size_t n = ctx.cfg.n(200000);
  std::vector<double> on_runs, off_runs, lag_ms;
  constexpr int reps = 5;
  for (int rep = 0; rep < reps; ++rep) {
    for (bool system_streams : {true, false}) {
      temp_dir dir(ctx.cfg.dir, "i-a", ctx.cfg.keep);
      loop l;
      store s = open_store_with(l, {.directory = dir.path(), .system_streams = system_streams});
      const auto o = run_burst(l, s, stream_names(1), single_event_appends(n), ctx.cfg.chunk);
      const auto acked_at = o.start + std::chrono::duration_cast<clock_type::duration>(
                                          std::chrono::duration<double>(o.seconds));
      if (system_streams) {
        const auto linked_at =
            wait_for_link(s, "$et-" + event_type, o.events - 1, 60, std::chrono::microseconds(200));
        lag_ms.push_back(std::max(0.0, seconds_since(acked_at, linked_at) * 1e3));
      }
      close_store(s);
      (system_streams ? on_runs : off_runs).push_back(static_cast<double>(o.events) / o.seconds);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double on = median(on_runs), off = median(off_runs), lag = median(lag_ms);
  row r;
  r.scenario = "i";
  r.variant = "appends of (a), system streams on vs off";
  r.events = n;
  r.seconds = static_cast<double>(n) / on;
  r.events_per_s = on;
  r.mb_per_s = static_cast<double>(n * record_bytes(event_type, payload(0), {})) / r.seconds / 1e6;
  r.figures = "events/s = on; off " + fmt_int(off) + " ev/s, **on/off " + fmt(on / off, 2) + "**; $et-" +
              event_type + " complete " + fmt(lag, 1) + " ms after the last ack (medians of " +
              std::to_string(reps) + ")";
  json::array on_all, off_all, lag_all;
  for (double v : on_runs) on_all.push_back(v);
  for (double v : off_runs) off_all.push_back(v);
  for (double v : lag_ms) lag_all.push_back(v);
  r.extra["events_per_s_on"] = on;
  r.extra["events_per_s_off"] = off;
  r.extra["ratio_on_off"] = on / off;
  r.extra["runs_on"] = std::move(on_all);
  r.extra["runs_off"] = std::move(off_all);
  r.extra["indexer_lag_after_last_ack_ms"] = std::move(lag_all);
  add(std::move(r));
}

void scenario_i(context& ctx) {
  const std::size_t n = ctx.cfg.n(1000000);
  std::fprintf(stderr, "i) system streams and a read stream over %zu events in 1000 streams\n", n);
  std::fprintf(stderr, "   (building the store, system streams off)\n");
  const rs_store src = build_rs_store(ctx.cfg, n);
  std::fprintf(stderr, "   (built in %.1f s: %s ev/s)\n", src.build_seconds,
               fmt_int(static_cast<double>(n) / src.build_seconds).c_str());
  for (std::size_t max_open : {std::size_t{512}, std::size_t{4096}}) scenario_i_backfill(ctx, src, max_open);
  scenario_i_appends(ctx);
}

}  // namespace evstore::bench
