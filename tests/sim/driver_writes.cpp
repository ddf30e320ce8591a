// The writer's operations: appends and retries, subscriptions, consumers, read
// streams, and a read with a fault injected.
#include "catalog.hpp"
#include "checker.hpp"
#include "driver.hpp"

#include <boost/asio/error.hpp>

#include <algorithm>

namespace evstore::sim {
namespace {

std::string code_name(const boost::system::error_code& ec) {
  if (!ec) return "ok";
  if (ec.category() == category()) return ec.message();
  return ec.category().name() + std::string(":") + std::to_string(ec.value());
}

bool is_io_error(const boost::system::error_code& ec) {
  return ec && ec.category() != category() && ec != boost::asio::error::operation_aborted;
}

std::string describe(expected_version e) {
  switch (e.which()) {
    case expected_version::kind::any: return "any";
    case expected_version::kind::no_stream: return "no_stream";
    case expected_version::kind::stream_exists: return "stream_exists";
    case expected_version::kind::exact: return "exactly(" + std::to_string(e.version()) + ")";
  }
  return "?";
}

std::vector<event_data> to_events(const append_request& r) {
  std::vector<event_data> out;
  for (const sim_event& e : r.events) out.push_back({e.type, e.data, e.metadata, e.id});
  return out;
}

std::string span(std::uint64_t a, std::uint64_t b) { return std::to_string(a) + "-" + std::to_string(b); }

// Long names shortened for messages: "RRRR…(90 bytes)".
std::string short_name(const std::string& n) {
  return n.size() <= 24 ? n : n.substr(0, 12) + "...(" + std::to_string(n.size()) + " bytes)";
}

}  // namespace

void driver::with_fault(const fault_plan& f, const std::function<void()>& body) {
  const std::uint64_t ops_before = write_faults_->operation_count();
  arm(f);
  body();
  settle();
  const bool fired = disarm(f, ops_before);
  if (fired && f.what == fault_plan::kind::write_error) {
    writer_failed_ = true;  // restart it soon
    model_.writer_may_have_failed = true;
  }
  if (f.what == fault_plan::kind::crash) {
    kill_writer(fsync_ && options_.on("power-loss") && rng_.chance(50));
    if (rng_.chance(50)) open_writer();
  }
}

void driver::append_step(std::vector<append_request> requests, const fault_plan& f) {
  struct attempt {
    prediction want;
    bool done = false;
    boost::system::error_code ec;
    append_result got;
  };
  std::vector<attempt> attempts(requests.size());
  const model::mark mark = model_.mark_now();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    attempts[i].want = model_.predict(requests[i]);
    if (attempts[i].want.what == outcome::written) model_.apply(requests[i]);
  }
  with_fault(f, [&] {
    // All in one tick: one batch, one flush.
    for (std::size_t i = 0; i < requests.size(); ++i) {
      writer_->append(requests[i].stream, to_events(requests[i]), requests[i].expected,
                      [&attempts, i](boost::system::error_code ec, append_result r) {
                        attempts[i].done = true;
                        attempts[i].ec = ec;
                        attempts[i].got = r;
                      });
    }
    drive(
        [&] {
          return std::all_of(attempts.begin(), attempts.end(), [](const attempt& a) { return a.done; });
        },
        "append");
    bool in_doubt = false, store_failed = false;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const append_request& r = requests[i];
      const attempt& a = attempts[i];
      const std::string what =
          "append " + r.stream + " x" + std::to_string(r.events.size()) + " " + describe(r.expected) + ": ";
      std::string line = "  " + what + code_name(a.ec);
      if (!a.ec) {
        line += (a.got.duplicate ? " duplicate v" : " v") + span(a.got.first_version, a.got.version) + " p" +
                span(a.got.first_position, a.got.position);
      }
      trace_.add(line);
      const append_result& w = a.want.result;
      if (!a.ec) {
        expect(a.want.what == outcome::written || a.want.what == outcome::duplicate,
               "writer: " + what + "acknowledged, the model expected " +
                   (a.want.what == outcome::conflict   ? "a conflict"
                    : a.want.what == outcome::id_taken ? "duplicate_event_id"
                                                       : "store_failed"));
        expect(a.got.duplicate == (a.want.what == outcome::duplicate),
               "writer: " + what + (a.got.duplicate ? "taken for a retry" : "retry written again"));
        expect(a.got.first_version == w.first_version && a.got.version == w.version &&
                   a.got.first_position == w.first_position && a.got.position == w.position &&
                   a.got.created_stream == w.created_stream,
               "writer: " + what + "acknowledged v" + span(a.got.first_version, a.got.version) + " p" +
                   span(a.got.first_position, a.got.position) + ", model v" +
                   span(w.first_version, w.version) + " p" + span(w.first_position, w.position));
      } else if (a.ec == errc::wrong_expected_version) {
        expect(a.want.what == outcome::conflict, "writer: " + what + "conflict, the model expected none");
        expect(a.got.actual == w.actual, "writer: " + what + "conflict reports a wrong actual version");
        failed_requests_.push_back(r);
      } else if (a.ec == errc::store_failed) {
        expect(a.want.what == outcome::store_failed || model_.writer_may_have_failed,
               "writer: " + what + "store_failed without an earlier failure");
        failed_requests_.push_back(r);
        store_failed = true;
      } else if (a.ec == errc::duplicate_event_id) {
        expect(a.want.what == outcome::id_taken,
               "writer: " + what + "duplicate_event_id, the model expected none");
      } else if (is_io_error(a.ec)) {
        expect(f.what != fault_plan::kind::none, "writer: " + what + "I/O error without an injected fault");
        in_doubt = true;
      } else {
        throw violation("writer: " + what + "unexpected error " + a.ec.message());
      }
    }
    if (!in_doubt && !store_failed) return;
    // The flush failed (or the writer had): what it carried is in doubt until
    // the writer reopens; store_failed appends were not written.
    model_.rollback(mark);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const attempt& a = attempts[i];
      if (!a.ec && a.want.what == outcome::written) {
        expect(model_.predict(requests[i]).what == outcome::written,
               "writer: acknowledged an append after one that failed in the same flush");
        model_.apply(requests[i]);
      } else if (is_io_error(a.ec) && a.want.what == outcome::written) {
        model_.add_in_doubt(requests[i]);
        failed_requests_.push_back(requests[i]);
      }
    }
    model_.writer_failed = true;
    writer_failed_ = true;
  });
  if (failed_requests_.size() > 50)
    failed_requests_.erase(failed_requests_.begin(), failed_requests_.begin() + 25);
}

