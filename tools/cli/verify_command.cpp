// verify: a full consistency check, read-only.
#include "cli.hpp"
#include <evstore/verify.hpp>

#include <iostream>

namespace evstore::cli {

int cmd_verify(const args_t& args) {
  auto vm = parse(args, po::options_description("verify"), {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  progress_bar bar("verifying");
  auto report = verify_store(s, [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); });
  bar.done();
  for (const error& e : report.damage) std::cout << "damage: " << e.message() << "\n";
  std::cout << "checked " << report.events_checked << " events in " << report.streams_checked << " streams: "
            << (report.clean() ? "clean" : std::to_string(report.damage.size()) + " damaged ranges") << "\n";
  return report.clean() ? 0 : 1;
}

}  // namespace evstore::cli
