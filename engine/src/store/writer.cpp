// The write path: validation, optimistic concurrency, idempotent retries,
// per-tick batching into the open batch. Its flush and group commit are in
// flush.cpp. See store_impl.hpp for the threading contract.

#include "format/crc32c.hpp"
#include "format/stream_name.hpp"
#include "json/json_check.hpp"
#include "links/indexer.hpp"
#include "log/partitioner.hpp"
#include "require.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <algorithm>
#include <cstring>

namespace evstore::detail {
namespace {

// What an event stores as its data: empty means JSON null.
std::string_view stored_data(const event_data& e) {
  return e.data.empty() ? std::string_view("null") : std::string_view(e.data);
}

// A checksum of what an event says (type, data, metadata), each with its
// length so that bytes cannot move from one to the next: a retry must repeat
// it, not only the ids.
std::uint32_t content_checksum(std::string_view type, std::string_view data, std::string_view metadata) {
  std::uint32_t crc = 0;
  for (const std::string_view part : {type, data, metadata}) {
    const std::uint64_t size = part.size();
    crc = crc32c::extend(crc, &size, sizeof size);
    crc = crc32c::extend(crc, part.data(), part.size());
  }
  return crc;
}

std::optional<std::array<std::byte, 16>> to_bytes(const std::optional<boost::uuids::uuid>& id) {
  if (!id) return std::nullopt;
  std::array<std::byte, 16> out;
  std::memcpy(out.data(), id->data, 16);
  return out;
}

bool expected_matches(expected_version expected, std::uint64_t count) {
  switch (expected.which()) {
    case expected_version::kind::any: return true;
    case expected_version::kind::no_stream: return count == 0;
    case expected_version::kind::stream_exists: return count > 0;
    case expected_version::kind::exact: return count > 0 && count - 1 == expected.version();
  }
  return false;
}

void append_bytes(std::vector<std::byte>& v, std::size_t n) { v.resize(v.size() + n); }

}  // namespace

void store_impl::append(std::string stream, std::vector<event_data> events, expected_version expected,
                        append_handler handler, bool direct) {
  queue({std::move(stream), std::move(events), expected, std::move(handler), direct, std::nullopt});
}

void store_impl::change_lifecycle(std::string stream, lifecycle_change change, expected_version expected,
                                  append_handler handler, bool direct) {
  queue({std::move(stream), {}, expected, std::move(handler), direct, change});
}

void store_impl::queue(incoming_append a) {
  bool post = false;
  std::uint64_t epoch = 0;
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(a));
    if (!drain_posted_) {
      drain_posted_ = true;
      post = true;
      epoch = inbox_epoch_;
    }
  }
  if (post) boost::asio::post(strand_, [self = shared_from_this(), epoch] { self->drain_inbox(epoch); });
}

void store_impl::drain_inbox(std::uint64_t epoch) {
  EVSTORE_REQUIRE(on_writer_strand());
  {
    std::lock_guard lock(inbox_mutex_);
    if (epoch != inbox_epoch_) return;  // a close took them, and a later drain has the rest
    std::swap(inbox_, draining_);
    drain_posted_ = false;
  }
  run_appends(draining_);
}

void store_impl::run_appends(std::vector<incoming_append>& appends) {
  EVSTORE_REQUIRE(on_writer_strand());
  // A handler called here (a refused append) may append again: that goes to
  // the inbox and a drain of its own, never into `appends`.
  // One clock read for the run: its appends arrived together, and a read per
  // append cost a few percent of a burst.
  const std::int64_t committed_at = now_ms();
  for (incoming_append& a : appends) {
    if (a.change) {
      do_lifecycle(a, committed_at);
    } else {
      do_append(a.stream, a.events, a.expected, a.handler, a.direct, committed_at);
    }
  }
  appends.clear();
  // A burst's queue goes back; steady appends reuse theirs.
  if (appends.capacity() > 4096) appends.shrink_to_fit();
}

