// (m) aggregate() of one long stream: a full fold, from a snapshot with
// nothing after it, and from a snapshot with 1000 events after it.
#include "harness.hpp"

namespace evstore::bench {
namespace {

// The fold: a count and the bytes of data seen; its snapshot is a tiny JSON.
struct totals {
  std::uint64_t events = 0;
  std::uint64_t bytes = 0;
};

void fold_one(totals& t, const evstore::recorded_event& e) {
  ++t.events;
  t.bytes += e.data.size();
}

std::string save_totals(const totals& t) {
  return "{\"events\":" + std::to_string(t.events) + ",\"bytes\":" + std::to_string(t.bytes) + "}";
}

std::optional<totals> load_totals(std::string_view json) {
  totals t;
  const auto e = json.find("\"events\":"), b = json.find("\"bytes\":");
  if (e == std::string_view::npos || b == std::string_view::npos) return std::nullopt;
  t.events = std::strtoull(std::string(json.substr(e + 9)).c_str(), nullptr, 10);
  t.bytes = std::strtoull(std::string(json.substr(b + 8)).c_str(), nullptr, 10);
  return t;
}

}  // namespace

void scenario_m(context& ctx) {
  const std::size_t n = ctx.cfg.n(1000000);
  std::fprintf(stderr, "m) aggregate of a %zu-event stream, with and without a snapshot\n", n);
  temp_dir dir(ctx.cfg.dir, "m", ctx.cfg.keep);
  loop l;
  store s = open_store(l, dir.path());
  (void)run_burst(l, s, stream_names(1), single_event_appends(n), ctx.cfg.chunk);
  const std::string stream = stream_names(1).front();
  const evstore::snapshot_options snapshots{.name = "totals-v1", .every = 1000};
  const auto timed = [&](const char* what, const evstore::snapshot_options& o, std::uint64_t expect_folded) {
    constexpr int reps = 5;
    std::vector<double> times;
    std::uint64_t folded = 0;
    for (int rep = 0; rep < reps; ++rep) {
      const auto t0 = clock_type::now();
      auto r = s.aggregate(stream, totals{}, fold_one, o, save_totals, load_totals);
      times.push_back(seconds_since(t0));
      if (!r) throw std::runtime_error(std::string("aggregate: ") + r.error().message());
      folded = r->events_folded;
      if (r->state.events != r->version + 1)
        throw std::runtime_error("aggregate folded " + std::to_string(r->state.events) + " events");
    }
    if (folded != expect_folded)
      throw std::runtime_error(std::string(what) + ": folded " + std::to_string(folded) + " events, not " +
                               std::to_string(expect_folded));
    std::sort(times.begin(), times.end());
    row r;
    r.scenario = "m";
    r.variant = what;
    r.events = folded;
    r.seconds = times[reps / 2];
    r.events_per_s = folded ? static_cast<double>(folded) / r.seconds : 0;
    char ms[64];
    std::snprintf(ms, sizeof ms, "%.3f ms per aggregate, median of %d", r.seconds * 1e3, reps);
    r.figures = ms;
    add(std::move(r));
    return times[reps / 2];
  };
  // No snapshot name: every call folds the whole stream (nothing is stored).
  const double full = timed("aggregate, no snapshot", {.name = {}, .every = 0}, n);
  // One call that stores a snapshot, then calls that start from it.
  auto first = s.aggregate(stream, totals{}, fold_one, snapshots, save_totals, load_totals);
  if (!first) throw std::runtime_error("aggregate: " + first.error().message());
  const auto t0 = clock_type::now();
  while (s.statistics().snapshots_stored == 0) {
    if (seconds_since(t0) > 30) throw std::runtime_error("the snapshot was not stored");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double from_snapshot = timed("aggregate from a snapshot, 0 events after it", snapshots, 0);
  (void)run_burst(l, s, stream_names(1), single_event_appends(1000, n), ctx.cfg.chunk);
  const double after =
      timed("aggregate from a snapshot, 1000 events after it", {.name = snapshots.name, .every = 0}, 1000);
  std::fprintf(stderr, "   full fold / from a snapshot: %.0fx (0 after), %.0fx (1000 after)\n",
               full / from_snapshot, full / after);
  close_store(s);
}

}  // namespace evstore::bench
