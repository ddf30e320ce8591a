// (g) latency of sequential single appends, buffered and durable.
#include "harness.hpp"

namespace evstore::bench {

void scenario_g(context& ctx) {
  std::fprintf(stderr, "g) append latency, sequential single appends\n");
  for (bool durable : {false, true}) {
    temp_dir dir(ctx.cfg.dir, "g", ctx.cfg.keep);
    loop l;
    store s = open_store(l, dir.path(), durable);
    const std::size_t count = durable ? ctx.cfg.n(5000) : ctx.cfg.n(50000);
    const auto o = run_chains(l, s, 1, 1, durable ? (ctx.cfg.quick ? 1.0 : 5.0) : 30.0, count);
    close_store(s);
    row r = chains_row("g", durable ? "latency, durable, sequential" : "latency, buffered, sequential", o);
    r.figures = "p50 " + fmt(o.latency.p50_us, 1) + " us, p99 " + fmt(o.latency.p99_us, 1) + " us, p99.9 " +
                fmt(o.latency.p999_us, 1) + " us, max " + fmt(o.latency.max_us, 0) + " us";
    add(std::move(r));
  }
}

// (h) Live-subscription fan-out: `subscribers` subscriptions to one stream, all
// from_end (so they start parked, caught up on the empty stream), then n events
// appended in appends of 10, `appends_per_turn` appends issued per turn of the
// writer's io_context without waiting (run_burst). The clock runs from the first
// append until every subscriber has received every event.
//
// Where the subscribers run: the callback form of store::subscribe() has no
// executor parameter, so its subscriptions always run on the store's executor,
// i.e. the writer's loop (one io_context, one thread: appends, buffered flushes,
// subscription reads and callbacks all share it). That is what an application
// using the callback form gets, and is the "store's loop" variant. The "own
// loop" variant gives the subscribers a second io_context run by one thread
// (subscribe(stream, options, executor), pumping next() the way the callback
// form does internally), so the writer's thread only flushes and posts wake-ups;
// on this 2-core machine that is one core each.

}  // namespace evstore::bench
