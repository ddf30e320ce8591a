// Repair, step 5 (repair.cpp): lost+found, the logs rewritten, then every
// file derived from them.
//
// A log that changes (it held damage, records past the cut, or gains
// placeholders) is written anew: its intact records kept, bytes unchanged, in
// their order, then its placeholders in position order, into segments under
// repair.new/log/ (with the writer's header; only as long as their records:
// the writer allocates ahead when it needs to).
// Once every staged segment is synced, repair.new/plan records the new $all
// count and each rewritten partition's segment count:
//   evstore-repair-plan 1
//   end <count>
//   partition <p> <segments>     (one line per rewritten partition)
// Installing renames each staged segment over the old one and removes the
// old segments past the new count. A crash before the plan leaves the store
// untouched (the next repair removes repair.new and starts over); after it,
// the next repair installs what is left and walks the installed logs, which
// hold exactly what this repair kept. Then index/all.idx, the stream index
// (one run) and the checkpoint are rewritten from the kept records, the head
// says the new count, and the links and their progress are removed (the next
// open re-links $all).
#include "format/layout.hpp"
#include "index/index_manifest.hpp"
#include "index/stream_index.hpp"
#include "io/io_util.hpp"
#include "log/segment_file.hpp"
#include "offline/repair_job.hpp"

#include <algorithm>
#include <sstream>

