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
