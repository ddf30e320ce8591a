#include "migrate/migrate_store.hpp"

#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/store_json.hpp"
#include "format/stream_name.hpp"
#include "io/file_error.hpp"
#include "io/io_util.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <cstring>
#include <span>

namespace evstore::detail::migrate {
namespace {

bool missing(const boost::system::error_code& ec) {
  return ec == boost::system::errc::no_such_file_or_directory;
}

// Removes `path` and everything under it (a leftover <dir>.v2-tmp).
result<void> remove_tree(file_system& fs, const std::string& path) {
  auto names = fs.list(path);
  if (names) {
    for (const std::string& name : *names) {
      if (auto ok = remove_tree(fs, layout::join(path, name)); !ok) return ok;
    }
  }
  if (auto ec = fs.remove(path); ec && !missing(ec)) return io_error_at(ec, "removing", path, 0);
  return {};
}

result<void> sync_dir(file_system& fs, const std::string& dir) {
  if (auto ec = fs.sync_directory(dir)) return io_error_at(ec, "syncing the directory", dir, 0);
  return {};
}

result<void> rename_dir(file_system& fs, const std::string& from, const std::string& to) {
  if (auto ec = fs.rename(from, to)) return io_error_at(ec, "renaming " + from + " to", to, 0);
  return sync_dir(fs, layout::parent_directory(to));
}

// The all_count of a finished format-2 store's checkpoint.
result<std::uint64_t> checkpoint_count(file_system& fs, const std::string& dir, const store_description& d) {
  const std::string path = layout::checkpoint(dir);
  auto f = fs.open(path, open_mode::read_only);
  if (!f) return io_error_at(f.error(), "reading", path, 0);
  auto bytes = read_all(**f);
  if (!bytes) return io_error_at(bytes.error(), "reading", path, 0);
  auto c = format::decode_checkpoint2_file(*bytes, d.partitions);
  if (!c) return corruption_at("no valid checkpoint slot", path, 0);
  return c->all_count;
}

// links/read_streams.json as the indexer writes it (links/indexer.cpp,
// write_definitions): the filters' JSON text as stored.
result<void> write_read_streams(file_system& fs, const std::string& dir,
                                const std::vector<v1_read_stream>& defs) {
  if (defs.empty()) return {};
  std::string text = "{\"readStreams\":[";
  for (const v1_read_stream& d : defs) {
    if (text.back() != '[') text += ',';
    text += "{\"name\":" + boost::json::serialize(boost::json::string(d.name)) +
            ",\"filter\":" + d.filter_json + ",\"built\":" + (d.built ? "true" : "false") + "}";
  }
  text += "]}\n";
  const std::string links = layout::links_dir(dir);
  if (auto ec = fs.create_directories(links)) return io_error_at(ec, "creating the directory", links, 0);
  const std::string path = layout::join(links, "read_streams.json");
  if (auto ec = write_file_atomically(fs, path, std::as_bytes(std::span(text))))
    return io_error_at(ec, "writing", path, 0);
  return sync_dir(fs, dir);
}

// consumers/<enc stream>/<enc name>.consumer, as live/consumer.cpp places them.
result<void> write_consumers(file_system& fs, const std::string& dir,
                             const std::vector<v1_consumer>& consumers) {
  if (consumers.empty()) return {};
  const std::string root = layout::join(dir, "consumers");
  for (const v1_consumer& c : consumers) {
    const std::string stream_dir = layout::join(root, encode_stream_file_name(c.stream));
    if (auto ec = fs.create_directories(stream_dir))
      return io_error_at(ec, "creating the directory", stream_dir, 0);
    const std::string path = layout::join(stream_dir, encode_stream_file_name(c.name) + ".consumer");
    if (auto ec = write_file_atomically(fs, path, format::encode_consumer_checkpoint({c.position, c.state})))
      return io_error_at(ec, "writing", path, 0);
    // The stream's directory in consumers/ (its parents may be nested for
    // long names: sync each level up to the root).
    for (std::string d = stream_dir; d.size() > root.size(); d = layout::parent(d)) {
      if (auto ok = sync_dir(fs, layout::parent(d)); !ok) return ok;
    }
  }
  return sync_dir(fs, dir);
}

v2_event to_v2(const v1_event& e) {
  v2_event out;
  out.stream = e.stream;
  out.version = e.version;
  out.committed_at = e.committed_at;
  if (e.id) {
    std::array<std::byte, 16> id{};
    std::memcpy(id.data(), e.id->data, id.size());
    out.id = id;
  }
  out.type = e.type;
  out.data = e.data;
  out.metadata = e.metadata;
  out.commit_end = e.commit_end;
  return out;
}

// Writes the format-2 store of `source` into `tmp` (removed first).
result<void> write_store(const std::shared_ptr<file_system>& fs, v1_reader& reader, const std::string& tmp,
                         const migrate_options& options, migrate_result& out) {
  if (fs->exists(tmp)) {
    if (auto ok = remove_tree(*fs, tmp); !ok) return ok;
    if (auto ok = sync_dir(*fs, layout::parent_directory(tmp)); !ok) return ok;
  }
  auto writer = v2_writer::create(fs, tmp, options.store);
  if (!writer) return writer.error();
  std::vector<v1_event> batch;
  for (;;) {
    batch.clear();
    auto n = reader.next(batch, options.batch);
    if (!n) return n.error();
    if (*n == 0) break;
    for (const v1_event& e : batch) {
      if (auto ok = (*writer)->add(to_v2(e)); !ok) return ok;
    }
  }
  auto defs = reader.read_streams();
  if (!defs) return defs.error();
  if (auto ok = write_read_streams(*fs, tmp, *defs); !ok) return ok;
  auto consumers = reader.consumers();
  if (!consumers) return consumers.error();
  if (auto ok = write_consumers(*fs, tmp, *consumers); !ok) return ok;
  auto written = (*writer)->finish();
  if (!written) return written.error();
  out.wrote_store = true;
  out.events = written->events;
  out.streams = written->streams;
  out.read_streams = defs->size();
  out.consumers = consumers->size();
  return {};
}

}  // namespace

std::string backup_directory(const std::string& dir) { return dir + ".v1"; }
std::string temporary_directory(const std::string& dir) { return dir + ".v2-tmp"; }

result<migrate_result> migrate_store(const std::shared_ptr<file_system>& fs, std::string dir,
                                     const migrate_options& options) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string backup = backup_directory(dir);
  const std::string tmp = temporary_directory(dir);
  migrate_result out;
  out.store = dir;

