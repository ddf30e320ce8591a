// Scavenging (scavenge.hpp; docs/format.md, "Scavenging"): erasing in place
// the records of events that reads hide, in batches that survive a crash.
//
// Which events: for each stream with a lifecycle (or the one asked for), its
// versions below first_readable() and, from there, those max_age hides,
// among the positions below a checkpoint taken first. Those are durable, so
// recovery never rewrites their $all entries, and none is ever appended to.
//
// One batch (at most batch_events events or batch_bytes of records):
//   1. index/scavenge := the batch (each event's place and the header its
//      erased record keeps), synced;
//   2. each event's $all entry gets the erased bit; all.idx synced;
//   3. each record is overwritten by its erased form: the header and name,
//      the trailer, and the whole blocks between given back (file::release);
//      the segments synced;
//   4. index/scavenge removed.
// Readers that located an event before step 2 and read its record during
// step 3 see a torn record, look at the entry again, find the bit and read
// again (reader.cpp). After a crash the writer's open redoes steps 2 and 3
// from the file (the same bytes again) before anything else, and so does the
// next scavenge after one that failed; a torn index/scavenge means step 2
// never started.
//
// Threading: scavenge() runs on the caller's thread, one at a time
// (scavenge_mutex_); it writes only bytes below the checkpoint, which the
// writer never touches, and the checkpoint it asks for runs on io_thread_.
#include "format/layout.hpp"
#include "format/scavenge_state.hpp"
#include "format/stream_name.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"
#include "require.hpp"
#include "store/scavenge_lock.hpp"
#include "store/snapshot_files.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <future>
#include <map>
#include <thread>

