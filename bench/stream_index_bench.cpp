// The v2 stream index on the real disk (part of evstore_micro_bench): a run of
// 1,000,000 streams x 3 events (issue 13's scenario k), its bytes per event and
// per stream, the open of a reader (trailer + footer) and the first lookup of a
// stream. "Cold" cases drop the file's pages from the page cache first
// (posix_fadvise DONTNEED; a virtual disk may still cache them below).
//   build/bench/evstore_micro_bench --benchmark_filter=Index
#include "index/index_run_reader.hpp"
#include "index/index_run_writer.hpp"
#include "index/stream_index.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

using namespace evstore::detail;

constexpr std::uint64_t streams = 1'000'000;
constexpr std::uint64_t events_per_stream = 3;

struct bench_run {
  std::filesystem::path dir;
  std::string path;
  run_summary summary;
  double write_seconds = 0;
  std::vector<std::string> names;

  ~bench_run() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// Streams "order-<i>", written in three rounds (each stream's events far apart
// in $all, as when aggregates are appended to in turn).
std::unique_ptr<bench_run> write_bench_run() {
  auto run = std::make_unique<bench_run>();
  run->dir = std::filesystem::temp_directory_path() / ("evstore-index-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(run->dir);
  run->path = (run->dir / "run-0000000000000001.sidx").string();
  run->names.reserve(streams);
  for (std::uint64_t i = 0; i < streams; ++i) run->names.push_back("order-" + std::to_string(i));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::pair<std::uint64_t, std::uint32_t>> order(streams);
  for (std::uint32_t i = 0; i < streams; ++i) order[i] = {stream_hash(run->names[i]), i};
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return stream_key_view{a.first, run->names[a.second], 0} <
           stream_key_view{b.first, run->names[b.second], 0};
  });
  auto fs = evstore::posix_file_system();
  auto writer = index_run_writer::create(*fs, run->path, {1, 0, streams * events_per_stream});
  if (!writer) throw std::runtime_error(writer.error().message());
  for (const auto& [hash, i] : order) {
    const std::array<std::uint64_t, events_per_stream> positions{i, streams + i, 2 * streams + i};
    if (auto r = writer->add(hash, run->names[i], 0, positions); !r)
      throw std::runtime_error(r.error().message());
  }
  auto summary = writer->finish();
  if (!summary) throw std::runtime_error(summary.error().message());
  run->summary = *summary;
  run->write_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

const bench_run& the_run() {
  static const std::unique_ptr<bench_run> run = write_bench_run();
  return *run;
}

void drop_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

std::shared_ptr<const index_run_reader> open_reader(evstore::file_system& fs, const std::string& path) {
  auto reader = index_run_reader::open(fs, path);
  if (!reader) throw std::runtime_error(reader.error().message());
  return *reader;
}

void IndexRunWrite1Mx3(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(&the_run());
  const bench_run& run = the_run();
  auto fs = evstore::posix_file_system();
  const auto reader = open_reader(*fs, run.path);
  const double events = static_cast<double>(streams * events_per_stream);
  state.counters["write_s"] = run.write_seconds;
  state.counters["file_MB"] = static_cast<double>(run.summary.file_bytes) / 1e6;
  state.counters["bytes_per_event"] = static_cast<double>(run.summary.file_bytes) / events;
  state.counters["footer_bytes_per_stream"] = static_cast<double>(run.summary.footer_bytes) / streams;
  state.counters["reader_mem_per_stream"] = static_cast<double>(reader->memory_bytes()) / streams;
  state.counters["blocks"] = static_cast<double>(reader->block_count());
}
BENCHMARK(IndexRunWrite1Mx3)->Iterations(1)->Unit(benchmark::kMillisecond);

// Opens a reader: the trailer and the footer (bloom filter and fences).
void IndexRunOpen(benchmark::State& state) {
  const bench_run& run = the_run();
  auto fs = evstore::posix_file_system();
  const bool cold = state.range(0) != 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      drop_from_page_cache(run.path);
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(open_reader(*fs, run.path));
  }
  state.SetLabel(cold ? "page cache dropped" : "page cache warm");
}
BENCHMARK(IndexRunOpen)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// The first read of a stream: open a new reader, look up a random stream's events.
void IndexRunColdLookup(benchmark::State& state) {
  const bench_run& run = the_run();
  auto fs = evstore::posix_file_system();
  std::mt19937_64 rng(42);
  std::vector<std::uint64_t> out;
  for (auto _ : state) {
    state.PauseTiming();
    drop_from_page_cache(run.path);
    const std::string& name = run.names[rng() % streams];
    out.clear();
    state.ResumeTiming();
    const auto reader = open_reader(*fs, run.path);
    auto n = reader->lookup(name, 0, 10, out);
    if (!n || *n != events_per_stream) state.SkipWithError("lookup failed");
  }
}
BENCHMARK(IndexRunColdLookup)->Unit(benchmark::kMicrosecond);

