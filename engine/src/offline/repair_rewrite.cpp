// Repair, step 4 (repair.cpp lists the steps): damaged and cut bytes go to
// lost+found; partitions are rewritten or truncated; indexes, catalog and
// checkpoint are written anew; derived state is removed.

#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "offline/repair_job.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace evstore::detail::repair {

// --- 4. Rewriting

namespace {

constexpr std::string_view lost_found_dir = "lost+found";

}  // namespace

void repair_job::note_dirs(const std::string& path) {
  for (std::string d = layout::parent(path); d.size() >= dir_.size(); d = layout::parent(d)) {
    dirs_to_sync_.insert(d);
    if (d == dir_) break;
  }
}

// lost+found/<path relative to the store>@<offset>, made unique with ".N".
result<std::string> repair_job::lost_found_name(const std::string& path, std::uint64_t offset) {
  const std::string base =
      layout::join(dir_, std::string(lost_found_dir) + "/" + rel(path) + "@" + std::to_string(offset));
  std::string name = base;
  for (int i = 1; fs_->exists(name); ++i) name = base + "." + std::to_string(i);
  if (!dry()) {
    if (auto ec = fs_->create_directories(layout::parent(name))) return error(ec, layout::parent(name));
    note_dirs(name);
  }
  return name;
}

result<void> repair_job::copy_aside(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  auto to = lost_found_name(path, offset);
  if (!to) return to.error();
  report_.moved.push_back({rel(path), offset, size, rel(*to), false});
  if (dry()) return {};
  auto from = fs_->open(path, open_mode::read_only);
  if (!from) return error(from.error(), path);
  auto out = fs_->open(*to, open_mode::read_write_create);
  if (!out) return error(out.error(), *to);
  std::vector<std::byte> buf;
  for (std::uint64_t done = 0; done < size;) {
    buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(read_window, size - done)));
    auto n = (*from)->read_at(offset + done, buf);
    if (!n) return error(n.error(), path);
    if (*n == 0) break;
    if (auto ec = (*out)->write_at(done, std::span(buf).first(*n))) return error(ec, *to);
    done += *n;
  }
  if (auto ec = (*out)->sync()) return error(ec, *to);
  return {};
}

result<void> repair_job::move_aside(const std::string& path) {
  auto to = lost_found_name(path, 0);
  if (!to) return to.error();
  std::uint64_t size = 0;
  for (const partition& p : parts_) {
    if (p.path == path) size = p.size;
  }
  report_.moved.push_back({rel(path), 0, size, rel(*to), true});
  if (dry()) return {};
  if (auto ec = fs_->rename(path, *to)) return error(ec, path);
  note_dirs(path);
  return {};
}

// A partition keeps [0, cut) of its bytes; the rest and every damaged range
// before it go to lost+found first. A partition with placeholders or damaged
// ranges among what it keeps is written anew; any other is truncated.
result<void> repair_job::save_cut(partition& p) {
  if (p.keep == 0) return move_aside(p.path);
  std::uint64_t cut_at = format::file_header_size;  // after the last intact record kept
  for (std::uint64_t v = 0; v < p.keep; ++v) {
    const record_info& r = p.records[v];
    if (r.placeholder.empty()) cut_at = r.offset + r.size;
    p.rewrite = p.rewrite || !r.placeholder.empty();
  }
  const bool new_header = !p.header_id;
  if (new_header) {
    if (auto r = copy_aside(p.path, 0, format::file_header_size); !r) return r;
  }
  for (const auto& [from, to] : p.damaged) {
    if (to > cut_at) break;
    if (auto r = copy_aside(p.path, from, to - from); !r) return r;
    p.rewrite = true;
  }
  if (cut_at < p.size) {
    if (auto r = copy_aside(p.path, cut_at, p.size - cut_at); !r) return r;
  }
  if (p.rewrite) report_.rebuilt.push_back(p.rel);
  if (dry()) return {};
  if (p.rewrite) return rewrite_partition(p);
  if (!new_header && cut_at >= p.size) return {};
  auto f = fs_->open(p.path, open_mode::read_write);
  if (!f) return error(f.error(), p.path);
  if (new_header) {
    std::array<std::byte, format::file_header_size> header{};
    format::encode_file_header({format::file_kind::partition, 0, *p.id, p.name}, header);
    if (auto ec = (*f)->write_at(0, header)) return error(ec, p.path);
  }
  if (cut_at < p.size) {
    if (auto ec = (*f)->truncate(cut_at)) return error(ec, p.path);
  }
  if (auto ec = (*f)->sync()) return error(ec, p.path);
  return {};
}