namespace evstore::detail {
namespace {

constexpr std::size_t batch_events = 1024;
constexpr std::uint64_t batch_bytes = std::uint64_t{64} << 20;
constexpr std::uint64_t versions_per_read = 1024;
constexpr std::uint64_t release_block = 4096;

}  // namespace

result<std::unique_ptr<file_lock>> lock_scavenge(file_system& fs, const std::string& dir) {
  // Non-blocking locks, so wait here: a batch takes milliseconds, a backup's copy longer.
  for (;;) {
    const std::string lock_path = layout::scavenge_lock(dir);
    auto held = fs.lock(lock_path);
    if (held) return std::move(*held);
    if (held.error() != make_error_code(errc::store_locked)) return error(held.error(), lock_path);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Asks the strand for a checkpoint at the published count once no flush is
// in flight (the flush in flight owns the logs), and hands its answer over.
class checkpoint_request : public std::enable_shared_from_this<checkpoint_request> {
 public:
  using answer = std::pair<boost::system::error_code, std::uint64_t>;
  checkpoint_request(std::shared_ptr<store_impl> store, std::function<void(answer)> done)
      : store_(std::move(store)), done_(std::move(done)) {}
  void attempt();

 private:
  std::shared_ptr<store_impl> store_;
  std::function<void(answer)> done_;
};

result<std::uint64_t> store_impl::checkpoint_now() {
  // Shared with the request: an answer that comes after this call gave up
  // must find its promise alive.
  auto done = std::make_shared<std::promise<checkpoint_request::answer>>();
  auto answer = done->get_future();
  auto request = std::make_shared<checkpoint_request>(
      shared_from_this(), [done](checkpoint_request::answer a) { done->set_value(a); });
  boost::asio::post(strand_, [request] { request->attempt(); });
  // A closed store answers store_closed from the strand, if a loop still
  // runs it; an embedder (evstored) may have stopped the loop after the
  // close, and then nothing ever answers: give up a second after the close.
  auto closed_since = std::chrono::steady_clock::time_point::max();
  while (answer.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (!is_closed()) continue;
    const auto now = std::chrono::steady_clock::now();
    if (closed_since == std::chrono::steady_clock::time_point::max()) closed_since = now;
    if (now - closed_since > std::chrono::seconds(1))
      return error(errc::store_closed, "the store closed before the scavenge's checkpoint");
  }
  const auto [ec, count] = answer.get();
  if (ec) return error(ec, "writing a checkpoint before scavenging");
  return count;
}

void store_impl::checkpoint_for(std::function<void(boost::system::error_code, std::uint64_t)> done,
                                std::function<void()> retry) {
  EVSTORE_REQUIRE(on_writer_strand());
  if (closed_) return done(make_error_code(errc::store_closed), 0);
  if (failed_) return done(failed_, 0);
  if (flush_in_flight_) {
    auto timer = std::make_shared<boost::asio::steady_timer>(strand_, std::chrono::milliseconds(1));
    timer->async_wait([timer, retry = std::move(retry)](boost::system::error_code) { retry(); });
    return;
  }
  const std::uint64_t count = all_count();
  if (count == checkpoint_count_) return done({}, count);
  run_on_io_thread([this, count] { return write_checkpoint(count, stream_count()); },
                   [self = shared_from_this(), count, done = std::move(done)](boost::system::error_code ec) {
                     if (ec && !self->failed_) self->failed_ = ec;
                     done(ec, count);
                     self->start_flush();
                   });
}

void checkpoint_request::attempt() {
  store_->checkpoint_for(
      [self = shared_from_this()](boost::system::error_code ec, std::uint64_t count) {
        self->done_({ec, count});
      },
      [self = shared_from_this()] { self->attempt(); });
}

result<void> store_impl::write_scavenge_batch(const std::vector<format::scavenge_entry>& batch,
                                              std::uint64_t& released) {
  // 2. The entries.
  const std::string all = all_path();
  auto all_file = fs_->open(all, open_mode::read_write);
  if (!all_file) return io_error_at(all_file.error(), "opening", "index/all.idx", 0);
  for (const auto& e : batch) {
    std::array<std::byte, format::all_entry2_size> bytes{};
    format::encode_all_entry2(e.entry, bytes);
    const std::uint64_t at = e.position * format::all_entry2_size;
    if (auto ec = (*all_file)->write_at(at, bytes)) return io_error_at(ec, "writing", "index/all.idx", at);
  }
  if (auto ec = (*all_file)->sync()) return io_error_at(ec, "syncing", "index/all.idx", 0);
  EVSTORE_KILL_POINT("scavenge_entries_marked");
  // 3. The records, segment by segment.
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::unique_ptr<file>> segments;
  std::vector<std::byte> record;
  for (const auto& e : batch) {
    const std::uint64_t segment = geometry_.segment_of(e.entry.offset);
    const std::uint64_t at = geometry_.in_segment(e.entry.offset);
    const std::string name = segment_relative_path(e.entry.partition, segment);
    auto& handle = segments[{e.entry.partition, segment}];
    if (!handle) {
      auto opened = open_log_segment(e.entry.partition, segment);
      if (!opened) return opened.error();
      handle = std::move(*opened);
    }
    record.resize(e.entry.size);
    const auto fields = e.erased_fields();
    format::encode_erased_record(fields, record);
    // The whole blocks strictly between the name and the trailer are zeros:
    // given back rather than written.
    const std::uint64_t head_end = at + format::record_header_size + e.stream.size();
    const std::uint64_t tail_begin = at + e.entry.size - format::record_trailer_size;
    std::uint64_t hole_begin = (head_end + release_block - 1) / release_block * release_block;
    std::uint64_t hole_end = tail_begin / release_block * release_block;
    if (hole_end <= hole_begin) hole_begin = hole_end = tail_begin;
    const auto part = [&](std::uint64_t from, std::uint64_t to) {
      return const_buffer_span(record.data() + (from - at), to - from);
    };
    if (auto ec = handle->write_at(at, part(at, hole_begin))) return io_error_at(ec, "writing", name, at);
    if (hole_end > hole_begin) {
      if (auto ec = handle->release(hole_begin, hole_end - hole_begin))
        return io_error_at(ec, "releasing", name, hole_begin);
      released += hole_end - hole_begin;
    }
    if (auto ec = handle->write_at(hole_end, part(hole_end, at + e.entry.size)))
      return io_error_at(ec, "writing", name, hole_end);
    EVSTORE_KILL_POINT("scavenge_record_written");
  }
  for (auto& [key, handle] : segments) {
    if (auto ec = handle->sync())
      return io_error_at(ec, "syncing", segment_relative_path(key.first, key.second), 0);
  }
  return {};
}

result<void> store_impl::finish_scavenge() {
  const std::string path = layout::scavenge_state(options_.directory);
  if (!fs_->exists(path)) return {};
  auto held = lock_scavenge(*fs_, options_.directory);  // a batch of a closed store still running: wait
  if (!held) return held.error();
  auto f = fs_->open(path, open_mode::read_only);
  if (!f) {
    if (f.error() == boost::system::errc::no_such_file_or_directory) return {};  // that batch finished
    return io_error_at(f.error(), "opening", "index/scavenge", 0);
  }
  auto bytes = read_all(**f);
  if (!bytes) return io_error_at(bytes.error(), "reading", "index/scavenge", 0);
  f->reset();
  if (auto batch = format::decode_scavenge_state(*bytes)) {
    if (auto ok = still_in_place(*batch); !ok) return ok;
    std::uint64_t released = 0;
    if (auto ok = write_scavenge_batch(*batch, released); !ok) return ok;
  }
  if (auto ec = fs_->remove(path)) return io_error_at(ec, "removing", "index/scavenge", 0);
  return {};
}

result<void> store_impl::still_in_place(std::vector<format::scavenge_entry>& batch) const {
  // A note outlives what it names only if something moved the records
  // meanwhile (repair packs a damaged log anew): each entry is redone only
  // where $all still locates that record, erased or not, or where the
  // batch's own write tore the entry.
  const std::string all = all_path();
  auto f = fs_->open(all, open_mode::read_only);
  if (!f) return io_error_at(f.error(), "opening", "index/all.idx", 0);
  std::erase_if(batch, [&](const format::scavenge_entry& e) {
    std::array<std::byte, format::all_entry2_size> bytes{};
    auto n = (*f)->read_at(e.position * format::all_entry2_size, bytes);
    if (!n || *n != bytes.size()) return true;
    // An entry that does not decode is one this batch's write tore: redone.
    auto now = format::decode_all_entry2(bytes);
    return now && (now->partition != e.entry.partition || now->offset != e.entry.offset ||
                   now->size != e.entry.size);
  });
  return {};
}

result<void> store_impl::scavenge_batch(std::vector<format::scavenge_entry>& batch, scavenge_report& report) {
  if (batch.empty()) return {};
  auto held = lock_scavenge(*fs_, options_.directory);  // a backup copies meanwhile: wait
  if (!held) return held.error();
  // Once closed, the directory may have a new writer: no batch starts then
  // (one in progress keeps the lock, so a new writer's open waits for it).
  if (is_closed()) return error(errc::store_closed, "the store closed while scavenging");
  // 1. The batch, durable before anything it names changes.
  const std::string path = layout::scavenge_state(options_.directory);
  {
    auto f = fs_->open(path, open_mode::read_write_create);
    if (!f) return io_error_at(f.error(), "opening", "index/scavenge", 0);
    const auto bytes = format::encode_scavenge_state(batch);
    if (auto ec = (*f)->truncate(0)) return io_error_at(ec, "truncating", "index/scavenge", 0);
    if (auto ec = (*f)->write_at(0, bytes)) return io_error_at(ec, "writing", "index/scavenge", 0);
    if (auto ec = (*f)->sync()) return io_error_at(ec, "syncing", "index/scavenge", 0);
    if (auto ec = fs_->sync_directory(layout::index_dir(options_.directory)))
      return io_error_at(ec, "syncing", "index", 0);
  }
  EVSTORE_KILL_POINT("scavenge_batch_noted");
  std::uint64_t released = 0;
  if (auto ok = write_scavenge_batch(batch, released); !ok) return ok;
  // 4. Done: a stale file after a crash here would only be redone.
  if (auto ec = fs_->remove(path)) return io_error_at(ec, "removing", "index/scavenge", 0);
  report.events_erased += batch.size();
  for (const auto& e : batch) report.bytes_erased += e.entry.size;
  report.bytes_released += released;
  batch.clear();
  return {};
}

result<void> store_impl::scavenge_stream(const std::string& stream, const stream_lifecycle& l,
                                         std::uint64_t below, std::vector<format::scavenge_entry>& batch,
                                         scavenge_report& report) {
  // A stream whose metadata holds an access list alone hides nothing.
  const stream_metadata& m = l.metadata;
  if (l.deleted_before == 0 && !m.truncate_before && !m.max_count && !m.max_age) return {};
  auto count = index_->count_below(stream, below);
  if (!count) return count.error();
  const std::uint64_t hidden = first_readable(l, *count);
  if (hidden == 0 && !l.metadata.max_age) return {};
  const std::int64_t now = now_ms();
  std::uint64_t batch_size = 0;
  for (const auto& e : batch) batch_size += e.entry.size;
  // Versions below `hidden`, then those max_age hides (oldest first: stop at
  // the first that is not).
  for (std::uint64_t from = 0; from < *count;) {
    const std::uint64_t n = std::min(versions_per_read, *count - from);
    std::vector<std::uint64_t> positions;
    auto got = index_->lookup(stream, from, n, positions);
    if (!got) return got.error();
    if (positions.size() != n)
      return corruption("stream index holds fewer versions than it counted", "index", 0);
    std::vector<located_record> located(n);
    for (std::uint64_t i = 0; i < n; ++i) located[i].position = positions[i];
    if (auto ok = locate(located); !ok) return ok.error();
    std::erase_if(located, [](const located_record& r) { return r.erased; });
    page_storage storage;
    std::vector<format::decoded_record> records;
    if (auto ok = read_records(located, storage, records); !ok) return ok.error();
    bool past_expired = false;
    for (std::size_t k = 0; k < records.size(); ++k) {
      const auto& r = records[k];
      if (r.kind == format::record_kind_erased) continue;
      if (r.fields.version >= hidden && !expired(l, r.fields.committed_at, now)) {
        past_expired = true;
        break;
      }
      format::scavenge_entry e;
      e.position = located[k].position;
      e.entry = {located[k].partition, located[k].offset, located[k].size, located[k].commit_end, true};
      e.stream = stream;
      e.version = r.fields.version;
      e.committed_at = r.fields.committed_at;
      e.commit_first_position = r.fields.commit_first_position;
      e.commit_count = r.fields.commit_count;
      batch_size += e.entry.size;
      batch.push_back(std::move(e));
      if (batch.size() >= batch_events || batch_size >= batch_bytes) {
        if (auto ok = scavenge_batch(batch, report); !ok) return ok;
        batch_size = 0;
      }
    }
    if (past_expired) break;
    from += n;
  }
  return {};
}

result<scavenge_report> store_impl::scavenge(const scavenge_options& options) {
  if (options_.read_only) return error(errc::read_only, "scavenging needs the writer");
  if (!options.stream.empty()) {
    if (auto invalid = stream_name_error(options.stream, name_use::read); invalid.code) return invalid;
  }
  std::lock_guard one_at_a_time(scavenge_mutex_);
  // After close() the store's files are no longer this store's to write.
  if (is_closed()) return error(errc::store_closed, "the store is closed");
  // A batch an earlier scavenge left half done (an I/O error after its
  // entries were marked): finished first, or its records would keep their
  // bodies until the next open, since their marked entries are skipped below.
  if (auto ok = finish_scavenge(); !ok) return ok.error();
  // The lifecycles before the checkpoint: each was published, so its
  // $lifecycle event is below the checkpoint's count and as durable as the
  // events it hides (a delete published later may be lost to a power loss
  // in buffered mode, and must not have erased anything then).
  std::vector<std::pair<std::string, stream_lifecycle>> streams;
  if (!options.stream.empty()) {
    if (auto l = lifecycle_.find(options.stream)) streams.emplace_back(options.stream, *l);
  } else {
    streams = lifecycle_.snapshot();
  }
  auto below = checkpoint_now();
  if (!below) return below.error();
  scavenge_report report;
  report.below = *below;
  std::erase_if(streams, [](const auto& s) { return s.first.starts_with('$'); });
  std::vector<format::scavenge_entry> batch;
  for (const auto& [name, l] : streams) {
    if (is_closed()) return error(errc::store_closed, "the store closed while scavenging");
    const std::uint64_t erased_before = report.events_erased + batch.size();
    if (auto ok = scavenge_stream(name, l, report.below, batch, report); !ok) return ok.error();
    // A state folded from events erased now must not outlive them.
    if (report.events_erased + batch.size() != erased_before) {
      if (auto ec = remove_snapshots(*this, name)) return error(ec, snapshot_directory(*this, name));
    }
    ++report.streams;
    if (options.progress) options.progress(report.streams, streams.size());
  }
  if (auto ok = scavenge_batch(batch, report); !ok) return ok.error();
  return report;
}

}  // namespace evstore::detail
