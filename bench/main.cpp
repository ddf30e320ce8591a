// evstore_bench: throughput, latency and open-time figures of the engine.
//
// A plain program (no benchmark framework) because the figures are custom:
// events/s and MB/s of whole scenarios, group-commit ratios, percentiles and
// open-time medians. Prints a Markdown table to stdout, progress to stderr, and
// writes every figure to a JSON file. See bench/README.md for what each
// scenario measures.
//
//   evstore_bench [--quick] [--only=a,d] [--dir=/tmp] [--json=bench-results.json]
//                 [--seconds=3] [--chunk=1000] [--keep] [--variant=TEXT]
#include "harness.hpp"

using namespace evstore::bench;

int main(int argc, char** argv) {
  context ctx;
  ctx.cfg = parse_args(argc, argv);
  std::error_code ec;
  std::filesystem::create_directories(ctx.cfg.dir, ec);
  const auto t0 = clock_type::now();
  try {
    if (ctx.cfg.wants("a")) scenario_a(ctx);
    if (ctx.cfg.wants("b")) scenario_b(ctx);
    if (ctx.cfg.wants("c")) scenario_c(ctx);
    if (ctx.cfg.wants("d")) scenario_d(ctx);
    if (ctx.cfg.wants("e")) scenario_e(ctx);
    if (ctx.cfg.wants("f")) scenario_f(ctx);
    if (ctx.cfg.wants("g")) scenario_g(ctx);
    if (ctx.cfg.wants("h")) scenario_h(ctx);
    if (ctx.cfg.wants("i")) scenario_i(ctx);
    if (ctx.cfg.wants("j")) scenario_j(ctx);
    if (ctx.cfg.wants("k")) scenario_k(ctx);
    if (ctx.cfg.wants("l")) scenario_l(ctx);
    if (ctx.cfg.wants("m")) scenario_m(ctx);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evstore_bench: %s\n", e.what());
    write_outputs(ctx.cfg);
    return 1;
  }
  write_outputs(ctx.cfg);
  std::fprintf(stderr, "total %.1f s; results in %s\n", seconds_since(t0), ctx.cfg.json_path.c_str());
  return 0;
}
