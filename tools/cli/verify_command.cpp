// verify: a full consistency check, read-only.
#include "cli.hpp"
#include <evstore/verify.hpp>

#include <iostream>

namespace evstore::cli {

int cmd_verify(const args_t& args) {
  po::options_description opts;
  add_progress_option(opts);
  auto vm = parse(args, "verify", opts, {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  progress_meter bar("verifying", "events", vm);
  auto report = verify_store(s, [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.finish();
  for (const error& e : report.damage) std::cout << "damage: " << e.message() << "\n";
  std::cout << "checked " << report.events_checked << " events in " << report.streams_checked << " streams: "
            << (report.clean() ? "clean" : std::to_string(report.damage.size()) + " damaged ranges") << "\n";
  return report.clean() ? 0 : 1;
}

}  // namespace evstore::cli
