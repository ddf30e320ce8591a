// Repair's job (repair.hpp): what the walk of each partition found and the
// state its numbered steps share. The steps are listed in repair.cpp, which
// holds steps 1, 2, 5 and the whole job; the others are in the files named
// for them: repair_walk.cpp (3: walking the partitions, stream ids),
// repair_salvage.cpp (3b: placeholders for lost events; 3c: the cut) and
// repair_rewrite.cpp (4: lost+found, partitions, indexes, catalog).
#pragma once

#include "format/format.hpp"
#include "offline/repair_lost.hpp"
#include "offline/repair_read.hpp"
#include <evstore/file_system.hpp>
#include <evstore/repair.hpp>
#include <evstore/store.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace evstore::detail::repair {

// ---------------------------------------------------------------------------
// What the walk of one partition found.

struct partition {
  std::string path;  // absolute
  std::string rel;   // relative to the store directory
  std::string name;  // decoded from the file name
  std::uint64_t size = 0;
  std::optional<std::uint32_t> header_id;  // from a valid header naming this stream
  std::optional<std::uint32_t> id;         // the id it keeps
  bool excluded = false;                   // not part of the repaired store
  std::vector<record_info> records;        // intact records and placeholders, in version order
  std::vector<std::pair<std::uint64_t, std::uint64_t>> damaged;  // [from, to): no intact record, more follow
  std::uint64_t walk_end = format::file_header_size;             // where the walk stopped
  bool tail_damaged = false;                                     // ... on damage, not at the end of the file
  std::uint64_t framed_after = 0;                                // records counted by framing from there
  bool framed_exact = true;
  std::uint64_t keep = 0;  // records kept after the $all cut
  bool rewrite = false;    // kept records and placeholders are written to a new file
};

// ---------------------------------------------------------------------------

class repair_job {
 public:
  repair_job(std::string dir, const repair_options& o, const repair_progress& progress)
      : dir_(std::move(dir)), fs_(o.file_system ? o.file_system : posix_file_system()), progress_(progress) {
    report_.dry_run = o.dry_run;
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }

  [[nodiscard]] result<repair_report> run();

 private:
  std::string rel(const std::string& path) const { return path.substr(dir_.size() + 1); }
  void damage(const std::string& path, std::uint64_t offset, std::string problem) {
    report_.damage.push_back({rel(path), offset, std::move(problem)});
  }
  bool dry() const { return report_.dry_run; }

  [[nodiscard]] result<std::uint64_t> entries_an_open_would_cut();
  [[nodiscard]] result<bool> opens_clean();
  void note_consumers_ahead(const store& s);
  [[nodiscard]] result<void> take_lock();
  [[nodiscard]] result<overlay> read_journal();
  [[nodiscard]] result<void> apply_journal(const overlay& ov);
  [[nodiscard]] result<void> find_partitions(const std::string& d, const overlay& ov);
  [[nodiscard]] result<void> scan(partition& p, const overlay& ov);
  [[nodiscard]] result<void> walk(partition& p, const source& src);
  [[nodiscard]] result<void> read_catalog();
  [[nodiscard]] result<void> assign_ids();
  [[nodiscard]] result<std::optional<std::uint32_t>> id_from_all_index(const partition& p);
  std::uint64_t acknowledged_end() const;
  [[nodiscard]] result<std::vector<repair::claim>> index_claims(
      const std::vector<std::uint64_t>& holes, const std::vector<repair::stream_known>& known,
      const overlay& ov);
  [[nodiscard]] result<void> salvage(const overlay& ov);
  void add_placeholders(partition& p);
  void cut();
  void report_drops();
  [[nodiscard]] result<void> rewrite();
  [[nodiscard]] result<void> save_cut(partition& p);
  [[nodiscard]] result<void> rewrite_partition(partition& p);
  [[nodiscard]] result<std::string> lost_found_name(const std::string& path, std::uint64_t offset);
  [[nodiscard]] result<void> copy_aside(const std::string& path, std::uint64_t offset, std::uint64_t size);
  [[nodiscard]] result<void> move_aside(const std::string& path);
  [[nodiscard]] result<void> write_indexes();
  [[nodiscard]] result<void> write_file(const std::string& path, std::span<const std::byte> bytes);
  [[nodiscard]] result<void> remove_file(const std::string& path);
  [[nodiscard]] result<void> remove_derived(const std::string& d, bool links);
  [[nodiscard]] result<void> sync_directories();
  [[nodiscard]] result<void> write_checkpoint();
  void note_dirs(const std::string& path);

  std::string dir_;
  std::shared_ptr<file_system> fs_;
  const repair_progress& progress_;
  repair_report report_;
  std::unique_ptr<file_lock> lock_;
  std::vector<partition> parts_;
  std::map<std::string, std::uint32_t> catalog_ids_;  // from the old catalog, as far as it reads
  std::uint64_t end_ = 0;                             // the new $all count
  std::optional<std::uint64_t> checkpoint_count_;     // all_count of a valid checkpoint
  std::uint64_t fill_below_ = 0;                      // lost positions below this get placeholders
  std::uint64_t total_bytes_ = 0, scanned_bytes_ = 0;
  std::set<std::string> dirs_to_sync_;
};

}  // namespace evstore::detail::repair