void store_impl::complete(pending_append& p, boost::system::error_code ec) {
  if (!p.direct) {
    auto ex = boost::asio::get_associated_executor(p.handler, strand_);
    boost::asio::dispatch(ex,
                          [h = std::move(p.handler), ec, r = p.result]() mutable { std::move(h)(ec, r); });
    return;
  }
  // What dispatch to the strand does from the strand, without its type-erased
  // executor and function object.
  // The work goes after the handler returned or threw, as a tracked
  // handler's would: a throwing callback must not keep run() from returning.
  struct release_work {
    store_impl& s;
    ~release_work() {
      if (--s.direct_pending_ == 0) s.direct_work_ = {};
    }
  } release{*this};
  auto h = std::move(p.handler);
  std::move(h)(ec, std::move(p.result));
}

error store_impl::validate(const std::vector<event_data>& events) const {
  if (events.empty()) return error(errc::invalid_event, "an append needs at least one event");
  if (events.size() > options_.max_append_events) {
    return error(errc::invalid_event, std::to_string(events.size()) +
                                          " events, more than max_append_events (" +
                                          std::to_string(options_.max_append_events) + ")");
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    const event_data& e = events[i];
    // Built only for an error: most appends have none.
    const auto which = [i] { return "event " + std::to_string(i) + ": "; };
    if (e.type.empty() || e.type.size() > options_.max_type_bytes || !is_printable_utf8(e.type)) {
      return error(errc::invalid_event, which() + "the type must be 1.." +
                                            std::to_string(options_.max_type_bytes) +
                                            " bytes of printable UTF-8");
    }
    const std::size_t size = e.type.size() + e.data.size() + e.metadata.size();
    if (size > options_.max_event_bytes) {
      return error(errc::invalid_event, which() + std::to_string(size) +
                                            " bytes, more than max_event_bytes (" +
                                            std::to_string(options_.max_event_bytes) + ")");
    }
    if (!e.data.empty() && !is_valid_json(e.data))
      return error(errc::invalid_event, which() + "data is not JSON");
    if (!e.metadata.empty() && !is_valid_json(e.metadata))
      return error(errc::invalid_event, which() + "metadata is not JSON");
    // What is written, not what was given: empty data is stored as `null`.
    const std::size_t data_size = e.data.empty() ? 4 : e.data.size();
    // The record also carries its stream's name (at most max_record_name bytes).
    if (format::record_size(e.type.size(), data_size, e.metadata.size()) + format::max_record_name >
        format::max_record_size) {
      return error(errc::invalid_event, which() + "its record would exceed the format's limit of " +
                                            std::to_string(format::max_record_size) + " bytes");
    }
  }
  // An id names one event: the same id twice in one append is a client's bug.
  if (events.size() < 2) return {};
  std::vector<boost::uuids::uuid> ids;
  for (const event_data& e : events) {
    if (e.id) ids.push_back(*e.id);
  }
  std::sort(ids.begin(), ids.end());
  if (const auto twice = std::adjacent_find(ids.begin(), ids.end()); twice != ids.end()) {
    return error(errc::invalid_event,
                 "event id " + boost::uuids::to_string(*twice) + " is given twice in one append");
  }
  return {};
}

