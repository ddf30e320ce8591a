// Repair, step 3 (repair.cpp lists the steps): walk every partition's records,
// skipping damaged ones, and give each partition its stream id.

#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "offline/repair_job.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <tuple>

namespace evstore::detail::repair {

// --- 3. Walking the partitions

// streams/ and its segment directories ("+"-suffixed), plus partitions that
// only the journal holds so far.
result<void> repair_job::find_partitions(const std::string& d, const overlay& ov) {
  auto names = fs_->list(d);
  if (!names) return error(names.error(), d);
  std::sort(names->begin(), names->end());
  const std::string top = layout::streams_dir(dir_);
  std::set<std::string> seen;
  for (const std::string& n : *names) {
    const std::string path = layout::join(d, n);
    if (n.ends_with("+")) {
      if (auto r = find_partitions(path, ov); !r) return r;
    } else if (n.ends_with(".evs")) {
      seen.insert(path);
    }
  }
  if (d == top) {
    for (const auto& [path, writes] : ov) {
      if (path.starts_with(top + "/") && path.ends_with(".evs")) seen.insert(path);
    }
  }
  for (const std::string& path : seen) {
    if (std::any_of(parts_.begin(), parts_.end(), [&](const partition& p) { return p.path == path; }))
      continue;
    const std::string encoded = path.substr(top.size() + 1, path.size() - top.size() - 1 - 4);
    auto name = detail::decode_stream_file_name(encoded);
    if (!name) {
      damage(path, 0, "not the file name of a stream: left alone");
      continue;
    }
    partition p;
    p.path = path;
    p.rel = rel(path);
    p.name = std::move(*name);
    parts_.push_back(std::move(p));
  }
  return {};
}

result<void> repair_job::scan(partition& p, const overlay& ov) {
  auto src = source::open(*fs_, p.path, ov);
  if (!src) return src.error();
  p.size = src->size();
  std::array<std::byte, format::file_header_size> header{};
  auto n = src->read(0, header);
  if (!n) return error(n.error().code, p.path);
  const auto h =
      *n == header.size() ? format::decode_file_header(header, format::file_kind::partition) : std::nullopt;
  if (h && h->name == p.name) {
    p.header_id = h->stream_id;
  } else {
    damage(p.path, 0, h ? "header names another stream: " + std::string(h->name) : "bad partition header");
  }
  return walk(p, *src);
}

// Every intact record, in order. At a bad record the walk looks for the next
// intact one: found, the bytes between are a damaged range and the walk goes
// on from there; not found, the partition ends in damage (or a torn tail).
result<void> repair_job::walk(partition& p, const source& src) {
  window w(src);
  std::uint64_t at = format::file_header_size;
  std::string problem;
  while (at < p.size) {
    auto head = w.get(at, 4);
    if (!head) return error(head.error().code, p.path);
    const std::uint32_t len = head->size() == 4 ? format::get_u32(head->data()) : 0;
    auto bytes = w.get(at, len >= format::record_overhead && len <= format::max_record_size ? len : 4);
    if (!bytes) return error(bytes.error().code, p.path);
    const record_info* last = p.records.empty() ? nullptr : &p.records.back();
    format::decoded_record r;
    const auto status = format::decode_record(*bytes, r);
    if (status == format::decode_status::end) {
      problem = "zeros after the last record";
    } else if (status == format::decode_status::truncated) {
      problem = "record cut short (torn tail)";
    } else if (status == format::decode_status::corrupt) {
      problem = "damaged record (length or checksum)";
    } else if (auto bad = check_record(r, last)) {
      problem = *bad;
    }
    if (!problem.empty()) {
      auto next = find_next_record(src, at + 1, last);
      if (!next) return error(next.error().code, p.path);
      if (!*next) break;
      damage(p.path, at, problem + "; intact records resume at offset " + std::to_string(**next));
      p.damaged.emplace_back(at, **next);
      at = **next;
      problem.clear();
      continue;
    }
    const format::record_fields& f = r.fields;
    p.records.push_back({at,
                         r.size,
                         r.stored_crc,
                         f.position,
                         f.version,
                         f.committed_at,
                         f.commit_first_position,
                         f.commit_count,
                         f.commit_end,
                         {}});
    at += r.size;
    if (progress_) progress_(scanned_bytes_ + at, total_bytes_);
  }
  scanned_bytes_ += p.size;
  p.walk_end = at;
  if (problem.empty()) return {};
  p.tail_damaged = true;
  damage(p.path, at, problem);
  auto framed = count_framed(w, at, p.size);
  if (!framed) return error(framed.error().code, p.path);
  std::tie(p.framed_after, p.framed_exact) = *framed;
  return {};
}

// The old catalog, as far as it reads: a second opinion on stream ids. As far
// as it *reads*: a failed read fails the repair (an id it would have given
// might be the only one left for a stream).
result<void> repair_job::read_catalog() {
  const std::string path = layout::catalog(dir_);
  auto f = fs_->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return {};
  if (!f) return error(f.error(), "reading " + path);
  auto bytes = detail::read_all(**f);
  if (!bytes) return error(bytes.error(), "reading " + path);
  for (std::size_t at = format::file_header_size; at < bytes->size();) {
    format::catalog_record r;
    std::uint32_t size = 0;
    if (format::decode_catalog_record(std::span(*bytes).subspan(at), r, size) != format::decode_status::ok)
      break;
    catalog_ids_.emplace(std::string(r.name), r.stream_id);
    at += size;
  }
  return {};
}

// The $all entry of a partition's first event names its stream id.
result<std::optional<std::uint32_t>> repair_job::id_from_all_index(const partition& p) {
  using id = std::optional<std::uint32_t>;
  if (p.records.empty()) return id{};
  const std::string path = layout::all_index(dir_);
  auto f = fs_->open(path, open_mode::read_only);
  if (!f && f.error() == boost::system::errc::no_such_file_or_directory) return id{};
  if (!f) return error(f.error(), "reading " + path);
  std::array<std::byte, format::all_entry_size> buf{};
  const std::uint64_t at = format::file_header_size + p.records.front().position * format::all_entry_size;
  auto n = (*f)->read_at(at, buf);
  if (!n) return error(n.error(), "reading " + path + " at offset " + std::to_string(at));
  if (*n != buf.size()) return id{};
  const auto e = format::decode_all_entry(buf);
  if (!e || e->offset != p.records.front().offset || e->version != p.records.front().version) return id{};
  return id{e->stream_id};
}

// Ids come from the header; a damaged header is rewritten with the id the old
// catalog or $all gives. An id claimed twice goes to the stream the catalog
// names; the other claimants are left out.
result<void> repair_job::assign_ids() {
  for (partition& p : parts_) {
    p.id = p.header_id;
    if (!p.id) {
      if (auto it = catalog_ids_.find(p.name); it != catalog_ids_.end()) p.id = it->second;
    }
    if (!p.id) {
      auto from_all = id_from_all_index(p);
      if (!from_all) return from_all.error();
      p.id = *from_all;
    }
  }
  // Last resort: ids follow creation order, which is the order of first
  // positions. Taken only if no other partition has that id.
  for (partition& p : parts_) {
    if (p.id || p.records.empty() || p.records.front().version != 0) continue;
    const auto first = p.records.front().position;
    const auto rank =
        static_cast<std::uint32_t>(std::count_if(parts_.begin(), parts_.end(), [&](const partition& q) {
          return !q.records.empty() && q.records.front().position < first;
        }));
    if (std::none_of(parts_.begin(), parts_.end(), [&](const partition& q) { return q.id == rank; }))
      p.id = rank;
  }
  for (partition& p : parts_) {
    if (!p.id) {
      p.excluded = true;
      if (!p.records.empty()) damage(p.path, 0, "stream id unknown (header, catalog and $all damaged)");
    }
  }
  std::map<std::uint32_t, std::vector<partition*>> by_id;
  for (partition& p : parts_) {
    if (!p.excluded) by_id[*p.id].push_back(&p);
  }
  for (auto& [id, claimants] : by_id) {
    if (claimants.size() < 2) continue;
    for (partition* p : claimants) {
      auto it = catalog_ids_.find(p->name);
      if (it != catalog_ids_.end() && it->second == id) continue;
      p->excluded = true;
      damage(p->path, 0, "stream id " + std::to_string(id) + " is claimed by another partition too");
    }
  }
  for (const auto& entry : catalog_ids_) {
    const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
    if (std::none_of(parts_.begin(), parts_.end(), [&](const partition& p) { return p.name == name; })) {
      damage(layout::catalog(dir_), 0,
             "stream " + name + " (id " + std::to_string(entry.second) + ") has no partition");
      report_.streams_removed.push_back(name);
    }
  }
  return {};
}

}  // namespace evstore::detail::repair
