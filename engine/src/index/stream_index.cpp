#include "index/stream_index.hpp"

#include "index/index_run_writer.hpp"
#include "index/merge_runs.hpp"
#include "io/file_error.hpp"
#include "require.hpp"

#include <algorithm>
#include <mutex>
#include <shared_mutex>

namespace evstore::detail {
namespace {

// How often a follower reads the manifest again when a run it names vanished
// before it could open it. Each retry means the writer replaced the manifest
// meanwhile (a compaction): more in a row than this is not a race but damage.
constexpr int manifest_read_attempts = 8;

std::uint64_t end_of(const index_manifest& m) noexcept {
  std::uint64_t end = 0;
  for (const manifest_run& run : m.runs) end = std::max(end, run.end_position);
  return end;
}

}  // namespace

stream_index::stream_index(std::shared_ptr<file_system> fs, std::string dir, options opts)
    : fs_(std::move(fs)),
      dir_(std::move(dir)),
      options_(std::move(opts)),
      runs_(std::make_shared<const run_set>()) {}

result<std::unique_ptr<stream_index>> stream_index::open(std::shared_ptr<file_system> fs, std::string dir,
                                                         options opts) {
  std::unique_ptr<stream_index> index(new stream_index(std::move(fs), std::move(dir), std::move(opts)));
  const options& o = index->options_;
  if (!o.read_only) {
    if (auto ec = index->fs_->create_directories(index->dir_))
      return io_error_at(ec, "creating the directory", index->dir_, 0);
  }
  auto loaded = index->load_manifest(*index->runs_);
  if (!loaded) return loaded.error();
  if (*loaded) {
    index->manifest_ = std::move((*loaded)->manifest);
    index->runs_ = std::move((*loaded)->runs);
  }
  if (!o.read_only && !o.keep_orphans) {
    if (auto r = index->remove_orphans(); !r) return r.error();
  }
  return index;
}

result<std::optional<stream_index::loaded>> stream_index::load_manifest(const run_set& current) const {
  for (int attempt = 1;; ++attempt) {
    auto m = index_manifest::read(*fs_, dir_);
    if (!m) return m.error();
    if (!*m) return std::optional<loaded>{};
    auto set = std::make_shared<run_set>();
    set->durable_end = end_of(**m);
    bool vanished = false;
    for (const manifest_run& run : (*m)->runs) {
      const auto kept = std::find_if(current.runs.begin(), current.runs.end(),
                                     [&](const auto& r) { return r->header() == run; });
      if (kept != current.runs.end()) {
        set->runs.push_back(*kept);
        continue;
      }
      auto reader = index_run_reader::open(*fs_, run_path(run.seq), options_.cache);
      if (!reader && options_.read_only && attempt < manifest_read_attempts &&
          reader.error().code == boost::system::errc::no_such_file_or_directory) {
        vanished = true;
        break;
      }
      if (!reader) return reader.error();
      if ((*reader)->header() != run)
        return corruption_at("run disagrees with the manifest", run_path(run.seq), 0);
      set->runs.push_back(std::move(*reader));
    }
    if (!vanished) return std::optional<loaded>(loaded{std::move(**m), std::move(set)});
  }
}

// Run files the manifest does not name were being written when the process
// stopped (a run or a compaction whose manifest never became durable), or are
// inputs of a compaction that finished: none holds anything the manifest needs.
result<std::vector<std::string>> stream_index::orphans() const {
  auto names = fs_->list(dir_);
  if (!names) return io_error_at(names.error(), "listing", dir_, 0);
  std::vector<std::string> found;
  for (const std::string& name : *names) {
    const auto seq = parse_run_file_name(name);
    const bool live = seq && std::any_of(manifest_.runs.begin(), manifest_.runs.end(),
                                         [&](const manifest_run& r) { return r.seq == *seq; });
    if ((seq && !live) || name == manifest_temp_name) found.push_back(name);
  }
  return found;
}

result<void> stream_index::remove_orphans(const std::vector<std::string>& names) {
  EVSTORE_REQUIRE(!options_.read_only);
  for (const std::string& name : names) {
    if (auto ec = fs_->remove(dir_ + "/" + name)) return io_error_at(ec, "removing", dir_ + "/" + name, 0);
  }
  return {};
}

result<void> stream_index::remove_orphans() {
  auto names = orphans();
  if (!names) return names.error();
  return remove_orphans(*names);
}

void stream_index::add(std::string_view name, std::uint64_t version, std::uint64_t position) {
  const std::uint64_t hash = stream_hash(name);
  std::unique_lock lock(mutex_);
  live_.add(hash, name, version, position);
}

void stream_index::add_batch(std::span<const entry> entries) {
  std::unique_lock lock(mutex_);
  for (const entry& e : entries) live_.add(stream_hash(e.name), e.name, e.version, e.position);
}

// A run number is used once, even when its write fails: a failed directory
// sync after the manifest's rename may still have made a manifest naming it
// durable, so a retry must never truncate and rewrite that file. The number
// reaches the disk with the next manifest written.
std::uint64_t stream_index::take_seq() noexcept { return manifest_.next_seq++; }

// The one place sources change for readers. What is dropped here is freed
// after the lock is released (by this thread, or by the last reader using it).
void stream_index::publish_runs(std::shared_ptr<const run_set> runs, bool drop_frozen) {
  std::shared_ptr<const stream_memtable> old_frozen;
  std::unique_lock lock(mutex_);
  runs_.swap(runs);
  if (drop_frozen) old_frozen.swap(frozen_);
}

result<void> stream_index::freeze_and_write_run() {
  EVSTORE_REQUIRE(!options_.read_only);
  while (true) {
    if (!frozen_) {
      if (live_.empty()) return {};
      // Readers see the frozen memtable from now until its run is installed.
      auto frozen = std::make_shared<stream_memtable>();
      std::unique_lock lock(mutex_);
      std::swap(*frozen, live_);
      frozen_ = std::move(frozen);
    }
    if (auto r = write_frozen(); !r) return r;
  }
}

// No lock held: frozen_ and runs_ change only on this thread.
result<void> stream_index::write_frozen() {
  const std::uint64_t seq = take_seq();
  auto summary = merge_runs(*fs_, run_path(seq), seq, {}, frozen_.get());
  if (!summary) return summary.error();
  auto reader = index_run_reader::open(*fs_, run_path(seq), options_.cache);
  if (!reader) return reader.error();
  index_manifest next = manifest_;
  next.runs.push_back(summary->header);
  if (auto r = next.write(*fs_, dir_); !r) return r;
  manifest_ = std::move(next);
  auto runs = std::make_shared<run_set>(*runs_);
  runs->runs.push_back(std::move(*reader));
  runs->durable_end = end_of(manifest_);
  publish_runs(std::move(runs), true);
  return {};
}

result<bool> stream_index::compact() {
  EVSTORE_REQUIRE(!options_.read_only);
  const std::shared_ptr<const run_set> inputs = runs_;
  if (inputs->runs.size() <= options_.max_runs) return false;
  const std::uint64_t seq = take_seq();
  auto summary = merge_runs(*fs_, run_path(seq), seq, inputs->runs, nullptr);
  if (!summary) return summary.error();
  auto reader = index_run_reader::open(*fs_, run_path(seq), options_.cache);
  if (!reader) return reader.error();
  index_manifest next{manifest_.next_seq, {summary->header}};
  if (auto r = next.write(*fs_, dir_); !r) return r.error();
  const index_manifest old = std::exchange(manifest_, std::move(next));
  publish_runs(std::make_shared<const run_set>(run_set{{std::move(*reader)}, inputs->durable_end}), false);
  // The new manifest is durable: the inputs are orphans now (a reader still
  // using one reads it through its open file). A failed removal leaves a file
  // that the next open removes.
  for (const manifest_run& run : old.runs) static_cast<void>(fs_->remove(run_path(run.seq)));
  return true;
}

result<std::uint64_t> stream_index::refresh() {
  EVSTORE_REQUIRE(options_.read_only);
  auto next = load_manifest(*runs_);
  if (!next) return next.error();
  if (!*next || (*next)->manifest == manifest_) return runs_->durable_end;
  const std::uint64_t end = (*next)->runs->durable_end;
  // Built outside the lock (only this thread changes live_), swapped with the
  // runs in one exclusive section: a reader sees the versions the new runs
  // took over either in the old memtable or in the new runs.
  stream_memtable trimmed = live_.without_below(end);
  std::shared_ptr<const run_set> runs = std::move((*next)->runs);
  {
    std::unique_lock lock(mutex_);
    std::swap(live_, trimmed);
    runs_.swap(runs);
  }
  manifest_ = std::move((*next)->manifest);
  return end;
}

// Memory only (the frozen memtable's table, the runs' bloom filters), so fit
// for the shared section: when no older source may hold the name, a reader
// needs no reference to them, and an absent name costs no shared_ptr copies.
bool stream_index::older_may_hold(std::uint64_t hash, std::string_view name) const {
  if (frozen_ && frozen_->find(hash, name) != nullptr) return true;
  return std::any_of(runs_->runs.begin(), runs_->runs.end(),
                     [&](const auto& run) { return run->may_contain(hash); });
}

result<std::size_t> stream_index::lookup(std::string_view name, std::uint64_t from, std::size_t max_count,
                                         std::vector<std::uint64_t>& out) const {
  if (max_count == 0) return 0;
  const std::uint64_t hash = stream_hash(name);
  const std::size_t base = out.size();
  std::shared_ptr<const stream_memtable> frozen;
  std::shared_ptr<const run_set> runs;
  // The live memtable's part ([max(from, live_first), from + max_count)) is
  // copied under the lock, ahead of the older sources' part in `out`.
  std::uint64_t live_first = UINT64_MAX;
  std::size_t live_n = 0;
  {
    std::shared_lock lock(mutex_);
    if (const stream_memtable::entry* e = live_.find(hash, name)) {
      live_first = e->first_version;
      if (from >= live_first) return live_.lookup(hash, name, from, max_count, out);
      if (live_first - from < max_count)
        live_n = live_.lookup(hash, name, live_first, max_count - (live_first - from), out);
    }
    if (!older_may_hold(hash, name)) {
      out.resize(base);  // `from` is in no older source
      return 0;
    }
    frozen = frozen_;
    runs = runs_;
  }
  // The older sources: the frozen memtable, then the runs newest first, for the
  // one holding `from`; then the newer ones for what follows, up to live_first.
  const std::size_t older_max =
      live_first == UINT64_MAX ? max_count : std::min<std::uint64_t>(max_count, live_first - from);
  const std::size_t sources = runs->runs.size() + 1;  // the last is the frozen memtable
  auto ask = [&](std::size_t i, std::uint64_t v, std::size_t max) -> result<std::size_t> {
    if (i < runs->runs.size()) return runs->runs[i]->lookup(hash, name, v, max, out);
    return frozen ? frozen->lookup(hash, name, v, max, out) : 0;
  };
  std::size_t taken = 0;
  std::size_t i = sources;
  while (taken == 0 && i > 0) {
    auto n = ask(--i, from, older_max);
    if (!n) {
      out.resize(base);
      return n.error();
    }
    taken = *n;
  }
  for (std::size_t j = i + 1; taken > 0 && j < sources && taken < older_max; ++j) {
    auto n = ask(j, from + taken, older_max - taken);
    if (!n) {
      out.resize(base);
      return n.error();
    }
    taken += *n;
  }
  const auto live_begin = out.begin() + static_cast<std::ptrdiff_t>(base);
  if (live_n > 0 && from + taken != live_first) {
    // `from` is in no older source (or they end before live_first): what the
    // live memtable holds does not continue it.
    out.erase(live_begin, live_begin + static_cast<std::ptrdiff_t>(live_n));
    return taken;
  }
  std::rotate(live_begin, live_begin + static_cast<std::ptrdiff_t>(live_n), out.end());
  return taken + live_n;
}

result<std::optional<std::uint64_t>> stream_index::last_version(std::string_view name) const {
  const std::uint64_t hash = stream_hash(name);
  std::shared_ptr<const stream_memtable> frozen;
  std::shared_ptr<const run_set> runs;
  {
    std::shared_lock lock(mutex_);
    if (auto v = live_.last_version(hash, name)) return v;
    if (!older_may_hold(hash, name)) return std::optional<std::uint64_t>{};
    frozen = frozen_;
    runs = runs_;
  }
  if (frozen)
    if (auto v = frozen->last_version(hash, name)) return v;
  for (std::size_t i = runs->runs.size(); i > 0;) {
    auto v = runs->runs[--i]->last_version(hash, name);
    if (!v || *v) return v;
  }
  return std::optional<std::uint64_t>{};
}

result<std::uint64_t> stream_index::count_below(std::string_view name, std::uint64_t all_count) const {
  const std::uint64_t hash = stream_hash(name);
  std::shared_ptr<const stream_memtable> frozen;
  std::shared_ptr<const run_set> runs;
  {
    std::shared_lock lock(mutex_);
    if (auto n = live_.count_below(hash, name, all_count)) return *n;
    if (!older_may_hold(hash, name)) return std::uint64_t{0};
    frozen = frozen_;
    runs = runs_;
  }
  if (frozen)
    if (auto n = frozen->count_below(hash, name, all_count)) return *n;
  for (std::size_t i = runs->runs.size(); i > 0;) {
    auto n = runs->runs[--i]->count_below(hash, name, all_count);
    if (!n) return n.error();
    if (*n) return **n;
  }
  return 0;
}

result<stream_page> stream_index::list(std::string_view after_name, std::size_t limit,
                                       std::uint64_t all_count) const {
  const list_cursor after(after_name);
  std::vector<std::vector<listed_stream>> memtables;
  std::shared_ptr<const stream_memtable> frozen;
  std::shared_ptr<const run_set> runs;
  {
    std::shared_lock lock(mutex_);
    memtables.push_back(memtable_candidates(live_, after, limit, all_count));
    frozen = frozen_;
    runs = runs_;
  }
  if (frozen) memtables.push_back(memtable_candidates(*frozen, after, limit, all_count));
  return merge_stream_page(std::move(memtables), runs->runs, after, limit, all_count);
}

std::uint64_t stream_index::durable_end() const {
  std::shared_lock lock(mutex_);
  return runs_->durable_end;
}

stream_index::sizes_view stream_index::sizes() const {
  std::shared_lock lock(mutex_);
  return {live_.stream_count(), live_.event_count(), live_.byte_size(), frozen_ ? frozen_->event_count() : 0,
          runs_->runs.size()};
}

std::vector<std::shared_ptr<const index_run_reader>> stream_index::runs() const {
  std::shared_lock lock(mutex_);
  return runs_->runs;
}

}  // namespace evstore::detail