void store_impl::do_append(std::string& stream, std::vector<event_data>& events, expected_version expected,
                           append_handler& handler, bool direct, std::int64_t committed_at) {
  EVSTORE_REQUIRE(on_writer_strand());
  pending_append p = begin_pending(handler, direct, expected);
  auto fail = [&](error e) {
    p.result.detail = e.detail.empty() ? e.code.message() : std::move(e.detail);
    complete(p, e.code);
  };
  if (auto refused = check_appendable(stream, events); refused.code) return fail(std::move(refused));
  if (auto refused = check_not_tombstoned(stream); refused.code) return fail(std::move(refused));
  if (auto refused = refused_append(stream, events); refused.code) return fail(std::move(refused));
  // Before the stream's state is looked up: in buffered mode the flush this
  // may start runs here, and its sweep of the writer cache must not drop a
  // state this append is about to use (it is not in a batch yet).
  seal_before_overflow(events);
  auto found = writer_stream_of(stream);
  if (!found) return fail(found.error());
  writer_stream* s = *found;
  const std::uint64_t count = s ? s->pending_count : 0;

  // A retry of a recent append (same ids) gets the first result; it is queued
  // with this tick's batch so that it never completes before the original.
  if (s != nullptr && events.front().id) {
    if (const auto at = find_retry(*s, events)) return queue_retry(*s, *at, events.size(), count, p);
  }
  if (auto refused = check_ids_and_version(s, stream, events, expected, count, p.result); refused.code) {
    return fail(std::move(refused));
  }
  // Claimed against a read stream being created since the check above.
  if (s == nullptr && !indexer_->claim_write_name(stream, [&] {
        s = &writers_.add(stream);
        s->partition = partition_of(stream);
        s->recent_loaded = true;
        EVSTORE_TEST_POINT("writer_streams.add.new");
      })) {
    return fail({errc::invalid_stream_name, "'" + stream + "' is the name of a read stream"});
  }
  encode_append(*s, events, p.result, committed_at);
  batch_->appends.push_back(std::move(p));
  stat_appends_.fetch_add(1, std::memory_order_relaxed);
  if (batch_->records.size() >= options_.flush_threshold_bytes) {
    start_flush();
  } else {
    schedule_flush();
  }
}

pending_append store_impl::begin_pending(append_handler& handler, bool direct, expected_version expected) {
  pending_append p{std::move(handler), {}, direct};
  if (direct && direct_pending_++ == 0) {
    direct_work_ = boost::asio::prefer(executor_, boost::asio::execution::outstanding_work.tracked);
  }
  p.result.expected = expected;
  return p;
}

// Why no write may go to `stream` now, or no error: the store's state and
// the stream's name.
error store_impl::check_writable(const std::string& stream) const {
  if (options_.read_only) return {errc::read_only, "the store is open read-only"};
  if (closed_) return {errc::store_closed, "the store was closed"};
  if (failed_)
    return {errc::store_failed, "an earlier write failed (" + failed_.message() + "); reopen the store"};
  if (auto invalid = stream_name_error(stream, name_use::append); invalid.code) return invalid;
  return {};
}

// check_writable, then the events themselves.
error store_impl::check_appendable(const std::string& stream, const std::vector<event_data>& events) const {
  if (auto refused = check_writable(stream); refused.code) return refused;
  return validate(events);
}

std::optional<stream_lifecycle> store_impl::writer_lifecycle_of(std::string_view stream) const {
  if (!pending_lifecycle_.empty()) {
    if (const auto it = pending_lifecycle_.find(std::string(stream)); it != pending_lifecycle_.end())
      return it->second.lifecycle;
  }
  return lifecycle_.find(stream);
}

error store_impl::check_not_tombstoned(const std::string& stream) const {
  if (pending_lifecycle_.empty() && lifecycle_.empty()) return {};
  const auto l = writer_lifecycle_of(stream);
  if (!l || !l->tombstoned) return {};
  return {errc::stream_tombstoned, "stream '" + stream + "' was deleted for good and takes no writes"};
}