// The header, the kept intact records (bytes unchanged) and the placeholders,
// in version order, into <partition>.repair, synced, then renamed over the
// partition. Records get their offsets in the new file.
result<void> repair_job::rewrite_partition(partition& p) {
  const std::string temp = p.path + ".repair";
  auto from = fs_->open(p.path, open_mode::read_only);
  if (!from) return error(from.error(), p.path);
  auto out = fs_->open(temp, open_mode::read_write_create);
  if (!out) return error(out.error(), temp);
  if (auto ec = (*out)->truncate(0)) return error(ec, temp);
  std::vector<std::byte> buf(format::file_header_size);
  format::encode_file_header({format::file_kind::partition, 0, *p.id, p.name}, buf);
  std::uint64_t written = 0;
  auto flush = [&]() -> result<void> {
    if (auto ec = (*out)->write_at(written, buf)) return error(ec, temp);
    written += buf.size();
    buf.clear();
    return {};
  };
  for (std::uint64_t v = 0; v < p.keep; ++v) {
    record_info& r = p.records[v];
    const std::uint64_t at = written + buf.size();
    if (r.placeholder.empty()) {
      const std::size_t old = buf.size();
      buf.resize(old + r.size);
      auto n = (*from)->read_at(r.offset, std::span(buf).subspan(old));
      if (!n) return error(n.error(), p.path);
      if (*n != r.size) return error(errc::corrupt_data, p.path + " shrank during the repair");
    } else {
      buf.insert(buf.end(), r.placeholder.begin(), r.placeholder.end());
    }
    r.offset = at;
    if (buf.size() >= read_window) {
      if (auto w = flush(); !w) return w;
    }
  }
  if (auto w = flush(); !w) return w;
  if (auto ec = (*out)->sync()) return error(ec, temp);
  out->reset();
  from->reset();
  if (auto ec = fs_->rename(temp, p.path)) return error(ec, p.path);
  note_dirs(p.path);
  return {};
}

result<void> repair_job::write_file(const std::string& path, std::span<const std::byte> bytes) {
  report_.rebuilt.push_back(rel(path));
  if (dry()) return {};
  if (auto ec = fs_->create_directories(layout::parent(path))) return error(ec, layout::parent(path));
  if (auto ec = detail::write_file_atomically(*fs_, path, bytes)) return error(ec, path);
  note_dirs(path);
  return {};
}

result<void> repair_job::remove_file(const std::string& path) {
  if (!fs_->exists(path)) return {};
  report_.removed.push_back(rel(path));
  if (dry()) return {};
  if (auto ec = fs_->remove(path)) return error(ec, path);
  note_dirs(path);
  return {};
}

