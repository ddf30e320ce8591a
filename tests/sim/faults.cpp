#include "faults.hpp"

#include <cerrno>

namespace evstore::sim {

std::string fault_plan::describe() const {
  switch (what) {
    case kind::none: return "none";
    case kind::write_error:
      return std::string("write-error@") + std::to_string(k) + (ec.value() == ENOSPC ? " ENOSPC" : " EIO") +
             (persistent ? " persistent" : "");
    case kind::crash: return "crash-after@" + std::to_string(k);
    case kind::read_error: return "read-error@" + std::to_string(k);
  }
  return "?";
}

fault_plan plan_write_fault(rng& r, const options& o) {
  fault_plan f;
  const bool errors = o.on("write-errors"), crash = o.on("crash");
  if (!(errors || crash) || !r.chance(12)) return f;
  if (errors && (!crash || r.chance(50))) {
    f.what = fault_plan::kind::write_error;
    f.k = r.between(1, 12);
    f.ec = {r.chance(50) ? EIO : ENOSPC, boost::system::system_category()};
    f.persistent = r.chance(30);
  } else {
    f.what = fault_plan::kind::crash;
    f.k = r.below(12);
  }
  return f;
}

fault_plan plan_open_fault(rng& r, const options& o) {
  fault_plan f;
  if (!o.on("read-errors") || !r.chance(30)) return f;
  f.what = fault_plan::kind::read_error;
  f.k = r.between(1, 80);
  return f;
}

fault_plan plan_read_fault(rng& r, const options& o, std::uint64_t max_k) {
  fault_plan f;
  if (!o.on("read-errors")) return f;
  f.what = fault_plan::kind::read_error;
  f.k = r.between(1, max_k);
  return f;
}

power_loss_mode pick_power_loss(rng& r) {
  static const power_loss_mode modes[] = {power_loss_mode::synced_only, power_loss_mode::random_prefix,
                                          power_loss_mode::torn_sectors, power_loss_mode::torn_bytes};
  return modes[r.below(4)];
}

const char* name_of(power_loss_mode m) {
  switch (m) {
    case power_loss_mode::synced_only: return "synced-only";
    case power_loss_mode::random_prefix: return "random-prefix";
    case power_loss_mode::garbage: return "garbage";
    case power_loss_mode::torn_sectors: return "torn-sectors";
    case power_loss_mode::torn_bytes: return "torn-bytes";
  }
  return "?";
}

}  // namespace evstore::sim
