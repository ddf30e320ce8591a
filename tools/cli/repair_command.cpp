// repair: offline repair of a damaged store (evstore::repair_store).
#include "cli.hpp"
#include <evstore/repair.hpp>

#include <iostream>

namespace evstore::cli {
namespace {

void print_report(const repair_report& r) {
  for (const std::string& why : r.reasons) std::cout << "found: " << why << "\n";
  for (const repair_damage& d : r.damage) {
    std::cout << "damage: " << d.file << " at offset " << d.offset << ": " << d.problem << "\n";
  }
  for (const repair_drop& d : r.dropped) {
    std::cout << "drop: " << d.stream << " from version " << d.from_version << ": "
              << (d.count_exact ? "" : "at least ") << d.count << " events\n";
  }
  for (const repair_lost& l : r.lost) {
    std::cout << "lost: " << l.stream << " version " << l.version << " at position " << l.position
              << ": kept as a $lost placeholder\n";
  }
  for (const std::string& s : r.streams_removed) std::cout << "remove stream: " << s << " (no events left)\n";
  for (const repair_move& m : r.moved) {
    std::cout << "save: " << m.from << " bytes " << m.offset << ".." << m.offset + m.size << " -> " << m.to
              << (m.whole_file ? " (whole file)" : "") << "\n";
  }
  for (const std::string& f : r.rebuilt) std::cout << "rebuild: " << f << "\n";
  for (const std::string& f : r.removed) std::cout << "reset: " << f << "\n";
  std::cout << (r.dry_run ? "would keep " : "kept ") << r.events_kept << " events in " << r.streams_kept
            << " streams, " << r.lost.size() << " lost events as placeholders, "
            << (r.dry_run ? "would drop " : "dropped ") << r.events_dropped << " events\n";
}

}  // namespace

int cmd_repair(const args_t& args) {
  po::options_description opts;
  opts.add_options()("dry-run,n", "report what would be done, change nothing");
  add_progress_option(opts);
  auto vm = parse(args, "repair", opts, {"dir"});
  const std::string dir = vm["dir"].as<std::string>();
  const bool dry_run = vm.count("dry-run") > 0;
  progress_meter bar(dry_run ? "checking" : "repairing", "MiB", vm);
  auto r = repair_store(dir, {.dry_run = dry_run},
                        [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!r) {
    std::cerr << "evstore: cannot repair " << dir << ": " << r.error().message() << "\n";
    const bool refused = r.error().code == errc::store_locked || r.error().code == errc::invalid_argument ||
                         r.error().code == errc::format_mismatch;
    return refused ? 2 : 1;
  }
  if (!r->needed) {
    std::cout << "nothing to repair: " << r->events_kept << " events in " << r->streams_kept
              << " streams open and verify clean\n";
    return 0;
  }
  print_report(*r);
  if (r->dry_run) {
    std::cout << "dry run: nothing was changed\n";
    return 1;
  }
  if (!r->verified) {
    std::cout << "repair did not make the store consistent\n";
    return 1;
  }
  std::cout << "repaired: the store opens and verifies clean\n";
  for (const repair_consumer_ahead& c : r->consumers_ahead) {
    std::cout << "warning: consumer " << c.name << " of " << c.stream << " is at " << c.position << " but "
              << c.stream << " now ends at " << c.stream_end << ": it would skip new events " << c.stream_end
              << ".." << c.position - 1 << " (its state still reflects the dropped events)\n";
  }
  return 0;
}

}  // namespace evstore::cli