  std::string source;
  if (fs->exists(dir)) {
    auto d = read_store_json(*fs, dir);
    if (!d) return d.error();
    if (d->version == 2) {  // done already
      auto count = checkpoint_count(*fs, dir, *d);
      if (!count) return count.error();
      out.events = *count;
      if (fs->exists(backup)) {
        out.backup = backup;
        auto reader = v1_reader::open(*fs, backup);
        if (!reader) return reader.error();
        out.left_out = reader->left_out();
      }
      return out;
    }
    if (fs->exists(backup)) {
      const std::string why = " exists already (an earlier migration's backup?): move it away, then migrate ";
      return error(errc::invalid_argument, backup + why + dir);
    }
    source = dir;
  } else if (fs->exists(backup)) {
    source = backup;  // interrupted between the two renames
  } else {
    return error(errc::invalid_argument, "no evstore store in " + dir);
  }

  auto lock = fs->lock(layout::lock_file(source));
  if (!lock) {
    if (lock.error() == errc::store_locked)
      return error(errc::store_locked, source + " is open in another process");
    return io_error_at(lock.error(), "locking", layout::lock_file(source), 0);
  }
  auto reader = v1_reader::open(*fs, source);
  if (!reader) return reader.error();
  out.left_out = reader->left_out();

  // A complete store (its store.json is written last) written from the
  // backup by the interrupted run: only the swap is left.
  bool complete = false;
  if (source == backup && fs->exists(layout::store_json(tmp))) {
    auto d = read_store_json(*fs, tmp);
    if (d && d->version == 2) {
      auto count = checkpoint_count(*fs, tmp, *d);
      if (count) {
        complete = true;
        out.events = *count;
      }
    }
  }
  if (!complete) {
    if (auto ok = write_store(fs, *reader, tmp, options, out); !ok) return ok.error();
  }
  if (source == dir) {
    if (auto ok = rename_dir(*fs, dir, backup); !ok) return ok.error();
  }
  if (auto ok = rename_dir(*fs, tmp, dir); !ok) return ok.error();
  out.migrated_now = true;
  out.backup = backup;
  return out;
}

}  // namespace evstore::detail::migrate