namespace evstore::detail::repair {

result<void> repair_job::copy_aside(std::uint16_t p, std::uint64_t s, std::uint64_t offset,
                                    std::uint64_t size) {
  const std::string rel = segment_relative_path(p, s);
  const std::string base = path(std::string(lost_found_dir) + "/" + rel + "@" + std::to_string(offset));
  std::string to = base;
  for (int i = 1; fs_->exists(to); ++i) to = base + "." + std::to_string(i);
  report_.moved.push_back({rel, offset, size, to.substr(dir_.size() + 1), false});
  if (dry()) return {};
  if (auto ec = fs_->create_directories(layout::parent(to))) return error(ec, layout::parent(to));
  auto from = fs_->open(segment_path(dir_, p, s), open_mode::read_only);
  if (!from) return error(from.error(), segment_path(dir_, p, s));
  std::vector<std::byte> buf(static_cast<std::size_t>(size));
  auto n = (*from)->read_at(offset, buf);
  if (!n) return error(n.error(), segment_path(dir_, p, s));
  auto out = fs_->open(to, open_mode::read_write_create);
  if (!out) return error(out.error(), to);
  if (auto ec = (*out)->write_at(0, std::span(buf).first(*n))) return error(ec, to);
  if (auto ec = (*out)->sync()) return error(ec, to);
  return {};
}

result<void> repair_job::save_aside() {
  for (const damaged_range& d : damaged_) {
    if (d.to > d.from) {
      if (auto r = copy_aside(d.partition, d.segment, d.from, d.to - d.from); !r) return r;
    }
  }
  for (const log_record& r : dropped_) {
    if (auto ok =
            copy_aside(r.partition, geometry_.segment_of(r.offset), geometry_.in_segment(r.offset), r.size);
        !ok)
      return ok;
  }
  if (!dry() && !report_.moved.empty()) {
    if (auto ec = fs_->sync_directory(path(std::string(lost_found_dir) + "/log")))
      return error(ec, path(lost_found_dir));
    if (auto ec = fs_->sync_directory(path(lost_found_dir))) return error(ec, path(lost_found_dir));
    if (auto ec = fs_->sync_directory(dir_)) return error(ec, dir_);
  }
  return {};
}

result<void> repair_job::stage() {
  for (partition_state& ps : parts_) ps.rewrite = false;
  for (const damaged_range& d : damaged_) parts_[d.partition].rewrite = true;
  for (const log_record& r : dropped_) parts_[r.partition].rewrite = true;
  for (const log_record& r : records_) {
    if (!r.placeholder.empty()) parts_[r.partition].rewrite = true;
  }
  for (std::uint16_t p = 0; p < partitions(); ++p) {
    partition_state& ps = parts_[p];
    ps.new_end = geometry_.records_start(0);
    if (ps.rewrite) {
      if (auto r = stage_partition(p); !r) return r;
      continue;
    }
    for (const log_record& r : records_) {
      if (r.partition == p) ps.new_end = std::max(ps.new_end, r.offset + r.size);
    }
  }
  if (dry()) return {};
  return write_plan();
}

result<void> repair_job::stage_partition(std::uint16_t p) {
  partition_state& ps = parts_[p];
  std::vector<log_record*> order;
  for (log_record& r : records_) {
    if (r.partition == p) order.push_back(&r);
  }
  // Intact records in their log order, then placeholders in position order.
  std::stable_sort(order.begin(), order.end(), [](const log_record* a, const log_record* b) {
    if (a->placeholder.empty() != b->placeholder.empty()) return a->placeholder.empty();
    return a->placeholder.empty() ? a->offset < b->offset : a->position < b->position;
  });
  std::uint64_t at = geometry_.records_start(0);
  ps.new_segments = 0;
  for (log_record* r : order) {
    if (geometry_.in_segment(at) + r->size > geometry_.segment_size)
      at = geometry_.records_start(geometry_.segment_of(at) + 1);
    r->new_offset = at;
    at += r->size;
    ps.new_segments = geometry_.segment_of(r->new_offset) + 1;
  }
  ps.new_end = at;
  for (std::uint64_t s = 0; s < ps.new_segments; ++s) report_.rebuilt.push_back(segment_relative_path(p, s));
  for (std::uint64_t s : ps.segments) {
    if (s >= ps.new_segments) report_.removed.push_back(segment_relative_path(p, s));
  }
  if (dry()) return {};

  const std::string stage_dir = staging();
  if (auto ec = fs_->create_directories(log_directory(stage_dir))) return error(ec, log_directory(stage_dir));
  std::unique_ptr<file> out;
  std::uint64_t out_segment = 0;
  std::vector<std::byte> buf;
  for (log_record* r : order) {
    const std::uint64_t s = geometry_.segment_of(r->new_offset);
    if (!out || out_segment != s) {
      if (out) {
        if (auto ec = out->sync()) return error(ec, segment_path(stage_dir, p, out_segment));
      }
      auto created = create_segment(*fs_, stage_dir, p, s, geometry_, 0);
      if (!created) return created.error();
      out = std::move(*created);
      out_segment = s;
    }
    if (r->placeholder.empty()) {
      buf.resize(r->size);
      auto in = fs_->open(segment_path(dir_, p, geometry_.segment_of(r->offset)), open_mode::read_only);
      if (!in) return error(in.error(), segment_path(dir_, p, geometry_.segment_of(r->offset)));
      auto n = (*in)->read_at(geometry_.in_segment(r->offset), buf);
      if (!n || *n != buf.size())
        return error(n ? make_error_code(errc::corrupt_data) : n.error(),
                     "reading " + segment_relative_path(p, geometry_.segment_of(r->offset)) + " at offset " +
                         std::to_string(geometry_.in_segment(r->offset)));
    } else {
      format::record_fields f;
      f.stream = names_[r->stream];
      f.position = r->position;
      f.version = r->version;
      f.committed_at = r->committed_at;
      f.commit_first_position = r->position;
      f.commit_count = 1;
      f.commit_end = true;
      std::uint32_t crc = 0;
      buf = encode_placeholder(f, r->placeholder, crc);
    }
    if (auto ec = out->write_at(geometry_.in_segment(r->new_offset), buf))
      return error(ec, segment_path(stage_dir, p, s));
  }
  if (out) {
    if (auto ec = out->sync()) return error(ec, segment_path(stage_dir, p, out_segment));
  }
  return {};
}

result<void> repair_job::write_plan() {
  std::string text = "evstore-repair-plan 1\nend " + std::to_string(end_) + "\n";
  for (std::uint16_t p = 0; p < partitions(); ++p) {
    if (parts_[p].rewrite)
      text += "partition " + std::to_string(p) + " " + std::to_string(parts_[p].new_segments) + "\n";
  }
  if (auto ec = fs_->create_directories(staging())) return error(ec, staging());
  if (auto ec = fs_->sync_directory(log_directory(staging())); ec && fs_->exists(log_directory(staging())))
    return error(ec, log_directory(staging()));
  const std::string p = layout::join(staging(), plan_name);
  if (auto ec = write_file_atomically(*fs_, p, std::as_bytes(std::span(text)))) return error(ec, p);
  if (auto ec = fs_->sync_directory(dir_)) return error(ec, dir_);
  return {};
}

// The plan's $all count, and each rewritten partition's segment count set
// in parts_; nullopt for the count if the plan cannot be read whole.
result<std::optional<std::uint64_t>> repair_job::read_plan() {
  const std::string p = layout::join(staging(), plan_name);
  auto f = fs_->open(p, open_mode::read_only);
  if (!f) return error(f.error(), p);
  auto bytes = read_all(**f);
  if (!bytes) return error(bytes.error(), p);
  std::istringstream in{std::string(to_string_view(*bytes))};
  std::string word;
  int version = 0;
  std::optional<std::uint64_t> end;
  if (!(in >> word >> version) || word != "evstore-repair-plan" || version != 1)
    return error(errc::corrupt_data, std::string(staging_dir) + "/plan: not a repair plan");
  while (in >> word) {
    if (word == "end") {
      std::uint64_t n = 0;
      if (in >> n) end = n;
    } else if (word == "partition") {
      std::uint64_t part = 0, segments = 0;
      if (!(in >> part >> segments) || part >= parts_.size())
        return error(errc::corrupt_data, std::string(staging_dir) + "/plan: bad partition line");
      parts_[part].rewrite = true;
      parts_[part].new_segments = segments;
    }
  }
  return end;
}

result<void> repair_job::install() {
  bool any = false;
  for (std::uint16_t p = 0; p < partitions(); ++p) {
    const partition_state& ps = parts_[p];
    if (!ps.rewrite) continue;
    any = true;
    auto staged = list_segments(*fs_, staging(), p);
    if (!staged) return error(staged.error(), log_directory(staging()));
    if (auto ec = fs_->create_directories(log_directory(dir_))) return error(ec, log_directory(dir_));
    for (std::uint64_t s : *staged) {
      if (auto ec = fs_->rename(segment_path(staging(), p, s), segment_path(dir_, p, s)))
        return error(ec, segment_path(staging(), p, s));
    }
    auto present = list_segments(*fs_, dir_, p);
    if (!present) return error(present.error(), log_directory(dir_));
    for (std::uint64_t s : *present) {
      if (s < ps.new_segments) continue;
      if (auto ec = fs_->remove(segment_path(dir_, p, s))) return error(ec, segment_path(dir_, p, s));
    }
  }
  if (any) {
    if (auto ec = fs_->sync_directory(log_directory(dir_))) return error(ec, log_directory(dir_));
  }
  for (partition_state& ps : parts_) ps.rewrite = false;
  return {};
}

result<void> repair_job::write_all_index() {
  std::vector<std::byte> entries(records_.size() * format::all_entry2_size);
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const log_record& r = records_[i];
    format::encode_all_entry2(
        {r.partition, r.new_offset, r.size, r.commit_end, r.erased},
        std::span(entries).subspan(i * format::all_entry2_size, format::all_entry2_size));
  }
  const std::string p = layout::all_entries(dir_);
  if (auto ec = write_file_atomically(*fs_, p, entries)) return error(ec, p);
  report_.rebuilt.push_back("index/all.idx");
  return {};
}

