// Repair's job (repair.hpp) on a store of format 2: what the walk of the
// partition logs found and the state its numbered steps share. The steps are
// listed in repair.cpp, which holds steps 1, 2, 6 and the whole job; the
// others are in the files named for them: repair_walk.cpp (3: walking the
// logs), repair_salvage.cpp (4: placeholders for lost events, the cut) and
// repair_rewrite.cpp (5: lost+found, the logs staged and installed, $all, the
// stream index, checkpoint, head and links).
#pragma once

#include "format/format.hpp"
#include "format/store_json.hpp"
#include "log/log_layout.hpp"
#include "offline/repair_lost.hpp"
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
#include <unordered_map>
#include <utility>
#include <vector>

namespace evstore::detail::repair {

// Where repair stages the logs it rewrites; see repair_rewrite.cpp.
inline constexpr const char* staging_dir = "repair.new";
inline constexpr const char* plan_name = "plan";
inline constexpr const char* lost_found_dir = "lost+found";

// An intact record of a partition log, or a placeholder repair adds.
struct log_record {
  std::uint16_t partition = 0;
  std::uint64_t offset = 0;  // logical offset in its log (before the repair)
  std::uint32_t size = 0;
  std::uint64_t position = 0;
  std::uint64_t version = 0;
  std::uint32_t stream = 0;  // index into repair_job::names_
  bool commit_end = false;
  bool erased = false;  // a scavenged event's record (format::record_kind_erased)
  std::int64_t committed_at = 0;
  // Placeholders only: their metadata ({"lost":...}); empty for an intact record.
  std::string placeholder;
  // Where the repaired log holds it (set by staging; = offset if its log is kept).
  std::uint64_t new_offset = 0;
};

// Bytes of a segment that hold no intact record.
struct damaged_range {
  std::uint16_t partition = 0;
  std::uint64_t segment = 0;
  std::uint64_t from = 0, to = 0;  // in-segment
};

struct partition_state {
  std::vector<std::uint64_t> segments;  // present in log/, ascending
  bool rewrite = false;                 // staged anew (damage, a cut or placeholders)
  std::uint64_t new_segments = 0;       // segments of the rewritten log
  std::uint64_t new_end = 0;            // the repaired log's end
};

class repair_job {
 public:
  repair_job(std::string dir, const repair_options& o, const repair_progress& progress)
      : dir_(std::move(dir)), fs_(o.file_system ? o.file_system : posix_file_system()), progress_(progress) {
    report_.dry_run = o.dry_run;
    while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  }

  [[nodiscard]] result<repair_report> run();

 private:
  bool dry() const { return report_.dry_run; }
  std::string path(const std::string& rel) const;
  std::string staging() const;
  void damage(std::string file, std::uint64_t offset, std::string problem) {
    report_.damage.push_back({std::move(file), offset, std::move(problem)});
  }
  std::uint32_t stream_id(std::string_view name);

  // repair.cpp
  [[nodiscard]] result<void> read_meta();
  [[nodiscard]] result<bool> opens_clean();
  void note_consumers_ahead(const store& s);
  [[nodiscard]] result<void> take_lock();
  [[nodiscard]] result<void> read_checkpoint();

  // repair_walk.cpp
  [[nodiscard]] result<void> walk(std::uint16_t partition);
  [[nodiscard]] result<void> walk_segment(std::uint16_t partition, std::uint64_t segment);

  // repair_salvage.cpp
  [[nodiscard]] result<void> salvage();
  [[nodiscard]] result<std::vector<claim>> index_claims(const std::vector<std::uint64_t>& holes);
  std::string lost_where(std::uint16_t partition, std::uint64_t after_offset) const;
  void cut();
  void report_drops();

  // repair_rewrite.cpp
  [[nodiscard]] result<void> save_aside();
  [[nodiscard]] result<void> copy_aside(std::uint16_t partition, std::uint64_t segment, std::uint64_t offset,
                                        std::uint64_t size);
  [[nodiscard]] result<void> stage();
  [[nodiscard]] result<void> stage_partition(std::uint16_t partition);
  [[nodiscard]] result<void> write_plan();
  [[nodiscard]] result<std::optional<std::uint64_t>> read_plan();
  [[nodiscard]] result<void> install();
  [[nodiscard]] result<void> rebuild();
  [[nodiscard]] result<void> write_all_index();
  [[nodiscard]] result<void> write_stream_index();
  [[nodiscard]] result<void> write_checkpoint_and_head();
  [[nodiscard]] result<void> reset_links(const std::string& d);
  // aggregate() snapshots: states folded from the events as they were.
  [[nodiscard]] result<void> reset_snapshots();
  [[nodiscard]] result<void> remove_file(const std::string& p, bool report = true);
  [[nodiscard]] result<void> remove_staging();
  // store.json's partition count (read_store_json checked it is at most max_partitions).
  std::uint16_t partitions() const { return static_cast<std::uint16_t>(meta_.partitions); }

  std::string dir_;
  std::shared_ptr<file_system> fs_;
  const repair_progress& progress_;
  repair_report report_;
  std::unique_ptr<file_lock> lock_;
  store_description meta_;
  log_geometry geometry_;
  std::optional<format::checkpoint2> checkpoint_;  // a valid one, if any
  std::uint64_t fill_below_ = 0;                   // lost positions below this get placeholders
  bool resumed_ = false;                           // an interrupted repair's staged logs were installed
  std::vector<partition_state> parts_;
  std::vector<log_record> records_;  // intact records, then placeholders; sorted by position after salvage
  std::vector<damaged_range> damaged_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::uint32_t> name_ids_;
  std::vector<log_record> dropped_;  // intact records past the cut (or holding a position twice)
  std::uint64_t end_ = 0;            // the new $all count
  std::uint64_t total_bytes_ = 0, scanned_bytes_ = 0;
};

}  // namespace evstore::detail::repair