// A delete or a metadata change: checked against `a.stream` (its name, a
// tombstone, the expected version), then written as one $lifecycle event
// carrying the stream's whole lifecycle after it. The stream's count is taken
// here, on the strand, so a soft delete hides exactly the events appended
// before it (those queued in this batch included) and none after.
void store_impl::do_lifecycle(incoming_append& a, std::int64_t committed_at) {
  EVSTORE_REQUIRE(on_writer_strand());
  pending_append p = begin_pending(a.handler, a.direct, a.expected);
  auto fail = [&](error e) {
    p.result.detail = e.detail.empty() ? e.code.message() : std::move(e.detail);
    complete(p, e.code);
  };
  const std::string& stream = a.stream;
  const lifecycle_change& change = *a.change;
  if (auto refused = check_writable(stream); refused.code) return fail(std::move(refused));
  if (auto refused = check_not_tombstoned(stream); refused.code) return fail(std::move(refused));
  auto found = writer_stream_of(stream);
  if (!found) return fail(found.error());
  const std::uint64_t count = *found ? (*found)->pending_count : 0;
  if (count > 0) p.result.actual = count - 1;
  if (!expected_matches(a.expected, count)) {
    return fail({errc::wrong_expected_version,
                 "stream '" + stream + "' " +
                     (count > 0 ? "is at version " + std::to_string(count - 1) : "has no events") +
                     ", expected " + to_string(a.expected)});
  }
  if (const auto& age = change.metadata.max_age; age && (age->count() < 0 || *age > max_age_limit)) {
    return fail(
        {errc::invalid_argument, "max_age must be 0.." + std::to_string(max_age_limit.count()) + " seconds"});
  }
  if (auto bad = change.what == lifecycle_change::kind::set_metadata ? acl_problem(change.metadata.acl)
                                                                     : std::nullopt)
    return fail({errc::invalid_argument, std::move(*bad)});
  stream_lifecycle next = writer_lifecycle_of(stream).value_or(stream_lifecycle{});
  switch (change.what) {
    case lifecycle_change::kind::set_metadata: next.metadata = change.metadata; break;
    case lifecycle_change::kind::set_limits: {
      stream_acl kept = std::move(next.metadata.acl);
      next.metadata = change.metadata;
      next.metadata.acl = std::move(kept);
      break;
    }
    case lifecycle_change::kind::hard_delete: next.tombstoned = true; [[fallthrough]];
    case lifecycle_change::kind::soft_delete:
      if (count == 0 && change.what == lifecycle_change::kind::soft_delete)
        return fail({errc::stream_not_found, "stream '" + stream + "' has no events to delete"});
      next.deleted = true;
      next.deleted_before = count;
      next.metadata.truncate_before = count;
      break;
  }
  std::vector<event_data> events(1);
  events[0].type = lifecycle_event_type;
  events[0].data = lifecycle_event_data(stream, next);
  if (auto refused = refused_append(stream, events); refused.code) return fail(std::move(refused));
  seal_before_overflow(events);
  auto log = writer_stream_of(std::string(lifecycle_stream));
  if (!log) return fail(log.error());
  writer_stream* s = *log;
  if (s == nullptr) {
    s = &writers_.add(std::string(lifecycle_stream));
    s->partition = partition_of(lifecycle_stream);
    s->recent_loaded = true;
  }
  encode_append(*s, events, p.result, committed_at);
  // The result speaks of the stream: its last version, and where in $all the change is.
  p.result.first_version = p.result.version = count > 0 ? count - 1 : 0;
  p.result.actual = count > 0 ? std::optional<std::uint64_t>(count - 1) : std::nullopt;
  p.result.created_stream = false;
  const std::uint64_t sequence = ++lifecycle_sequence_;
  pending_lifecycle_[stream] = {next, sequence};
  batch_->lifecycles.push_back({stream, next, sequence});
  batch_->appends.push_back(std::move(p));
  stat_appends_.fetch_add(1, std::memory_order_relaxed);
  schedule_flush();
}

// The stream an append goes to, its writer state ready; null for a new stream.
// A stream not in the writer's cache (not appended to since open, or dropped
// from it since) has no appends in flight: its count is the stream index's
// (everything flushed is indexed).
result<writer_stream*> store_impl::writer_stream_of(const std::string& stream) {
  if (writer_stream* s = writers_.find(stream)) return s;
  // A read stream's name is taken: its events are links, not appends.
  if (indexer_->is_link(stream)) {
    return error{errc::invalid_stream_name, "'" + stream + "' is a read stream: its events are links"};
  }
  auto last = index_->last_version(stream);
  if (!last) return last.error();
  if (!*last) return nullptr;
  writer_stream& s = writers_.add(stream);
  s.partition = partition_of(stream);
  s.pending_count = **last + 1;
  return &s;
}