result<void> repair_job::write_stream_index() {
  const std::string index_dir = layout::index_dir(dir_);
  auto names = fs_->list(index_dir);
  if (!names) return error(names.error(), index_dir);
  std::sort(names->begin(), names->end());
  // The manifest first: without it, run files are orphans, never half an index.
  for (const char* n : {manifest_name, manifest_temp_name}) {
    if (fs_->exists(layout::join(index_dir, n))) {
      if (auto r = remove_file(layout::join(index_dir, n)); !r) return r;
    }
  }
  for (const std::string& n : *names) {
    if (parse_run_file_name(n)) {
      if (auto r = remove_file(layout::join(index_dir, n)); !r) return r;
    }
  }
  if (auto ec = fs_->sync_directory(index_dir)) return error(ec, index_dir);
  auto index = stream_index::open(fs_, index_dir, {});
  if (!index) return index.error();
  std::vector<stream_index::entry> additions;
  additions.reserve(records_.size());
  for (const log_record& r : records_) additions.push_back({names_[r.stream], r.version, r.position});
  (*index)->add_batch(additions);
  if (auto r = (*index)->freeze_and_write_run(); !r) return r;
  if (!records_.empty()) report_.rebuilt.push_back("index/manifest");
  return {};
}

result<void> repair_job::write_checkpoint_and_head() {
  format::checkpoint2 cp;
  cp.sequence = checkpoint_ ? checkpoint_->sequence + 1 : 1;
  cp.all_count = end_;
  std::vector<bool> has(names_.size(), false);
  for (const log_record& r : records_) has[r.stream] = true;
  cp.stream_count = static_cast<std::uint64_t>(std::count(has.begin(), has.end(), true));
  for (const partition_state& ps : parts_) cp.ends.push_back(ps.new_end);
  const std::size_t slot = format::checkpoint2_slot_size(cp.ends.size());
  std::vector<std::byte> bytes(2 * slot);
  format::encode_checkpoint2(cp, std::span(bytes).subspan((cp.sequence % 2) * slot, slot));
  const std::string p = layout::checkpoint(dir_);
  if (auto ec = write_file_atomically(*fs_, p, bytes)) return error(ec, p);
  report_.rebuilt.push_back("index/checkpoint");
  std::array<std::byte, format::head_size> head{};
  format::encode_head(end_, head);
  const std::string h = layout::head(dir_);
  if (auto ec = write_file_atomically(*fs_, h, head)) return error(ec, h);
  return {};
}

