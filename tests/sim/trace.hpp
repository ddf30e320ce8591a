// The run's trace: every step's operation and outcome, hashed (FNV-1a) so that
// two runs of one seed can be compared, and printed with --verbose. Only what
// the simulation decides and the store answers goes in: never timings,
// commit timestamps or anything another thread's pace could change.
#pragma once

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace evstore::sim {

class trace {
 public:
  explicit trace(bool verbose) : verbose_(verbose) {}
  void add(std::string_view line) {
    for (char c : line) hash_ = (hash_ ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    hash_ = (hash_ ^ '\n') * 0x100000001b3ULL;
    if (verbose_) {  // with the time since the start (not hashed: it differs on every run)
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
      std::cout << std::setw(7) << ms.count() << "ms " << line << '\n';
    }
  }
  std::uint64_t hash() const { return hash_; }

 private:
  bool verbose_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

// A broken promise of the store: ends the seed's run.
struct violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw violation(what);
}

}  // namespace evstore::sim
