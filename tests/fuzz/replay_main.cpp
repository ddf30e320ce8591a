// main() for fuzz targets built without libFuzzer (the regular g++ build):
//
//   fuzz_x FILE...               runs the target on each file (a corpus, a crash)
//   fuzz_x --random N [--seed S] [DIR...]
//                                runs N inputs: each seed file of DIR, then
//                                random mutations of them (bytes flipped,
//                                inserted, removed, spliced) and random bytes
//
// No coverage guidance: it keeps the targets compiling and their seeds and
// simple mutations passing in every test run. Real fuzzing uses libFuzzer
// (-DEVSTORE_FUZZ=ON with clang; see tests/fuzz/README.md).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::uint8_t> mutate(std::vector<std::uint8_t> in,
                                 const std::vector<std::vector<std::uint8_t>>& seeds, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int i = 0; i < edits; ++i) {
    const std::size_t at = in.empty() ? 0 : rng() % (in.size() + 1);
    switch (rng() % 5) {
      case 0:  // flip a bit
        if (!in.empty()) in[at % in.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // set an interesting byte
        if (!in.empty()) {
          static constexpr std::uint8_t interesting[] = {0,   1,   0x7f, 0x80, 0xff, '"', '\\', '{', '}',
                                                         '[', ']', '%',  '/',  '?',  '&', '=',  0xc3};
          in[at % in.size()] = interesting[rng() % sizeof interesting];
        }
        break;
      case 2:  // insert random bytes
        for (std::size_t n = rng() % 16; n > 0; --n)
          in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint8_t>(rng()));
        break;
      case 3:  // remove a run
        if (!in.empty())
          in.erase(
              in.begin() + static_cast<std::ptrdiff_t>(at % in.size()),
              in.begin() + static_cast<std::ptrdiff_t>(std::min(in.size(), at % in.size() + 1 + rng() % 32)));
        break;
      default:  // splice in a piece of another seed
        if (!seeds.empty()) {
          const auto& other = seeds[rng() % seeds.size()];
          if (!other.empty()) {
            const std::size_t from = rng() % other.size(),
                              n = std::min<std::size_t>(other.size() - from, 1 + rng() % 64);
            in.insert(in.begin() + static_cast<std::ptrdiff_t>(std::min(at, in.size())),
                      other.begin() + static_cast<std::ptrdiff_t>(from),
                      other.begin() + static_cast<std::ptrdiff_t>(from + n));
          }
        }
    }
  }
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t random_runs = 0, seed = 1;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--random") == 0 && i + 1 < argc) {
      random_runs = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      paths.emplace_back(argv[i]);
    }
  }
  std::vector<std::vector<std::uint8_t>> seeds;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) seeds.push_back(read_file(e.path()));
    } else {
      seeds.push_back(read_file(p));
    }
  }
  std::size_t runs = 0;
  for (const auto& s : seeds) {
    LLVMFuzzerTestOneInput(s.data(), s.size());
    ++runs;
  }
  std::mt19937_64 rng(seed);
  for (std::uint64_t i = 0; i < random_runs; ++i) {
    std::vector<std::uint8_t> input;
    if (seeds.empty() || rng() % 8 == 0) {
      input.resize(rng() % 512);
      for (auto& b : input) b = static_cast<std::uint8_t>(rng());
    } else {
      input = mutate(seeds[rng() % seeds.size()], seeds, rng);
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++runs;
  }
  std::printf("%s: %zu inputs (%zu seeds), crashes 0\n", argv[0], runs, seeds.size());
  return 0;
}