result<void> repair_job::remove_file(const std::string& p, bool report) {
  if (report) report_.removed.push_back(p.substr(dir_.size() + 1));
  if (dry()) return {};
  if (auto ec = fs_->remove(p); ec && ec != boost::system::errc::no_such_file_or_directory)
    return error(ec, p);
  return {};
}

// Links (links/**.lnk) and their progress: the next open re-links $all.
result<void> repair_job::reset_links(const std::string& d) {
  if (!fs_->exists(d)) return {};
  auto names = fs_->list(d);
  if (!names) return error(names.error(), d);
  std::sort(names->begin(), names->end());
  for (const std::string& n : *names) {
    const std::string p = layout::join(d, n);
    if (n.ends_with("+")) {
      if (auto r = reset_links(p); !r) return r;
    } else if (n.ends_with(".lnk") || (n == "progress" && d == layout::links_dir(dir_))) {
      if (auto r = remove_file(p); !r) return r;
    }
  }
  if (auto ec = fs_->sync_directory(d)) return error(ec, d);
  return {};
}

// snapshots/<stream>/*.snapshot: folded from events a repair may have cut,
// moved or replaced with $lost placeholders; the next aggregate() folds again.
result<void> repair_job::reset_snapshots() {
  const std::string root = layout::join(dir_, "snapshots");
  if (!fs_->exists(root)) return {};
  auto streams = fs_->list(root);
  if (!streams) return error(streams.error(), root);
  std::sort(streams->begin(), streams->end());
  for (const std::string& s : *streams) {
    const std::string d = layout::join(root, s);
    auto names = fs_->list(d);
    if (!names) return error(names.error(), d);
    std::sort(names->begin(), names->end());
    for (const std::string& n : *names) {
      if (auto r = remove_file(layout::join(d, n)); !r) return r;
    }
    if (!dry()) {
      if (auto ec = fs_->sync_directory(d)) return error(ec, d);
    }
  }
  return {};
}

result<void> repair_job::rebuild() {
  if (auto r = write_all_index(); !r) return r;
  if (auto r = write_stream_index(); !r) return r;
  if (auto r = reset_links(layout::links_dir(dir_)); !r) return r;
  if (auto r = reset_snapshots(); !r) return r;
  // Last: it promises everything above is durable.
  return write_checkpoint_and_head();
}

result<void> repair_job::remove_staging() {
  if (dry() || !fs_->exists(staging())) return {};
  // The plan first: a repair.new without it is a staging to start over.
  const std::string plan = layout::join(staging(), plan_name);
  if (fs_->exists(plan)) {
    if (auto ec = fs_->remove(plan)) return error(ec, plan);
    if (auto ec = fs_->sync_directory(staging())) return error(ec, staging());
  }
  const std::string log = log_directory(staging());
  if (fs_->exists(log)) {
    auto names = fs_->list(log);
    if (!names) return error(names.error(), log);
    for (const std::string& n : *names) {
      if (auto ec = fs_->remove(layout::join(log, n))) return error(ec, layout::join(log, n));
    }
    if (auto ec = fs_->remove(log)) return error(ec, log);
  }
  auto names = fs_->list(staging());
  if (!names) return error(names.error(), staging());
  for (const std::string& n : *names) {
    if (auto ec = fs_->remove(layout::join(staging(), n))) return error(ec, layout::join(staging(), n));
  }
  if (auto ec = fs_->remove(staging())) return error(ec, staging());
  if (auto ec = fs_->sync_directory(dir_)) return error(ec, dir_);
  return {};
}

}  // namespace evstore::detail::repair
