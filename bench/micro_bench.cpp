// evstore_micro_bench (Google Benchmark): the per-event CPU costs inside an
// append and a read, to tell where the time of scenario (a) and (d) goes.
//   build/bench/evstore_micro_bench [--benchmark_filter=Crc]
#include "format/crc32c.hpp"
#include "format/format.hpp"
#include "format/stream_name.hpp"
#include "json/json_check.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

namespace format = evstore::detail::format;

const std::string event_type = "OrderPlaced";

std::string payload() {
  // The same 120-byte shape as evstore_bench's events.
  std::string s =
      R"({"orderId":"ord-00000042","customer":"cust-00042","sku":"SKU-332598","qty":7,"price":43.42,"currency":"EUR","pad":")";
  s.append(120 - s.size() - 2, 'x');
  return s + "\"}";
}

format::record_fields fields(const std::string& data) {
  format::record_fields f;
  f.position = 123456;
  f.version = 42;
  f.committed_at = 1700000000000;
  f.commit_first_position = 123456;
  f.commit_count = 1;
  f.commit_end = true;
  f.type = event_type;
  f.data = data;
  return f;
}

void Crc32c(benchmark::State& state) {
  const std::vector<char> buf(static_cast<std::size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(evstore::detail::crc32c::value(buf.data(), buf.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  state.SetLabel(evstore::detail::crc32c::hardware_accelerated() ? "sse4.2" : "software");
}
BENCHMARK(Crc32c)->Arg(215)->Arg(4096)->Arg(1 << 20);

void ValidateJson120(benchmark::State& state) {
  const std::string data = payload();
  for (auto _ : state) benchmark::DoNotOptimize(evstore::detail::is_valid_json(data));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(ValidateJson120);

void ValidateStreamName(benchmark::State& state) {
  const std::string name = "order-0042";
  for (auto _ : state) {
    benchmark::DoNotOptimize(evstore::detail::validate_stream_name(name, evstore::detail::name_use::append));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(ValidateStreamName);

void EncodeRecord(benchmark::State& state) {
  const std::string data = payload();
  const auto f = fields(data);
  std::vector<std::byte> out(format::record_size(f.type.size(), f.data.size(), 0));
  for (auto _ : state) benchmark::DoNotOptimize(format::encode_record(f, out));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(EncodeRecord);

void DecodeRecord(benchmark::State& state) {
  const std::string data = payload();
  const auto f = fields(data);
  std::vector<std::byte> rec(format::record_size(f.type.size(), f.data.size(), 0));
  format::encode_record(f, rec);
  format::decoded_record r;
  for (auto _ : state) benchmark::DoNotOptimize(format::decode_record(rec, r));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * rec.size()));
}
BENCHMARK(DecodeRecord);

}  // namespace

BENCHMARK_MAIN();

// ---------------------------------------------------------------------------
// Format v2 partition log (engine/src/log/): one durable appender, a 215-byte
// record and flush(sync=true) per append, on the real disk under /tmp, against
// the ceiling, a bare write_at + fdatasync loop of 215 bytes into a pre-zeroed
// file, and the same loop appending to a growing file (what preallocation saves).
//   build/bench/evstore_micro_bench --benchmark_filter='Log|Bare' --benchmark_min_time=2
// and the cost of recovery's scan of a segment (LogScanHalfSegment).
#include "log/partition_scan.hpp"
#include "log/partition_writer.hpp"
#include <evstore/file_system.hpp>

#include <cstdlib>
#include <filesystem>

namespace {

constexpr std::uint64_t bench_segment_size = std::uint64_t{64} << 20;

// A fresh directory under /tmp, removed at the end of the case.
struct bench_dir {
  std::string path;
  bench_dir() {
    std::string templ = "/tmp/evstore-log-bench-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    path = templ;
  }
  ~bench_dir() { std::filesystem::remove_all(path); }
  bench_dir(const bench_dir&) = delete;
  bench_dir& operator=(const bench_dir&) = delete;
};

std::vector<std::byte> record_215() {
  const std::string data = payload();
  const auto f = fields(data);
  std::vector<std::byte> rec(format::record_size(f.type.size(), f.data.size(), 0));
  format::encode_record(f, rec);
  return rec;
}

void log_append(benchmark::State& state, bool sync) {
  const bench_dir dir;
  const auto rec = record_215();
  auto w = evstore::detail::partition_writer::open(
      {.fs = evstore::posix_file_system(), .directory = dir.path, .geometry = {bench_segment_size}}, 0);
  if (!w) {
    state.SkipWithError(w.error().message().c_str());
    return;
  }
  for (auto _ : state) {
    if (!(*w)->append(rec) || !(*w)->flush(sync)) {
      state.SkipWithError("append or flush failed");
      return;
    }
    // The owner's off-the-latency step; a no-op until the segment is half full.
    if ((*w)->should_prepare_next() && !(*w)->prepare_next()) state.SkipWithError("prepare failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void LogAppendSynced(benchmark::State& state) { log_append(state, true); }
BENCHMARK(LogAppendSynced)->Unit(benchmark::kMicrosecond)->UseRealTime();
// The same without fdatasync: the writer's own cost per append (buffer copy,
// framing check, one pwrite), against the bare pwrite below. A fixed count
// keeps it inside one 64 MiB segment (a roll-over would add a segment's zeros).
void LogAppendUnsynced(benchmark::State& state) { log_append(state, false); }
BENCHMARK(LogAppendUnsynced)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(200'000);

// write_at + fdatasync of 215 bytes per iteration; preallocated: into a file of
// zeros written and synced beforehand, else appending to a growing file.
void bare_write(benchmark::State& state, bool preallocated, bool sync) {
  const bench_dir dir;
  const auto rec = record_215();
  auto f = evstore::posix_file_system()->open(dir.path + "/bare", evstore::open_mode::read_write_create);
  if (!f || (preallocated && ((*f)->allocate(bench_segment_size) || (*f)->sync()))) {
    state.SkipWithError("cannot prepare the file");
    return;
  }
  std::uint64_t at = format::file_header_size;
  for (auto _ : state) {
    if ((*f)->write_at(at, rec) || (sync && (*f)->sync())) {
      state.SkipWithError("write or sync failed");
      return;
    }
    at += rec.size();
    if (at + rec.size() > bench_segment_size) at = format::file_header_size;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void BareWriteSyncPreallocated(benchmark::State& state) { bare_write(state, true, true); }
void BareWriteSyncAppending(benchmark::State& state) { bare_write(state, false, true); }
void BareWriteUnsynced(benchmark::State& state) { bare_write(state, true, false); }
BENCHMARK(BareWriteUnsynced)->Unit(benchmark::kMicrosecond)->UseRealTime()->Iterations(200'000);
BENCHMARK(BareWriteSyncPreallocated)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BareWriteSyncAppending)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Recovery's scan of one 64 MiB segment holding 32 MiB of 215-byte records
// (page cache warm): what an open pays per partition when it starts from the
// segment's first record.
void LogScanHalfSegment(benchmark::State& state) {
  const bench_dir dir;
  const auto rec = record_215();
  const auto fs = evstore::posix_file_system();
  const evstore::detail::log_geometry g{bench_segment_size};
  {
    auto w = evstore::detail::partition_writer::open({.fs = fs, .directory = dir.path, .geometry = g}, 0);
    while (w && g.in_segment((*w)->end()) < bench_segment_size / 2) {
      if (!(*w)->append(rec)) break;
    }
    if (!w || !(*w)->flush(true)) {
      state.SkipWithError("cannot write the segment");
      return;
    }
  }
  std::uint64_t records = 0;
  for (auto _ : state) {
    auto r = evstore::detail::scan_partition_tail(*fs, dir.path, 0, g, 0,
                                                  [](evstore::detail::log_locator, format::bytes) {});
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      return;
    }
    records = r->records;
  }
  state.counters["records"] = static_cast<double>(records);
}
BENCHMARK(LogScanHalfSegment)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