// Completes a retry with the result of the recent commit it repeats (at
// s.recent[at]), in this tick's batch.
void store_impl::queue_retry(writer_stream& s, std::size_t at, std::size_t size, std::uint64_t count,
                             pending_append& p) {
  // By index: the window is a ring, whose elements may wrap around its end.
  const recent_event& first = s.recent[at];
  const recent_event& last = s.recent[at + size - 1];
  p.result.first_version = first.version;
  p.result.version = last.version;
  p.result.first_position = first.position;
  p.result.position = last.position;
  p.result.created_stream = first.version == 0;
  p.result.duplicate = true;
  p.result.actual = count - 1;
  batch_->appends.push_back(std::move(p));
  schedule_flush();
}

// Refuses an append (not a retry) that reuses a recent event's id or does not
// meet its expected version; `count`: the stream's events, pending included.
error store_impl::check_ids_and_version(writer_stream* s, const std::string& stream,
                                        const std::vector<event_data>& events, expected_version expected,
                                        std::uint64_t count, append_result& r) {
  // Not a retry, yet one of its ids is a recent event's: writing it would
  // store that id twice (and a client that meant a retry would get two copies).
  if (s != nullptr) {
    if (const auto taken = find_taken_id(*s, events)) {
      if (count > 0) r.actual = count - 1;
      return {
          errc::duplicate_event_id,
          "event " + std::to_string(taken->first) + "'s id " +
              boost::uuids::to_string(*events[taken->first].id) + " is version " +
              std::to_string(taken->second) + " of stream '" + stream +
              "', and the append is not a retry of the append that wrote it (other ids or other content)"};
    }
  }
  if (!expected_matches(expected, count)) {
    if (count > 0) r.actual = count - 1;
    return {errc::wrong_expected_version,
            "stream '" + stream + "' " +
                (count > 0 ? "is at version " + std::to_string(count - 1) : "has no events") + ", expected " +
                to_string(expected)};
  }
  return {};
}

// A batch grows while the previous flush is in flight (durable mode): seal
// it before it would outgrow a flush and queue the next one behind it.
void store_impl::seal_before_overflow(const std::vector<event_data>& events) {
  std::size_t bytes = 0;
  for (const event_data& e : events) {
    bytes += format::record_size(e.type.size(), e.data.empty() ? 4 : e.data.size(), e.metadata.size());
  }
  if (!batch_->empty() && batch_->records.size() + bytes > options_.flush_threshold_bytes) {
    seal_batch();
    start_flush();  // at once unless a flush is in flight, as at the threshold
  }
}

// True if `r` is one of the stream's last idempotency_window events: entries
// stay in s.recent past that until the next event with an id pushes them out.
bool store_impl::in_window(const writer_stream& s, const recent_event& r) const {
  return r.version + options_.idempotency_window >= s.pending_count;
}

// The index in s.recent of the first event of a recent commit whose ids and
// contents are exactly `events`', or nullopt. A commit's events are kept one after
// another in the ring, so its events follow that index.
std::optional<std::size_t> store_impl::find_retry(writer_stream& s, const std::vector<event_data>& events) {
  load_recent(s);
  const auto& recent = s.recent;
  for (std::size_t i = 0; i + events.size() <= recent.size(); ++i) {
    if (!in_window(s, recent[i]) || !recent[i].commit_start || recent[i].id != *events.front().id) continue;
    bool match = recent[i + events.size() - 1].commit_end;
    for (std::size_t k = 0; k < events.size() && match; ++k) {
      match = events[k].id && recent[i + k].id == *events[k].id &&
              recent[i + k].version == recent[i].version + k &&
              recent[i + k].content_crc ==
                  content_checksum(events[k].type, stored_data(events[k]), events[k].metadata);
    }
    if (match) return i;
  }
  return std::nullopt;
}

// The first event of `events` whose id is one of the stream's recent events'
// (its index, and that event's version), or nullopt.
std::optional<std::pair<std::size_t, std::uint64_t>> store_impl::find_taken_id(
    writer_stream& s, const std::vector<event_data>& events) {
  // Appends without ids (the common case) never load the window from disk.
  if (std::none_of(events.begin(), events.end(), [](const event_data& e) { return e.id.has_value(); }))
    return std::nullopt;
  load_recent(s);
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (!events[k].id) continue;
    for (std::size_t i = 0; i < s.recent.size(); ++i) {
      const recent_event& r = s.recent[i];
      if (r.id == *events[k].id && in_window(s, r)) return std::pair{k, r.version};
    }
  }
  return std::nullopt;
}

