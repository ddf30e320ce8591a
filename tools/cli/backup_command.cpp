// backup: a consistent copy of a store while its writer runs.
#include "cli.hpp"
#include <evstore/backup.hpp>
#include <evstore/verify.hpp>

#include <cstdio>
#include <iostream>

namespace evstore::cli {

int cmd_backup(const args_t& args) {
  po::options_description opts;
  opts.add_options()("no-verify", "skip reading the copy back");
  add_progress_option(opts);
  auto vm = parse(args, "backup", opts, {"dir", "destination"});
  const std::string destination = vm["destination"].as<std::string>();
  progress_meter bar("copying", "MiB", vm);
  auto report = backup_store(vm["dir"].as<std::string>(), destination,
                             [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.finish();
  if (!report) {
    std::cerr << "evstore: backup failed: " << report.error().message() << "\n";
    return report.error().code == errc::invalid_argument ? 2 : 1;
  }
  char mib[32];
  std::snprintf(mib, sizeof mib, "%.2f MiB", static_cast<double>(report->bytes) / (1024.0 * 1024.0));
  std::cout << "backed up " << report->events << " events in " << report->streams << " streams (" << mib
            << " in " << report->files << " files) to " << destination << "\n";
  if (vm.count("no-verify")) return 0;
  runner r;
  store copy = open_or_exit(r, destination, true);
  progress_meter check("verifying", "events", vm);
  auto verified =
      verify_store(copy, [&](std::uint64_t done, std::uint64_t total) { check.update(done, total); });
  check.finish();
  for (const error& e : verified.damage) std::cout << "damage: " << e.message() << "\n";
  std::cout << "verified " << verified.events_checked
            << " events: " << (verified.clean() ? "clean" : "DAMAGED") << "\n";
  return verified.clean() ? 0 : 1;
}

}  // namespace evstore::cli