void driver::nested_append(const std::string& stream) {
  ++nesting_;
  append_step({make_simple_append(rng_, options_, stream, nonce_)}, {});
  --nesting_;
}

void driver::read_with_fault() {
  const auto& order = model_.stream_order();
  const std::string name = order.empty() || rng_.chance(30) ? std::string("$all") : rng_.pick(order);
  const fault_plan f = plan_read_fault(rng_, options_, 6);
  const std::uint64_t ops_before = write_faults_->operation_count();
  arm(f);
  auto p = writer_->read(name, {.from = 0, .max_count = 1000});
  const bool fired = disarm(f, ops_before);
  trace_.add("  read " + name + ": " +
             (p ? std::to_string(p->events.size()) + " events" : code_name(p.error().code)));
  const auto want = model_.positions(name);
  if (p) {
    for (std::size_t i = 0; i < p->events.size(); ++i) {
      expect(i < want.size(), "writer: read of " + name + " returned more events than acknowledged");
      expect_event("writer", name, p->events[i], model_, want[i], i);
    }
  } else {
    expect(fired, "writer: read of " + name + " failed without an injected fault: " + p.error().message());
  }
  // A read error is transient: the next read sees everything.
  expect_stream(*writer_, "writer", name, model_, want, 0, 1000);
}

