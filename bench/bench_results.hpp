// The results: rows of the table, number formats, percentiles and store
// statistics as JSON. Part of harness.hpp.
#pragma once

#include "bench_env.hpp"

namespace evstore::bench {

// ---------------------------------------------------------------------------
// Results

struct row {
  std::string scenario;
  std::string variant;
  std::uint64_t events = 0;
  double seconds = 0;
  double events_per_s = 0;
  double mb_per_s = 0;  // 1 MB = 1e6 bytes of records (payload + framing)
  std::string figures;  // extra figures for the table
  std::string target;   // e.g. ">= 1,000,000 ev/s"
  std::optional<bool> pass;
  json::object extra;
};

inline std::vector<row> results;

inline std::string fmt_int(double v) {
  const auto n = static_cast<long long>(v + 0.5);
  // Built digit by digit: GCC 12 warns falsely (-Wrestrict) on string::insert here.
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string s = n < 0 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

inline std::string fmt(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

inline void add(row r) {
  std::fprintf(stderr, "  %s %-44s %12s ev/s %8s MB/s  %s\n", r.scenario.c_str(), r.variant.c_str(),
               fmt_int(r.events_per_s).c_str(), fmt(r.mb_per_s).c_str(), r.figures.c_str());
  results.push_back(std::move(r));
}

struct percentiles {
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, min_us = 0, mean_us = 0;
};

// Of durations in ns; signed for lags, which may be negative (j: a delivery
// before its writer's completion handler ran).
template <class Ns>
inline percentiles compute_percentiles(std::vector<Ns> ns) {
  percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1) + 0.5);
    return static_cast<double>(ns[std::min(i, ns.size() - 1)]) / 1e3;
  };
  p.p50_us = at(0.50);
  p.p99_us = at(0.99);
  p.p999_us = at(0.999);
  p.max_us = static_cast<double>(ns.back()) / 1e3;
  p.min_us = static_cast<double>(ns.front()) / 1e3;
  double sum = 0;
  for (auto v : ns) sum += static_cast<double>(v);
  p.mean_us = sum / static_cast<double>(ns.size()) / 1e3;
  return p;
}

inline json::object to_json(const percentiles& p) {
  return {{"p50_us", p.p50_us},
          {"p99_us", p.p99_us},
          {"p999_us", p.p999_us},
          {"max_us", p.max_us},
          {"mean_us", p.mean_us}};
}

inline json::object stats_delta(const evstore::store_statistics& a, const evstore::store_statistics& b) {
  return {{"appends", b.appends - a.appends},
          {"events", b.events - a.events},
          {"bytes", b.bytes - a.bytes},
          {"flushes", b.flushes - a.flushes},
          {"fsyncs", b.fsyncs - a.fsyncs},
          {"flush_ms", static_cast<double>(b.flush_nanoseconds - a.flush_nanoseconds) / 1e6}};
}

}  // namespace evstore::bench