// A lookup on an open reader: one block read (page cache dropped or warm) and decoded.
void IndexRunLookup(benchmark::State& state) {
  const bench_run& run = the_run();
  auto fs = evstore::posix_file_system();
  const auto reader = open_reader(*fs, run.path);
  const bool cold = state.range(0) != 0;
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> out;
  for (auto _ : state) {
    const std::string& name = run.names[rng() % streams];
    if (cold) {
      state.PauseTiming();
      drop_from_page_cache(run.path);
      state.ResumeTiming();
    }
    out.clear();
    auto n = reader->lookup(name, 0, 10, out);
    if (!n || *n != events_per_stream) state.SkipWithError("lookup failed");
  }
  state.SetLabel(cold ? "page cache dropped" : "page cache warm");
}
BENCHMARK(IndexRunLookup)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// An absent name: the bloom filter answers, no read (unless it errs: fp_rate).
void IndexRunLookupAbsent(benchmark::State& state) {
  const bench_run& run = the_run();
  auto fs = evstore::posix_file_system();
  const auto reader = open_reader(*fs, run.path);
  std::vector<std::uint64_t> out;
  std::uint64_t i = 0;
  std::uint64_t false_positives = 0;
  for (auto _ : state) {
    const std::string name = "absent-" + std::to_string(i++);
    false_positives += reader->may_contain(stream_hash(name)) ? 1 : 0;
    auto n = reader->lookup(name, 0, 10, out);
    benchmark::DoNotOptimize(n);
  }
  state.counters["fp_rate"] = static_cast<double>(false_positives) / static_cast<double>(i);
}
BENCHMARK(IndexRunLookupAbsent)->Unit(benchmark::kNanosecond);

// The store's path: 3M adds to a memtable (three rounds over 1M streams), then
// freeze_and_write_run() (run write + manifest), on the real disk.
void IndexMemtableFreeze1Mx3(benchmark::State& state) {
  const bench_run& run = the_run();
  const std::filesystem::path dir = run.dir / "facade";
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    auto index = stream_index::open(evstore::posix_file_system(), dir.string(), {});
    if (!index) throw std::runtime_error(index.error().message());
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t round = 0; round < events_per_stream; ++round)
      for (std::uint64_t i = 0; i < streams; ++i) (*index)->add(run.names[i], round, round * streams + i);
    const auto added = std::chrono::steady_clock::now();
    state.counters["memtable_bytes_per_stream"] =
        static_cast<double>((*index)->sizes().live_bytes) / static_cast<double>(streams);
    if (auto r = (*index)->freeze_and_write_run(); !r) throw std::runtime_error(r.error().message());
    const auto frozen = std::chrono::steady_clock::now();
    state.counters["add_Mev_per_s"] = static_cast<double>(streams * events_per_stream) /
                                      std::chrono::duration<double>(added - start).count() / 1e6;
    state.counters["freeze_s"] = std::chrono::duration<double>(frozen - added).count();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(IndexMemtableFreeze1Mx3)->Iterations(1)->Unit(benchmark::kMillisecond);

// A lookup through the stream_index facade (what the store's readers call):
// 100,000 streams x 3 events in a run (page cache warm) and 100,000 more in the
// memtable. Arg 0: a stream of the memtable, 1: a stream of the run, 2: an
// absent name. Compared across commits, it shows what the facade's own work
// (locking included) adds to the run reader's lookup.
void IndexFacadeLookup(benchmark::State& state) {
  constexpr std::uint64_t n = 100'000;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("evstore-index-facade-bench-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto index = stream_index::open(evstore::posix_file_system(), dir.string(), {});
  if (!index) throw std::runtime_error(index.error().message());
  std::vector<std::string> in_run, in_memtable, absent;
  for (std::uint64_t i = 0; i < n; ++i) {
    in_run.push_back("run-" + std::to_string(i));
    in_memtable.push_back("mem-" + std::to_string(i));
    absent.push_back("absent-" + std::to_string(i));
  }
  std::uint64_t position = 0;
  for (std::uint64_t round = 0; round < events_per_stream; ++round)
    for (const std::string& name : in_run) (*index)->add(name, round, position++);
  if (auto r = (*index)->freeze_and_write_run(); !r) throw std::runtime_error(r.error().message());
  for (std::uint64_t round = 0; round < events_per_stream; ++round)
    for (const std::string& name : in_memtable) (*index)->add(name, round, position++);
  const int which = static_cast<int>(state.range(0));
  std::mt19937_64 rng(11);
  const std::vector<std::string>& names = which == 0 ? in_memtable : which == 1 ? in_run : absent;
  const std::uint64_t expected = which == 2 ? 0 : events_per_stream;
  std::vector<std::uint64_t> out;
  for (auto _ : state) {
    out.clear();
    auto got = (*index)->lookup(names[rng() % n], 0, 10, out);
    if (!got || *got != expected) state.SkipWithError("lookup failed");
  }
  state.SetLabel(which == 0 ? "memtable" : which == 1 ? "run, page cache warm" : "absent");
  index->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(IndexFacadeLookup)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kNanosecond);

}  // namespace
