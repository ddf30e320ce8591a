#include "index/stream_index.hpp"

#include "index/index_run_writer.hpp"
#include "index/merge_runs.hpp"
#include "io/file_error.hpp"
#include "require.hpp"

#include <algorithm>

namespace evstore::detail {

result<std::unique_ptr<stream_index>> stream_index::open(std::shared_ptr<file_system> fs, std::string dir,
                                                         options opts) {
  std::unique_ptr<stream_index> index(new stream_index(std::move(fs), std::move(dir), opts));
  if (!opts.read_only) {
    if (auto ec = index->fs_->create_directories(index->dir_))
      return io_error_at(ec, "creating the directory", index->dir_, 0);
  }
  if (auto r = index->load(); !r) return r.error();
  if (!opts.read_only) {
    if (auto r = index->remove_orphans(); !r) return r.error();
  }
  return index;
}

result<void> stream_index::load() {
  auto m = index_manifest::read(*fs_, dir_);
  if (!m) return m.error();
  if (!*m) return {};
  for (const manifest_run& run : (*m)->runs) {
    auto reader = index_run_reader::open(*fs_, run_path(run.seq));
    if (!reader) return reader.error();
    if ((*reader)->header() != run)
      return corruption_at("run disagrees with the manifest", run_path(run.seq), 0);
    runs_.push_back(std::move(*reader));
  }
  manifest_ = std::move(**m);
  return {};
}

// Run files the manifest does not name were being written when the process
// stopped (a run or a compaction whose manifest never became durable), or are
// inputs of a compaction that finished: none holds anything the manifest needs.
result<void> stream_index::remove_orphans() {
  auto names = fs_->list(dir_);
  if (!names) return io_error_at(names.error(), "listing", dir_, 0);
  for (const std::string& name : *names) {
    const auto seq = parse_run_file_name(name);
    const bool live = seq && std::any_of(manifest_.runs.begin(), manifest_.runs.end(),
                                         [&](const manifest_run& r) { return r.seq == *seq; });
    if ((seq && !live) || name == manifest_temp_name)
      if (auto ec = fs_->remove(dir_ + "/" + name)) return io_error_at(ec, "removing", dir_ + "/" + name, 0);
  }
  return {};
}

void stream_index::add(std::string_view name, std::uint64_t version, std::uint64_t position) {
  EVSTORE_REQUIRE(!options_.read_only);
  memtable_.add(name, version, position);
}

result<void> stream_index::install(const index_manifest& next,
                                   std::vector<std::shared_ptr<const index_run_reader>> runs) {
  if (auto r = next.write(*fs_, dir_); !r) return r;
  manifest_ = next;
  runs_ = std::move(runs);
  return {};
}

// A run number is used once, even when its write fails: a failed directory
// sync after the manifest's rename may still have made a manifest naming it
// durable, so a retry must never truncate and rewrite that file. The number
// reaches the disk with the next manifest written.
std::uint64_t stream_index::take_seq() noexcept { return manifest_.next_seq++; }

result<void> stream_index::freeze_and_write_run() {
  EVSTORE_REQUIRE(!options_.read_only);
  if (memtable_.empty()) return {};
  const std::uint64_t seq = take_seq();
  auto summary = merge_runs(*fs_, run_path(seq), seq, {}, &memtable_);
  if (!summary) return summary.error();
  auto reader = index_run_reader::open(*fs_, run_path(seq));
  if (!reader) return reader.error();
  index_manifest next = manifest_;
  next.runs.push_back(summary->header);
  auto runs = runs_;
  runs.push_back(std::move(*reader));
  if (auto r = install(next, std::move(runs)); !r) return r;
  memtable_ = stream_memtable();
  return {};
}

result<bool> stream_index::compact() {
  EVSTORE_REQUIRE(!options_.read_only);
  if (runs_.size() <= options_.max_runs) return false;
  const std::uint64_t seq = take_seq();
  auto summary = merge_runs(*fs_, run_path(seq), seq, runs_, nullptr);
  if (!summary) return summary.error();
  auto reader = index_run_reader::open(*fs_, run_path(seq));
  if (!reader) return reader.error();
  index_manifest next{manifest_.next_seq, {summary->header}};
  const index_manifest old = manifest_;
  if (auto r = install(next, {std::move(*reader)}); !r) return r.error();
  // The new manifest is durable: the inputs are orphans now. A failed removal
  // leaves a file that the next open removes.
  for (const manifest_run& run : old.runs) static_cast<void>(fs_->remove(run_path(run.seq)));
  return true;
}

result<std::size_t> stream_index::lookup(std::string_view name, std::uint64_t from, std::size_t max_count,
                                         std::vector<std::uint64_t>& out) const {
  if (max_count == 0) return 0;
  const std::uint64_t hash = stream_hash(name);
  const stream_memtable::entry* recent = memtable_.find(hash, name);
  if (recent != nullptr && from >= recent->first_version)
    return memtable_.lookup(hash, name, from, max_count, out);
  // The run holding `from`: the newest first, the only order that stops early.
  std::size_t taken = 0;
  std::size_t i = runs_.size();
  while (taken == 0 && i > 0) {
    auto n = runs_[--i]->lookup(hash, name, from, max_count, out);
    if (!n) return n.error();
    taken = *n;
  }
  if (taken == 0) return 0;
  // What follows is in newer runs, then the memtable.
  for (std::size_t j = i + 1; j < runs_.size() && taken < max_count; ++j) {
    auto n = runs_[j]->lookup(hash, name, from + taken, max_count - taken, out);
    if (!n) return n.error();
    taken += *n;
  }
  if (taken < max_count && recent != nullptr)
    taken += memtable_.lookup(hash, name, from + taken, max_count - taken, out);
  return taken;
}

result<std::optional<std::uint64_t>> stream_index::last_version(std::string_view name) const {
  const std::uint64_t hash = stream_hash(name);
  if (auto v = memtable_.last_version(hash, name)) return v;
  for (std::size_t i = runs_.size(); i > 0;) {
    auto v = runs_[--i]->last_version(hash, name);
    if (!v || *v) return v;
  }
  return std::optional<std::uint64_t>{};
}

std::uint64_t stream_index::durable_end() const noexcept {
  std::uint64_t end = 0;
  for (const manifest_run& run : manifest_.runs) end = std::max(end, run.end_position);
  return end;
}

}  // namespace evstore::detail
