// backup: a consistent copy of a store while its writer runs.
#include "cli.hpp"
#include <evstore/backup.hpp>
#include <evstore/verify.hpp>

#include <iostream>

namespace evstore::cli {

int cmd_backup(const args_t& args) {
  po::options_description opts("backup");
  opts.add_options()("no-verify", "skip reading the copy back");
  auto vm = parse(args, opts, {"dir", "destination"});
  const std::string destination = vm["destination"].as<std::string>();
  progress_bar bar("copying");
  auto report = backup_store(vm["dir"].as<std::string>(), destination,
                             [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.done();
  if (!report) {
    std::cerr << "evstore: backup failed: " << report.error().message() << "\n";
    return report.error().code == errc::invalid_argument ? 2 : 1;
  }
  std::cout << "backed up " << report->events << " events in " << report->streams << " streams ("
            << report->files << " files, " << report->bytes << " bytes) to " << destination << "\n";
  if (vm.count("no-verify")) return 0;
  runner r;
  store copy = open_or_exit(r, destination, true);
  progress_bar check("verifying");
  auto verified =
      verify_store(copy, [&](std::uint64_t done, std::uint64_t total) { check.update(done, total); });
  check.done();
  for (const error& e : verified.damage) std::cout << "damage: " << e.message() << "\n";
  std::cout << "verified " << verified.events_checked
            << " events: " << (verified.clean() ? "clean" : "DAMAGED") << "\n";
  return verified.clean() ? 0 : 1;
}

}  // namespace evstore::cli
