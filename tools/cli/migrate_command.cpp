// migrate: convert a store of format 1 to format 2 (evstore::migrate_store).
#include "cli.hpp"
#include <evstore/migrate.hpp>

#include <iostream>

namespace evstore::cli {

int cmd_migrate(const args_t& args) {
  po::options_description opts;
  opts.add_options()("partitions", po::value<unsigned>()->default_value(1),
                     "partition logs of the new store")(
      "segment-mib", po::value<unsigned>()->default_value(256), "segment file size of the new store, MiB");
  auto vm = parse(args, "migrate", opts, {"dir"});
  const std::string dir = vm["dir"].as<std::string>();
  const unsigned partitions = vm["partitions"].as<unsigned>();
  const unsigned segment_mib = vm["segment-mib"].as<unsigned>();
  if (partitions < 1 || partitions > 1000 || segment_mib < 1 || segment_mib > 4096) {
    std::cerr << "evstore: --partitions must be 1..1000 and --segment-mib 1..4096\n";
    return 2;
  }
  auto r = migrate_store(dir, {.partitions = static_cast<std::uint16_t>(partitions),
                               .segment_size = std::uint64_t{segment_mib} << 20});
  if (!r) {
    std::cerr << "evstore: cannot migrate " << dir << ": " << r.error().message() << "\n";
    return r.error().code == errc::store_locked || r.error().code == errc::invalid_argument ? 2 : 1;
  }
  if (!r->migrated) {
    std::cout << dir << " already holds a store of format " << store_format_version << ": nothing to do\n";
    return 0;
  }
  if (r->left_out > 0) {
    std::cout << "left out " << r->left_out << " events of a torn tail (" << r->left_out_reason
              << "), as the format-1 recovery would\n";
  }
  std::cout << "migrated " << r->events << " events, " << r->read_streams << " read stream definitions and "
            << r->consumers << " consumer checkpoints to format " << store_format_version
            << "; the format-1 store is kept in " << r->backup << "\n";
  return 0;
}

}  // namespace evstore::cli
