#include "test_hooks.hpp"

#if defined(EVSTORE_TEST_HOOKS)
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace evstore::detail {
namespace {

struct kill_spec {
  std::string name;
  long target = 0;
};

kill_spec parse() {
  kill_spec k;
  const char* v = std::getenv("EVSTORE_KILL_AT");
  if (v == nullptr) return k;
  const char* colon = std::strrchr(v, ':');
  if (colon == nullptr) return k;
  k.name.assign(v, colon);
  k.target = std::strtol(colon + 1, nullptr, 10);
  return k;
}

}  // namespace

void kill_point(const char* name) noexcept {
  static const kill_spec spec = parse();
  static std::atomic<long> hits{0};
  if (spec.target <= 0 || spec.name != name) return;
  if (hits.fetch_add(1) + 1 == spec.target) std::raise(SIGKILL);
}

bool serial_io() noexcept {
  static const bool on = [] {
    const char* v = std::getenv("EVSTORE_SERIAL_IO");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

}  // namespace evstore::detail
#endif
