#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <iostream>

namespace evstore::sim {
namespace {

template <class T>
bool parse_number(std::string_view text, T& out) {
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && p == end;
}

}  // namespace

std::string options::replay_command(const std::string& program, std::uint64_t s) const {
  std::string cmd = program + " --seed " + std::to_string(s) + " --steps " + std::to_string(steps);
  for (const auto& c : disabled) cmd += " --no-" + c;
  return cmd;
}

void print_usage() {
  std::cout
      << "usage: evstore_sim [--seed S] [--seeds N | --minutes M] [--steps N] [--no-CLASS|--no-GROUP ...]\n"
         "                   [--determinism] [--verbose]\n"
         "classes:";
  for (auto c : classes) std::cout << ' ' << c;
  std::cout << "\ngroups:";
  for (const auto& [g, members] : groups) {
    std::cout << ' ' << g << " (";
    for (std::size_t i = 0; i < members.size(); ++i) std::cout << (i ? " " : "") << members[i];
    std::cout << ')';
  }
  std::cout << '\n';
}

std::optional<options> parse_options(int argc, char** argv, bool& help) {
  options o;
  help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    bool ok = true;
    if (a == "--help" || a == "-h") {
      help = true;
      return o;
    } else if (a == "--seed") {
      auto v = value();
      ok = v && parse_number(*v, o.seed);
    } else if (a == "--seeds") {
      auto v = value();
      ok = v && parse_number(*v, o.seeds) && o.seeds > 0;
    } else if (a == "--steps") {
      auto v = value();
      ok = v && parse_number(*v, o.steps);
    } else if (a == "--minutes") {
      auto v = value();
      ok = v && parse_number(*v, o.minutes) && o.minutes > 0;
    } else if (a == "--determinism") {
      o.determinism = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a.starts_with("--no-") &&
               std::find(classes.begin(), classes.end(), a.substr(5)) != classes.end()) {
      o.disabled.insert(std::string(a.substr(5)));
    } else if (auto g = std::find_if(
                   groups.begin(), groups.end(),
                   [&](const auto& x) { return a.starts_with("--no-") && x.first == a.substr(5); });
               g != groups.end()) {
      for (auto c : g->second) o.disabled.insert(std::string(c));
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "evstore_sim: bad argument " << a << "\n";
      print_usage();
      return std::nullopt;
    }
  }
  return o;
}

}  // namespace evstore::sim
