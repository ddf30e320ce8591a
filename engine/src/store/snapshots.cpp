// aggregate()'s snapshots: one file per stream and fold name,
// <directory>/snapshots/<stream>/<name>.snapshot (file names encoded as
// stream files are), in the consumer checkpoint's layout (docs/format.md):
// position = the version folded to + 1, state = {"first":F,"state":S}, F
// the stream's first visible event when the fold was made, S the fold's JSON.
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "json/json_text.hpp"
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

std::optional<std::uint64_t> read_u64(std::string_view text) {
  std::uint64_t v = 0;
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
  const auto at = detail::raw_member(stored->state, "first");
  const auto state = detail::raw_member(stored->state, "state");
  if (!at || !state) return none;
  const auto taken_first = read_u64(*at);
  const std::uint64_t version = stored->position - 1;
  // Of this stream as it is now: the same first visible event, and not past
  // its version (a store restored from an older backup).
  if (!taken_first || *taken_first != *first) return none;
  auto now = stream_version(stream);
  if (!now || !*now || **now < version) return none;
  return std::optional<std::pair<std::uint64_t, std::string>>(std::in_place, version, std::string(*state));
}

void store::store_snapshot(std::string_view stream, std::string_view name, std::uint64_t version,
                           std::uint64_t first, std::string state) const {
  if (impl_->options().read_only) return;
  if (detail::validate_stream_name(name, detail::name_use::read) || !detail::is_valid_json(state)) {
    impl_->count_snapshot(false);
    return;
  }
  // The application's JSON as it gave it, inside the envelope.
  std::string body = std::move(state);
  body.insert(0, "{\"first\":" + std::to_string(first) + ",\"state\":");
  body += "}";
  boost::asio::post(impl_->background_executor(), [impl = impl_, path = snapshot_path(*impl_, stream, name),
                                                   version, body = std::move(body)] {
    // After close() the directory may belong to the next writer already.
    if (impl->is_closed()) return impl->count_snapshot(false);
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