result<void> repair_job::write_indexes() {
  std::vector<partition*> kept;
  for (partition& p : parts_) {
    if (p.keep > 0) kept.push_back(&p);
  }
  std::sort(kept.begin(), kept.end(), [](const partition* a, const partition* b) { return *a->id < *b->id; });
  std::vector<std::byte> all(format::file_header_size + end_ * format::all_entry_size);
  format::encode_file_header({format::file_kind::all_index, format::all_entry_size, 0, {}}, all);
  std::vector<std::byte> catalog(format::file_header_size);
  format::encode_file_header({format::file_kind::catalog, 0, 0, {}}, catalog);
  for (const partition* p : kept) {
    const std::string index_path = layout::stream_index(dir_, detail::encode_stream_file_name(p->name));
    std::vector<std::byte> index(format::file_header_size + p->keep * format::stream_entry_size);
    format::encode_file_header({format::file_kind::stream_index, format::stream_entry_size, *p->id, p->name},
                               index);
    for (std::uint64_t v = 0; v < p->keep; ++v) {
      const record_info& r = p->records[v];
      format::encode_stream_entry(
          {r.offset, r.position, r.size},
          std::span(index).subspan(format::file_header_size + v * format::stream_entry_size,
                                   format::stream_entry_size));
      format::encode_all_entry(
          {r.offset, *p->id, r.size, r.commit_end, v, r.crc},
          std::span(all).subspan(format::file_header_size + r.position * format::all_entry_size,
                                 format::all_entry_size));
    }
    if (auto w = write_file(index_path, index); !w) return w;
    const std::size_t at = catalog.size();
    catalog.resize(at + format::catalog_record_size(p->name.size()));
    format::encode_catalog_record(
        {*p->id, format::catalog_kind_write_stream, p->records.front().position, p->name},
        std::span(catalog).subspan(at));
  }
  if (auto w = write_file(layout::all_index(dir_), all); !w) return w;
  return write_file(layout::catalog(dir_), catalog);
}

// Stream indexes of streams no longer kept (index/), or every link file and
// the indexer's progress (links/): the indexer rebuilds them from $all.
result<void> repair_job::remove_derived(const std::string& d, bool links) {
  if (!fs_->exists(d)) return {};
  auto names = fs_->list(d);
  if (!names) return error(names.error(), d);
  std::sort(names->begin(), names->end());
  std::set<std::string> kept_indexes;
  for (const partition& p : parts_) {
    if (p.keep > 0) kept_indexes.insert(layout::stream_index(dir_, detail::encode_stream_file_name(p.name)));
  }
  for (const std::string& n : *names) {
    const std::string path = layout::join(d, n);
    if (n.ends_with("+")) {
      if (auto r = remove_derived(path, links); !r) return r;
    } else if (links
                   ? (n.ends_with(".lnk") || (n == "progress" && d == layout::links_dir(dir_)))
                   : (n.ends_with(".idx") && path != layout::all_index(dir_) && !kept_indexes.count(path))) {
      if (auto r = remove_file(path); !r) return r;
    }
  }
  return {};
}

result<void> repair_job::sync_directories() {
  // Deepest first, so each directory's entry in its parent is durable last.
  std::vector<std::string> dirs(dirs_to_sync_.begin(), dirs_to_sync_.end());
  std::sort(dirs.begin(), dirs.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& d : dirs) {
    if (!fs_->exists(d)) continue;
    if (auto ec = fs_->sync_directory(d)) return error(ec, d);
  }
  dirs_to_sync_.clear();
  return {};
}

// Written last, once everything it promises is synced: the next open then
// scans nothing.
result<void> repair_job::write_checkpoint() {
  std::array<std::byte, format::checkpoint_file_size> bytes{};
  const format::checkpoint c{1, end_, static_cast<std::uint32_t>(report_.streams_kept), 0};
  format::encode_checkpoint(c, std::span(bytes).subspan((c.sequence % 2) * format::checkpoint_slot_size));
  if (auto w = write_file(layout::checkpoint(dir_), bytes); !w) return w;
  return sync_directories();
}

result<void> repair_job::rewrite() {
  // Derived state that promises more than the rewritten files hold goes first.
  for (const std::string& path : {layout::checkpoint(dir_), layout::head(dir_), layout::journal(dir_)}) {
    if (auto r = remove_file(path); !r) return r;
  }
  for (partition& p : parts_) {
    if (auto r = save_cut(p); !r) return r;
  }
  if (auto r = write_indexes(); !r) return r;
  if (auto r = remove_derived(layout::index_dir(dir_), false); !r) return r;
  if (auto r = remove_derived(layout::links_dir(dir_), true); !r) return r;
  if (auto r = sync_directories(); !r) return r;
  // The checkpoint is rebuilt, not removed.
  std::erase(report_.removed, rel(layout::checkpoint(dir_)));
  return write_checkpoint();
}

}  // namespace evstore::detail::repair