// Fills the idempotency window of a stream from disk the first time it is
// needed after open, so that a retry after a restart is still recognised.
void store_impl::load_recent(writer_stream& s) {
  if (s.recent_loaded) return;
  s.recent_loaded = true;
  // Not in the cache before it (re)entered it: every earlier event of it is
  // flushed and published (s.recent holds only appends since then).
  const std::uint64_t published = all_count();
  auto count = index_->count_below(s.name, published);
  if (!count || *count == 0 || options_.idempotency_window == 0) return;
  const std::uint64_t n = std::min<std::uint64_t>(*count, options_.idempotency_window);
  page_storage storage;
  auto records = read_stream_records(s.name, *count - n, n, published, storage);
  if (!records) return;  // an unreadable tail only weakens retry detection; reads report it
  recent_events loaded;
  for (const format::decoded_record& r : records->records) {
    const auto& f = r.fields;
    if (!f.id) continue;
    recent_event e{{},           f.version,
                   f.position,   f.position == f.commit_first_position,
                   f.commit_end, content_checksum(f.type, f.data, f.metadata)};
    std::memcpy(e.id.data, f.id->data(), 16);
    loaded.push_back(e);
  }
  // Events appended since (already in s.recent) are newer.
  for (std::size_t i = 0; i < s.recent.size(); ++i) loaded.push_back(s.recent[i]);
  s.recent = std::move(loaded);
  while (s.recent.size() > options_.idempotency_window) s.recent.pop_front();
}

std::uint16_t store_impl::partition_of(std::string_view stream) const {
  if (partitions_count_ == 1) return 0;
  if (options_.partitioner)
    return static_cast<std::uint16_t>(options_.partitioner(stream) % partitions_count_);
  return default_partition(stream, partitions_count_);
}

void store_impl::encode_append(writer_stream& s, std::vector<event_data>& events, append_result& r,
                               std::int64_t committed_at) {
  batch& b = *batch_;
  if (s.batch_epoch != batch_epoch_) {
    s.batch_epoch = batch_epoch_;
    b.streams.push_back(&s);
  }
  const std::uint64_t first_position = next_position_;
  const auto n = static_cast<std::uint32_t>(events.size());
  r.first_version = s.pending_count;
  r.first_position = first_position;
  r.created_stream = s.pending_count == 0;
  if (r.created_stream) ++b.new_streams;
  for (std::uint32_t i = 0; i < n; ++i) {
    event_data& e = events[i];
    format::record_fields f;
    f.stream = s.name;
    f.position = first_position + i;
    f.version = s.pending_count;
    f.committed_at = committed_at;
    f.commit_first_position = first_position;
    f.commit_count = n;
    f.commit_end = i + 1 == n;
    f.id = to_bytes(e.id);
    f.type = e.type;
    f.data = stored_data(e);
    f.metadata = e.metadata;
    const std::size_t size = format::record_size(f);
    const std::size_t at = b.records.size();
    append_bytes(b.records, size);
    format::encode_record(f, std::span(b.records).subspan(at, size));
    b.refs.push_back(
        {static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(size), &s, f.version, f.commit_end});

    if (e.id && options_.idempotency_window > 0) {
      // The window is the stream's last idempotency_window events (by version),
      // as load_recent rebuilds it after a reopen; events without ids take a
      // place. Made room for first, so the ring never outgrows the window.
      while (!s.recent.empty() && s.recent.front().version + options_.idempotency_window <= f.version)
        s.recent.pop_front();
      s.recent.push_back(
          {*e.id, f.version, f.position, i == 0, f.commit_end, content_checksum(f.type, f.data, f.metadata)});
    }
    s.pending_count += 1;
  }
  next_position_ += n;
  r.version = s.pending_count - 1;
  r.position = next_position_ - 1;
  r.actual = r.version;
}

}  // namespace evstore::detail
