// evstore_sim: the deterministic simulation (docs/reliability.md). Runs seeds,
// prints one replay command per failing seed and the figure
//   seeds N, simulated ops N, crashes N, faults N, violations N
// Exit status 1 if any seed found a violation (or ran differently twice with
// --determinism).
#include "driver.hpp"
#include "options.hpp"

#include <chrono>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace {

// Set before each seed: the replay command the terminate handler prints.
std::string replay_on_terminate;

// The engine may end the process (std::terminate on its background thread):
// that is a violation too, and the replay command must not be lost with it.
[[noreturn]] void on_terminate() {
  std::string what = "std::terminate";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what += ": uncaught " + std::string(x.what());
    } catch (...) {
      what += ": uncaught exception";
    }
  }
  std::cout << "VIOLATION seed " << evstore::sim::current_seed.load() << " step "
            << evstore::sim::current_step.load() << ": the process terminated (" << what
            << ")\n  replay: " << replay_on_terminate << std::endl;
  std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace evstore::sim;
  std::set_terminate(on_terminate);
  // Before any store opens: the writer's file operations in one order (test_hooks.hpp).
  ::setenv("EVSTORE_SERIAL_IO", "1", 1);
  bool help = false;
  const auto opts = parse_options(argc, argv, help);
  if (!opts) return 2;
  if (help) {
    print_usage();
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto out_of_time = [&] {
    return std::chrono::steady_clock::now() - start >=
           std::chrono::duration<double, std::ratio<60>>(opts->minutes);
  };
  std::uint64_t seeds = 0, ops = 0, crashes = 0, faults = 0, violations = 0;
  for (std::uint64_t seed = opts->seed;; ++seed) {
    if (opts->minutes > 0 ? out_of_time() : seeds == opts->seeds) break;
    replay_on_terminate = opts->replay_command(argv[0], seed);
    run_result r = driver(*opts, seed).run();
    ++seeds;
    ops += r.ops;
    crashes += r.crashes;
    faults += r.faults;
    if (opts->determinism) {
      const run_result again = driver(*opts, seed).run();
      if (again.hash != r.hash) {
        std::ostringstream hex;
        hex << std::hex << r.hash << " then " << again.hash;
        r.violation = "the same seed ran differently (trace hash " + hex.str() + ")" +
                      (r.violation ? "; first run: " + *r.violation : std::string());
      }
    }
    if (opts->verbose || opts->determinism) {
      std::cout << "seed " << seed << ": " << r.ops << " ops, trace " << std::hex << std::setw(16)
                << std::setfill('0') << r.hash << std::dec << std::setfill(' ') << '\n';
    }
    if (r.violation) {
      ++violations;
      std::cout << "VIOLATION seed " << seed << " step " << r.steps << ": " << *r.violation
                << "\n  replay: " << opts->replay_command(argv[0], seed) << std::endl;
    }
  }
  std::cout << "seeds " << seeds << ", simulated ops " << ops << ", crashes " << crashes << ", faults "
            << faults << ", violations " << violations << std::endl;
  return violations == 0 ? 0 : 1;
}
