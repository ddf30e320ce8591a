// aggregate()'s snapshots: one file per write stream and fold name,
// <directory>/snapshots/<stream>/<name>.snapshot (file names encoded as
// stream files are), in the consumer checkpoint's layout (docs/format.md):
// position = the version folded to + 1, state =
// {"first":F,"position":P,"at":T,"state":S}: F the stream's first visible
// version when the fold was made, P and T the $all position and commit time
// of the event at the version folded to (so an event that was lost to a
// power loss, and a later one at the same version, are told apart), S the
// fold's JSON.
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "json/json_text.hpp"
#include "links/indexer.hpp"
#include "live/consumer_files.hpp"
#include "store/snapshot_files.hpp"
#include "store/store_impl.hpp"
#include <evstore/store.hpp>

#include <boost/asio/post.hpp>

#include <charconv>

namespace evstore::detail {

std::string snapshot_directory(const store_impl& store, std::string_view stream) {
  return layout::join(layout::join(store.options().directory, "snapshots"), encode_stream_file_name(stream));
}

boost::system::error_code remove_snapshots(const store_impl& store, std::string_view stream) {
  std::lock_guard serial(store.snapshot_mutex());
  file_system& fs = *store.options().file_system;
  const std::string dir = snapshot_directory(store, stream);
  if (!fs.exists(dir)) return {};
  auto names = fs.list(dir);
  if (!names) return names.error();
  for (const std::string& name : *names) {
    if (auto ec = fs.remove(layout::join(dir, name))) return ec;
  }
  return fs.sync_directory(dir);
}

}  // namespace evstore::detail

namespace evstore {
namespace {

std::string snapshot_path(const detail::store_impl& impl, std::string_view stream, std::string_view name) {
  return detail::layout::join(detail::snapshot_directory(impl, stream),
                              detail::encode_stream_file_name(name) + ".snapshot");
}

// The event at `version` of `stream` as reads show it now; nullopt if hidden or absent.
std::optional<recorded_event> event_at(const detail::store_impl& impl, std::string_view stream,
                                       std::uint64_t version) {
  auto page = impl.read_visible(stream, {.from = version, .max_count = 1});
  if (!page || page->events.empty() || page->events.front().version != version) return std::nullopt;
  return std::move(page->events.front());
}

// The stream's first visible version now; nullopt if none.
std::optional<std::uint64_t> first_visible(const detail::store_impl& impl, std::string_view stream) {
  auto page = impl.read_visible(stream, {.from = 0, .max_count = 1});
  if (!page || page->events.empty()) return std::nullopt;
  return page->events.front().version;
}

// The whole of `text` as an integer of type T; nullopt otherwise.
template <class T>
std::optional<T> read_integer(std::string_view text) {
  T v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

result<std::optional<std::pair<std::uint64_t, std::string>>> store::load_snapshot(
    std::string_view stream, std::string_view name, std::optional<std::uint64_t> first) const {
  if (detail::validate_stream_name(name, detail::name_use::read)) {
    return error(errc::invalid_argument,
                 "snapshot name: " + detail::stream_name_problem(name, detail::name_use::read) +
                     " (it names a file, as a stream name does)");
  }
  // An aggregate is a write stream: $all, $ce-, $et- and read streams
  // number their entries apart from the events' versions, and hide events
  // anywhere, not only at the front.
  if (stream.starts_with('$') || impl_->links().is_link(stream)) {
    return error(errc::invalid_argument, "snapshots are kept for write streams; '" + std::string(stream) +
                                             "' is a system or read stream");
  }
  std::optional<std::pair<std::uint64_t, std::string>> none;
  if (!first) return none;
  const std::string path = snapshot_path(*impl_, stream, name);
  file_system& fs = *impl_->options().file_system;
  if (!fs.exists(path)) return none;
  std::vector<std::byte> bytes;
  auto stored = detail::load_consumer_checkpoint(fs, path, bytes);
  // Damaged or unreadable: a cache miss, never an error of the fold.
  if (!stored || stored->position == 0 || !stored->state.starts_with('{') ||
      !detail::is_valid_json(stored->state)) {
    return none;
  }
  const auto taken_first = detail::raw_member(stored->state, "first");
  const auto position = detail::raw_member(stored->state, "position");
  const auto at = detail::raw_member(stored->state, "at");
  const auto state = detail::raw_member(stored->state, "state");
  if (!taken_first || !position || !at || !state) return none;
  const std::uint64_t version = stored->position - 1;
  // Of this stream as it is now: the same first visible event, and the very
  // event it was folded to (not one appended at that version after a power
  // loss took the first, nor a store restored from an older backup).
  if (read_integer<std::uint64_t>(*taken_first) != *first) return none;
  const auto last = event_at(*impl_, stream, version);
  if (!last || read_integer<std::uint64_t>(*position) != last->position ||
      read_integer<std::int64_t>(*at) != last->committed_at)
    return none;
  return std::optional<std::pair<std::uint64_t, std::string>>(std::in_place, version, std::string(*state));
}

void store::store_snapshot(std::string_view stream, std::string_view name, std::uint64_t version,
                           std::uint64_t first, std::string state) const {
  if (impl_->options().read_only) return;
  if (detail::validate_stream_name(name, detail::name_use::read) || stream.starts_with('$') ||
      !detail::is_valid_json(state)) {
    impl_->count_snapshot(false);
    return;
  }
  boost::asio::post(impl_->background_executor(), [impl = impl_, stream = std::string(stream),
                                                   path = snapshot_path(*impl_, stream, name), version, first,
                                                   state = std::move(state)] {
    // One at a time with remove_snapshots(): a scavenge that erased the
    // stream's events either removes this file or makes this check fail.
    std::lock_guard serial(impl->snapshot_mutex());
    // After close() the directory may belong to the next writer already.
    if (impl->is_closed()) return impl->count_snapshot(false);
    // The stream as the fold saw it, still: its first visible event (a
    // truncate or delete since then moves it), and the event folded to.
    const auto last = event_at(*impl, stream, version);
    if (!last || first_visible(*impl, stream) != first) return impl->count_snapshot(false);
    std::string body = "{\"first\":" + std::to_string(first) +
                       ",\"position\":" + std::to_string(last->position) +
                       ",\"at\":" + std::to_string(last->committed_at) + ",\"state\":" + state + "}";
    file_system& fs = *impl->options().file_system;
    const std::string dir = detail::layout::parent(path);
    boost::system::error_code ec;
    if (!fs.exists(dir)) ec = fs.create_directories(dir);
    if (!ec)
      ec = detail::write_file_atomically(fs, path,
                                         detail::format::encode_consumer_checkpoint({version + 1, body}));
    impl->count_snapshot(!ec);
  });
}

}  // namespace evstore
