// Live subscriptions: each subscriber sees each event once, in order, and
// every next() handler is called exactly once, whatever ends the
// subscription: cancel(), destruction (at any point with sub-churn: while
// being woken, with a batch on its way), the store's close(), or the deletion
// of its read stream (deleted-subs: it ends with stream_deleted).
#include "catalog.hpp"
#include "checker.hpp"
#include "driver.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>

namespace evstore::sim {
namespace {

// A lost handler shows at once on this small store; do not wait 30 s for one.
constexpr auto end_deadline = std::chrono::seconds(2);

std::string code_name(const boost::system::error_code& ec) {
  if (!ec) return "ok";
  if (ec.category() == category()) return ec.message();
  return ec.category().name() + std::string(":") + std::to_string(ec.value());
}

bool is_link_stream(const model& m, const std::string& stream) {
  return stream.starts_with("$ce-") || stream.starts_with("$et-") || m.read_streams.contains(stream);
}

}  // namespace

// One batch (or the end) of subscription `p`, from next() or the callback form.
void driver::delivered(live_subscription& s, boost::system::error_code ec, const subscription_batch& b) {
  const std::string who = "subscription " + s.stream + (s.callback ? " (callback)" : "");
  expect(!s.ended, who + ": called after its end (" + code_name(s.end) + ") with " + code_name(ec));
  if (!s.callback) {
    expect(s.pending, who + ": a next() handler called twice");
    s.pending = false;
  }
  if (ec) {
    s.ended = true;
    s.end = ec;
    // A link stream's subscriber may share the I/O error that stopped the
    // indexer, if an injected fault did (store.hpp: "I/O errors of the read").
    const bool indexer_error = ec.category() != category() && ec != boost::asio::error::operation_aborted &&
                               is_link_stream(model_, s.stream) && (fault_armed_ || fault_fired_since_open_);
    const bool expected_end = ec == boost::asio::error::operation_aborted || ec == errc::store_closed ||
                              ((s.deleted || s.stream == deleting_) && ec == errc::stream_deleted) ||
                              indexer_error;
    expect(expected_end || !s.sub, who + ": " + ec.message());
    return;
  }
  const auto want = model_.positions(s.stream);
  for (const recorded_event& e : b.events) {
    expect(s.next < want.size(),
           who + ": delivered an event nobody acknowledged (" + std::to_string(s.next) + ")");
    expect_event("subscription", s.stream, e, model_, want[s.next], s.next);
    ++s.next;
  }
  expect(b.next == s.next, who + ": batch next " + std::to_string(b.next));
}

void driver::pull(live_subscription& s) {
  s.pending = true;
  s.sub->next([this, p = &s](boost::system::error_code ec, subscription_batch b) {
    delivered(*p, ec, b);
    if (!ec && p->sub) pull(*p);
  });
}

void driver::subscribe() {
  const bool churn = options_.on("sub-churn");
  if (subs_.size() >= (churn ? 6u : 4u)) {
    const std::size_t i = rng_.below(subs_.size());
    subs_[i]->sub.reset();
    await_end(*subs_[i], "cancelling a subscription");
    subs_.erase(subs_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  static const char* const targets[] = {"$all", "$ce-a", "$et-B", "a-1", "b-2", "c-3"};
  auto s = std::make_unique<live_subscription>();
  s->stream = targets[rng_.below(6)];
  // Several subscribers of one stream: one destroyed while another's wake-up runs.
  if (churn && rng_.chance(50)) s->stream = rng_.chance(50) ? "$all" : "a-1";
  if (options_.on("filters") && !model_.read_streams.empty() && rng_.chance(40)) {
    s->stream = std::next(model_.read_streams.begin(),
                          static_cast<std::ptrdiff_t>(rng_.below(model_.read_streams.size())))
                    ->first;
  } else if (options_.on("system-streams") && rng_.chance(20)) {
    const auto sys = model_.system_streams();
    if (!sys.empty()) s->stream = rng_.pick(sys);
  }
  // Destroyed at any point: only subscriptions whose wake-ups come from the
  // driver's thread (write streams, $all), see hooked_executor.hpp.
  s->hooked = churn && !is_link_stream(model_, s->stream) && rng_.chance(70);
  s->callback = s->hooked && options_.on("sub-callbacks") && rng_.chance(40);
  s->next = rng_.below(model_.positions(s->stream).size() + 1);
  trace_.add("  subscribe " + s->stream.substr(0, 40) + " from " + std::to_string(s->next) +
             (s->hooked ? " hooked" : "") + (s->callback ? " callback" : ""));
  subs_.push_back(std::move(s));
  resubscribe();
}

void driver::resubscribe() {
  for (auto& s : subs_) {
    // A churned one is not started again: its end may still be on its way
    // (settle_churn() waits for it); a new subscription's batches would then
    // come after that end.
    if (s->sub || s->ended || s->churned) continue;
    const subscription_options o{.from = s->next, .max_batch = 1 + rng_.below(8)};
    result<subscription> sub = error(errc::invalid_argument, "");
    if (s->callback) {
      sub = writer_->subscribe(s->stream, o, hooked_executor{&io_, &hook_, s.get()},
                               [this, p = s.get()](boost::system::error_code ec,
                                                   const subscription_batch& b) { delivered(*p, ec, b); });
    } else if (s->hooked) {
      sub = writer_->subscribe(s->stream, o, hooked_executor{&io_, &hook_, s.get()});
    } else {
      sub = writer_->subscribe(s->stream, o);
    }
    // A link that an injected fault failed stays failed until the writer
    // reopens (it fails alone): subscribing to it reports that error.
    if (!sub && sub.error().code.category() != category() && fault_fired_since_open_) {
      trace_.add("  subscribe " + s->stream + ": " + sub.error().message() + " (a failed link)");
      continue;
    }
    expect(sub.has_value(), "writer: subscribe " + s->stream + ": " + (sub ? "" : sub.error().message()));
    s->sub.emplace(std::move(*sub));
    // A callback subscription that ended with the store is started again: a new one.
    if (!s->callback) pull(*s);
  }
}

// After its subscription object is gone (or cancelled): the pending next()
// (or the callback's end) must come, once.
void driver::await_end(live_subscription& s, const std::string& what) {
  const auto end = std::chrono::steady_clock::now() + end_deadline;
  const auto done = [&] { return s.callback ? s.ended : !s.pending; };
  while (!done()) {
    io_.run_one_for(std::chrono::milliseconds(10));
    expect(std::chrono::steady_clock::now() < end || done(),
           "subscription " + s.stream + (s.callback ? " (callback)" : "") + ": " + what + ": " +
               (s.callback ? "no final operation_aborted" : "the pending next() never completed"));
  }
}

// sub-churn: arm the hook to destroy or cancel a hooked subscription at the
// k-th piece of work of this step; settle_churn() checks its end afterwards.
void driver::arm_churn() {
  if (!options_.on("sub-churn") || !rng_.chance(40)) return;
  // Mostly the step's first piece of work: in an append step, the first wake-up.
  hook_.countdown = rng_.chance(50) ? 0 : static_cast<std::int64_t>(rng_.below(6));
  const bool cancel = rng_.chance(30);
  const std::uint64_t pick = rng_.next();
  hook_.action = [this, cancel, pick](const void* owner) {
    // Another subscriber of the stream whose subscription is given work now
    // (a wake-up, an attempt, a delivery) if there is one, else any.
    const auto* busy = static_cast<const live_subscription*>(owner);
    std::vector<live_subscription*> live, same;
    for (auto& s : subs_) {
      if (!s->hooked || !s->sub || s->ended) continue;
      live.push_back(s.get());
      if (s.get() != busy && s->stream == busy->stream && s->pending) same.push_back(s.get());
    }
    if (!same.empty()) live = same;
    if (live.empty()) return;
    live_subscription& s = *live[pick % live.size()];
    s.churned = true;
    trace_.add(std::string("  churn: ") + (cancel ? "cancelled" : "destroyed") + " a subscription of " +
               s.stream +
               (&s == busy ? " while given work" : " while one of " + busy->stream + " was given work"));
    if (cancel) {
      s.sub->cancel();
    } else {
      s.sub.reset();  // destroyed inside the engine's work (hooked_executor.hpp)
    }
  };
}

void driver::settle_churn() {
  hook_.countdown = -1;
  hook_.action = nullptr;
  for (std::size_t i = 0; i < subs_.size();) {
    live_subscription& s = *subs_[i];
    if (!s.churned) {
      ++i;
      continue;
    }
    trace_.add("  churned subscription " + s.stream);
    s.sub.reset();
    await_end(s, "destroyed while in use");
    subs_.erase(subs_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

// A read stream was deleted: its subscribers end (deleted-subs: with
// stream_deleted, after what they had not yet been given).
void driver::end_subscriptions_of(const std::string& name) {
  for (std::size_t i = 0; i < subs_.size();) {
    live_subscription& s = *subs_[i];
    if (s.stream != name) {
      ++i;
      continue;
    }
    if (s.ended && s.end != errc::stream_deleted) {
      // Ended before the delete, with an end delivered() accepted (the
      // indexer's injected I/O error): a subscriber is told once, so that
      // end stands and no stream_deleted follows it.
      trace_.add("  subscription " + name + " had ended: " + code_name(s.end));
    } else if (!s.sub && !s.ended) {
      // Never started again after a restart (its link had failed): nobody to tell.
      trace_.add("  subscription " + name + " was not running");
    } else if (options_.on("deleted-subs")) {
      s.deleted = true;
      const auto end = std::chrono::steady_clock::now() + end_deadline;
      while (!s.ended) {
        io_.run_one_for(std::chrono::milliseconds(10));
        expect(std::chrono::steady_clock::now() < end || s.ended,
               "subscription " + name + ": its read stream was deleted and it is never told (still waiting)");
      }
      expect(s.end == errc::stream_deleted, "subscription " + name +
                                                ": its read stream was deleted, it ended with " +
                                                code_name(s.end) + ", want stream_deleted");
      trace_.add("  subscription " + name + " ended: stream_deleted");
    } else {
      s.sub.reset();
      await_end(s, "cancelled");
    }
    s.sub.reset();
    subs_.erase(subs_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

// A delete that failed: the read stream is still there, its subscribers go on.
void driver::expect_not_told_deleted(const std::string& name) {
  for (const auto& s : subs_) {
    expect(!(s->stream == name && s->ended && s->end == errc::stream_deleted),
           "subscription " + name + ": ended with stream_deleted, yet its delete failed");
  }
}

void driver::finish_subscriptions() {
  for (auto& s : subs_) {
    // A stopped indexer was reported (indexer-stops) or is tolerated: its links are not complete.
    if (indexer_failed_ && is_link_stream(model_, s->stream)) continue;
    if (s->ended) continue;  // ended by the indexer's injected I/O error (delivered())
    const std::uint64_t want = model_.positions(s->stream).size();
    drive([&] { return s->next >= want; },
          "subscription " + s->stream + " delivering up to " + std::to_string(want));
  }
}

}  // namespace evstore::sim
