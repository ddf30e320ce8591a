// The writer's repair of what recovery (recovery.cpp) found past the committed
// end of $all: first a plan that reads everything the repair needs, then the
// cut of uncommitted streams' catalog records, then the repair of the tail in
// four steps (cut $all, rewrite the tail's index entries, cut the streams the
// lost tail touched, sync and checkpoint). A failed read leaves the store as
// it was: nothing is written before the plan is complete.

#include "format/layout.hpp"
#include "store/store_impl.hpp"

#include <set>

namespace evstore::detail {

// Everything the writer's repair reads, before it writes anything: the $all
// bytes after the committed end, the stream index headers of the accepted
// tail, the committed ends of the streams the lost tail touched, and a handle
// on every file it will change or sync.
result<recovery_plan> store_impl::plan_repair(std::uint64_t committed,
                                              const std::vector<format::all_entry>& tail,
                                              std::uint64_t checkpoint_count) {
  recovery_plan plan;
  plan.committed = committed;
  plan.checkpoint_count = checkpoint_count;
  // Catalog records are written by the flush that creates their stream; when
  // recovery cuts that flush, the record goes too (records are in creation
  // order, so they are the catalog's tail).
  plan.keep_streams = registry_.size();
  while (plan.keep_streams > 0 && registry_.by_id(plan.keep_streams - 1)->first_position >= committed) {
    --plan.keep_streams;
  }
  for (const std::string& path :
       {layout::catalog(options_.directory), layout::all_index(options_.directory)}) {
    auto held = hold_for_repair(plan, path);
    if (!held) return held.error();
    if (!*held) return corruption("file missing", relative(path), 0);
  }
  if (auto r = plan_lost_tail(plan); !r) return r.error();
  if (auto r = plan_tail_indexes(plan, tail); !r) return r.error();
  if (auto r = plan_committed_ends(plan, tail); !r) return r.error();
  return plan;
}

// Opens `path` for the repair, once; false if it does not exist.
result<bool> store_impl::hold_for_repair(recovery_plan& plan, const std::string& path) {
  if (plan.files.count(path)) return true;
  auto f = files_.get(path);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return false;
  if (!f) return read_error(f.error(), path, 0);
  plan.files.emplace(path, *f);
  return true;
}

// 1. Streams touched by whatever lies after the committed end of $all.
result<void> store_impl::plan_lost_tail(recovery_plan& plan) {
  const std::uint64_t committed = plan.committed;
  const std::string all_path = layout::all_index(options_.directory);
  cached_file& all = *plan.files.at(all_path);
  const std::uint64_t cut_at = format::file_header_size + committed * format::all_entry_size;
  if (all.allocated > cut_at) {
    std::vector<std::byte> rest(all.allocated - cut_at);
    auto n = all.file->read_at(cut_at, rest);
    if (!n) return read_error(n.error(), all_path, cut_at);
    rest.resize(*n);
    if (!format::all_zero(rest)) {
      plan.cut_all = true;
      for (std::size_t i = 0; i + format::all_entry_size <= rest.size(); i += format::all_entry_size) {
        if (auto e = format::decode_all_entry(std::span(rest).subspan(i, format::all_entry_size))) {
          if (e->stream_id < plan.keep_streams) plan.dirty.insert(e->stream_id);  // cut streams are gone
        }
      }
    }
  }
  return {};
}

// 2. The stream index files of the verified tail, whose entries are rewritten.
result<void> store_impl::plan_tail_indexes(recovery_plan& plan, const std::vector<format::all_entry>& tail) {
  for (const format::all_entry& e : tail) {
    if (plan.touched.count(e.stream_id)) continue;
    plan.touched.insert(e.stream_id);
    const stream_state& s = *registry_.by_id(e.stream_id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      auto held = hold_for_repair(plan, path);
      if (!held) return held.error();
      if (!*held && path == s.partition_path) {
        return corruption("partition missing for a stream with committed events", relative(path), 0);
      }
    }
    std::array<std::byte, format::file_header_size> header{};
    bool header_ok = false;
    if (auto it = plan.files.find(s.index_path); it != plan.files.end()) {
      auto n = it->second->file->read_at(0, header);
      if (!n) return read_error(n.error(), s.index_path, 0);
      header_ok = *n == header.size() && format::decode_file_header(header, format::file_kind::stream_index);
    }
    if (!header_ok) {
      // Only a stream created within the tail may lack its index file.
      if (e.version != 0) return corruption("stream index missing or damaged", relative(s.index_path), 0);
      plan.create_index.insert(e.stream_id);
    }
  }
  return {};
}

// 3. The committed ends the streams the lost tail touched are cut back to:
//    from the accepted tail where it holds their last event, else from their
//    index (which the tail does not change).
result<void> store_impl::plan_committed_ends(recovery_plan& plan,
                                             const std::vector<format::all_entry>& tail) {
  for (auto it = tail.rbegin(); it != tail.rend(); ++it) {
    if (plan.ends.count(it->stream_id) == 0)
      plan.ends.emplace(it->stream_id, std::pair{it->offset + it->size, it->version + 1});
  }
  for (std::uint32_t id : plan.dirty) {
    stream_state& s = *registry_.by_id(id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      if (auto held = hold_for_repair(plan, path); !held) return held.error();
    }
    if (plan.ends.count(id)) continue;
    if (auto r = ensure_loaded(s); !r) return r.error();
    plan.ends.emplace(id, std::pair{s.committed_end, s.committed_count.load()});
  }
  return {};
}

// Removes the files of streams whose catalog records recovery cuts, then the
// records (and any torn garbage after the last one). Files first: a crash in
// between leaves records whose streams have no files, a torn tail the next
// open cuts; the other order would leave files no record names, which a new
// stream of the same name would find, or repair would trust.
result<void> store_impl::cut_uncommitted_streams(const recovery_plan& plan) {
  const std::uint32_t keep = plan.keep_streams;
  if (keep == registry_.size() && !catalog_torn_) return {};
  std::set<std::string> dirs;
  for (std::uint32_t id = keep; id < registry_.size(); ++id) {
    const stream_state& s = *registry_.by_id(id);
    for (const std::string& path : {s.partition_path, s.index_path}) {
      files_.erase(path);
      if (auto ec = fs_->remove(path); ec && ec != boost::system::errc::no_such_file_or_directory) {
        return error(ec, "removing " + relative(path));
      }
      dirs.insert(layout::parent(path));
    }
  }
  for (const std::string& d : dirs) {
    // A long name's sub-directory the crash came before holds nothing to sync.
    if (auto ec = fs_->sync_directory(d); ec && ec != boost::system::errc::no_such_file_or_directory) {
      return error(ec, d);
    }
  }
  const std::string path = layout::catalog(options_.directory);
  cached_file& f = *plan.files.at(path);
  const std::uint64_t at = keep < registry_.size() ? catalog_offsets_[keep] : catalog_end_;
  if (auto ec = f.file->truncate(at)) return error(ec, path);
  if (auto ec = f.file->sync()) return error(ec, path);
  f.allocated = at;
  catalog_end_ = at;
  catalog_torn_ = false;
  catalog_offsets_.resize(keep);
  registry_.truncate(keep);
  return {};
}

// The repair itself, in four steps, once the plan has read everything.
result<void> store_impl::repair_tail(const recovery_plan& plan, const std::vector<format::all_entry>& tail) {
  if (auto r = cut_all_tail(plan); !r) return r;
  // The files written or synced below: held since planning (the cache may have
  // closed them since; reopening would read after writing), or created here.
  repair_files files = plan.files;
  if (auto r = rewrite_tail_index_entries(plan, tail, files); !r) return r;
  if (auto r = cut_lost_tail_streams(plan, files); !r) return r;
  return sync_repaired_tail(plan, files);
}

// 1. Cut whatever lies after the committed end of $all.
result<void> store_impl::cut_all_tail(const recovery_plan& plan) {
  const std::string all_path = layout::all_index(options_.directory);
  cached_file& all = *plan.files.at(all_path);
  if (plan.cut_all) {
    const std::uint64_t cut_at = format::file_header_size + plan.committed * format::all_entry_size;
    if (auto ec = all.file->truncate(cut_at)) return error(ec, all_path);
    if (auto ec = all.file->sync()) return error(ec, all_path);
    all.allocated = cut_at;
  }
  return {};
}

// 2. Rewrite the stream index entries of the verified tail: a flush writes
//    them last, so they are the part of a committed append most likely lost.
result<void> store_impl::rewrite_tail_index_entries(const recovery_plan& plan,
                                                    const std::vector<format::all_entry>& tail,
                                                    repair_files& files) {
  for (std::uint32_t id : plan.create_index) {
    stream_state& s = *registry_.by_id(id);
    auto f = files_.create(s.index_path);
    if (!f) return error(f.error(), s.index_path);
    files[s.index_path] = *f;
    std::array<std::byte, format::file_header_size> header{};
    format::encode_file_header({format::file_kind::stream_index, format::stream_entry_size, s.id, s.name},
                               header);
    if (auto ec = (*f)->file->write_at(0, header)) return error(ec, s.index_path);
    (*f)->note_written(header.size());
  }
  for (std::size_t i = 0; i < tail.size(); ++i) {
    const format::all_entry& e = tail[i];
    const stream_state& s = *registry_.by_id(e.stream_id);
    cached_file& f = *files.at(s.index_path);
    std::array<std::byte, format::stream_entry_size> entry{};
    format::encode_stream_entry({e.offset, plan.checkpoint_count + i, e.size}, entry);
    const std::uint64_t entry_at = format::file_header_size + e.version * format::stream_entry_size;
    if (auto ec = f.file->write_at(entry_at, entry)) return error(ec, s.index_path);
    f.note_written(entry_at + entry.size());
  }
  return {};
}

// 3. Cut partitions and indexes of streams the lost tail touched back to their
//    committed ends, so no stale record outlives recovery there; the streams
//    of the tail are loaded from it.
result<void> store_impl::cut_lost_tail_streams(const recovery_plan& plan, const repair_files& files) {
  for (const auto& [id, end] : plan.ends) {
    stream_state& s = *registry_.by_id(id);
    const auto [committed_end, count] = end;
    if (plan.dirty.count(id)) {
      for (const auto& [path, size] :
           {std::pair{s.partition_path, committed_end},
            std::pair{s.index_path, format::file_header_size + count * format::stream_entry_size}}) {
        auto it = files.find(path);
        if (it == files.end()) continue;  // never created
        if (it->second->allocated > size) {
          if (auto ec = it->second->file->truncate(size)) return error(ec, path);
          it->second->allocated = size;
        }
      }
    }
    if (!s.loaded.load(std::memory_order_acquire)) {
      s.committed_end = committed_end;
      s.committed_count.store(count, std::memory_order_release);
      s.loaded.store(true, std::memory_order_release);
    }
  }
  return {};
}

// 4. Make all of it durable, the directory entries of files the interrupted
//    flush created included, before a checkpoint promises it.
result<void> store_impl::sync_repaired_tail(const recovery_plan& plan, const repair_files& files) {
  if (plan.committed == plan.checkpoint_count && plan.dirty.empty()) return {};
  std::set<std::string> dirs = {options_.directory, layout::streams_dir(options_.directory),
                                layout::index_dir(options_.directory)};
  for (const auto& [path, f] : files) {
    if (auto ec = f->file->sync()) return error(ec, "syncing the repaired " + relative(path));
    for (std::string d = layout::parent(path); d.size() > options_.directory.size(); d = layout::parent(d)) {
      dirs.insert(d);
    }
  }
  for (const std::string& d : dirs) {
    if (auto ec = fs_->sync_directory(d)) return error(ec, "syncing the repaired tail: " + d);
  }
  if (auto ec = write_checkpoint(plan.committed, journal_end_)) {
    return error(ec, layout::checkpoint(options_.directory));
  }
  return {};
}

}  // namespace evstore::detail