void driver::consumer_step(const fault_plan& f) {
  static const char* const streams[] = {"$all", "$ce-b", "a-0", "c-1"};
  static const char* const names[] = {"c1", "c2"};
  const std::string stream = streams[rng_.below(4)];
  const std::string name = names[rng_.below(2)];
  consumer_model& cm = model_.consumers[{stream, name}];
  const auto want = model_.positions(stream);
  std::uint64_t position = 0;
  with_fault(f, [&] {
    std::optional<consumer> c;
    {
      auto opened = writer_->consumer(stream, name);
      if (!opened) {  // opening makes its directory: a write error may hit it
        trace_.add("  consumer " + stream + "/" + name + ": " + code_name(opened.error().code));
        expect(is_io_error(opened.error().code) && f.what != fault_plan::kind::none,
               "writer: consumer " + stream + "/" + name + ": " + opened.error().message());
        return;
      }
      c.emplace(std::move(*opened));
    }
    expect(cm.may_hold(c->position(), c->state()), "writer: consumer " + stream + "/" + name +
                                                       " resumes at " + std::to_string(c->position()) +
                                                       ", committed " + cm.describe());
    position = c->position();
    if (position < want.size()) {
      auto sub = c->subscribe({.max_batch = 1 + rng_.below(5)});
      expect(sub.has_value(), "writer: consumer subscription failed");
      bool done = false;
      boost::system::error_code ec;
      subscription_batch batch;
      sub->next([&](boost::system::error_code e, subscription_batch b) {
        ec = e;
        batch = std::move(b);
        done = true;
      });
      drive([&] { return done; }, "consumer batch");
      // A read stream's link failed by an injected fault reports it (see subscribe).
      if (ec && is_io_error(ec) && fault_fired_since_open_) {
        trace_.add("  consumer " + stream + "/" + name + " batch: " + code_name(ec) + " (a failed link)");
        return;
      }
      expect(!ec, "writer: consumer batch: " + ec.message());
      for (const recorded_event& e : batch.events) {
        expect(position < want.size(), "writer: consumer got an event nobody acknowledged");
        expect_event("consumer", stream, e, model_, want[position], position);
        ++position;
      }
      sub->cancel();
      run_queued();
    }
    const std::string state = "{\"seen\":" + std::to_string(position) + "}";
    bool done = false;
    boost::system::error_code ec;
    c->commit(position, state, [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
    drive([&] { return done; }, "consumer commit");
    trace_.add("  consumer " + stream + "/" + name + " commit " + std::to_string(position) + ": " +
               code_name(ec));
    if (!ec) {
      cm.stored = {{position, state}};
    } else {
      expect(is_io_error(ec) && f.what != fault_plan::kind::none, "writer: consumer commit: " + ec.message());
      cm.stored.emplace_back(position, state);
    }
    c.reset();  // releases the consumer
    run_queued();
  });
  if (!writer_) return;  // killed: reconcile() reads it back
  auto st = writer_->consumer_state(stream, name);
  const std::uint64_t pos = st ? st->position : 0;
  expect(cm.may_hold(pos, st ? st->state : std::string()), "writer: consumer_state " + stream + "/" + name +
                                                               " at " + std::to_string(pos) + ", committed " +
                                                               cm.describe());
}

void driver::create_read_stream(const fault_plan& f) {
  if (!model_.read_streams_in_doubt.empty()) return;
  std::string name;
  filter fl;
  std::string shown;
  bool refused = false;  // a filter value the store must refuse (huge-numbers)
  if (options_.on("filters")) {
    name = rng_.pick(read_stream_names(options_));
    fl = make_filter(rng_, options_);
    if (options_.on("huge-numbers") && rng_.chance(10)) {
      fl.where(rng_.chance(50) ? "/k" : "/n", rng_.pick(refused_values()));
      refused = true;
    }
    shown = describe(fl);
  } else {
    static const char* const names[] = {"v1", "v2"};
    name = names[rng_.below(2)];
    const std::uint64_t mask = 1 + rng_.below(7);
    for (int i = 0; i < 3; ++i) {
      if (mask & (1u << i)) fl.types.push_back(std::string(1, static_cast<char>('A' + i)));
    }
    for (const auto& x : fl.types) shown += x;
  }
  const auto it = model_.read_streams.find(name);
  const bool clash = it != model_.read_streams.end() && it->second != fl;
  with_fault(f, [&] {
    bool done = false;
    boost::system::error_code ec;
    writer_->create_read_stream(name, fl, [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
    drive([&] { return done; }, "create_read_stream");
    trace_.add("  create read stream " + short_name(name) + " " + shown + ": " + code_name(ec));
    if (refused) {
      expect(ec == errc::invalid_argument || (clash && ec == errc::read_stream_exists),
             "writer: create_read_stream " + short_name(name) + " " + shown + ": " + code_name(ec) +
                 ", want invalid_argument");
    } else if (!ec) {
      expect(!clash, "writer: created read stream " + short_name(name) + " over another definition");
      model_.read_streams[name] = fl;
    } else if (ec == errc::read_stream_exists) {
      expect(clash, "writer: create_read_stream " + short_name(name) + " " + shown +
                        ": read_stream_exists with the same filter");
    } else {
      expect(is_io_error(ec) && (f.what != fault_plan::kind::none || indexer_failed_),
             "writer: create_read_stream " + short_name(name) + ": " + ec.message());
      model_.read_streams_in_doubt.push_back(name);
      writer_failed_ = true;
    }
  });
}

void driver::delete_read_stream(const fault_plan& f) {
  if (!model_.read_streams_in_doubt.empty()) return;
  static const char* const names[] = {"v1", "v2"};
  const std::string name =
      options_.on("filters") ? rng_.pick(read_stream_names(options_)) : std::string(names[rng_.below(2)]);
  const bool exists = model_.read_streams.contains(name);
  with_fault(f, [&] {
    bool done = false;
    boost::system::error_code ec;
    writer_->delete_read_stream(name, [&](boost::system::error_code e) {
      ec = e;
      done = true;
    });
    // Its subscribers may be told before the delete's own handler runs (and
    // while end_subscriptions_of() waits for another one of them).
    deleting_ = name;
    drive([&] { return done; }, "delete_read_stream");
    trace_.add("  delete read stream " + short_name(name) + ": " + code_name(ec));
    if (!ec) {
      expect(exists, "writer: deleted read stream " + short_name(name) + " that does not exist");
      model_.read_streams.erase(name);
      end_subscriptions_of(name);
      deleting_.clear();
    } else if (ec == errc::stream_not_found) {
      expect(!exists, "writer: delete_read_stream " + name + ": stream_not_found");
      deleting_.clear();
      expect_not_told_deleted(name);
    } else {
      expect(is_io_error(ec) && (f.what != fault_plan::kind::none || indexer_failed_),
             "writer: delete_read_stream " + name + ": " + ec.message());
      model_.read_streams_in_doubt.push_back(name);
      writer_failed_ = true;
      deleting_.clear();
      expect_not_told_deleted(name);
    }
  });
}

}  // namespace evstore::sim
