// The simulation's only source of randomness. Plain modulo over mt19937_64
// (whose output the standard fixes) rather than std distributions, so that a
// seed replays the same run with every standard library.
#pragma once

#include <cstdint>
#include <random>

namespace evstore::sim {

class rng {
 public:
  explicit rng(std::uint64_t seed) : gen_(seed) {}
  std::uint64_t next() { return gen_(); }
  // Uniform in [0, n); 0 if n == 0.
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : gen_() % n; }
  // Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability percent/100.
  bool chance(std::uint64_t percent) { return below(100) < percent; }
  template <class C>
  const auto& pick(const C& c) {
    return c[below(c.size())];
  }

 private:
  std::mt19937_64 gen_;
};

}  // namespace evstore::sim
