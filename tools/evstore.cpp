// evstore — command-line tool over the engine.
//
//   evstore demo    <dir>                          append a shopping cart's events and read them back
//   evstore info    <dir>                          events, streams, format
//   evstore ls      <dir> [--offset N] [--limit N] streams with their event counts
//   evstore cat     <dir> <stream> [--from N] [--limit N] [--backward]   events as NDJSON
//   evstore append  <dir> <stream> [--expected V] [--fsync]   events (JSON object or array per line) from stdin
//   evstore verify  <dir>                          check every checksum and index entry; exit 1 on damage
//
// Exit codes: 0 ok, 1 damage found or a request refused, 2 usage or open error.
#include <evstore/event_json.hpp>
#include <evstore/store.hpp>
#include <evstore/verify.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <cstdio>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace po = boost::program_options;
using namespace evstore;

namespace {

constexpr const char* usage_text =
    "usage: evstore <command> <dir> [args]\n"
    "  demo    <dir>                                   append a shopping cart's events and read them back\n"
    "  info    <dir>                                   events, streams, format\n"
    "  ls      <dir> [--offset N] [--limit N]          streams with their event counts\n"
    "  cat     <dir> <stream> [--from N] [--limit N] [--backward]   events as NDJSON ($all for every event)\n"
    "  append  <dir> <stream> [--expected any|no_stream|stream_exists|N] [--fsync]\n"
    "                                                  appends events read from stdin, one JSON event\n"
    "                                                  (object or array = one atomic append) per line\n"
    "  verify  <dir>                                   checks every checksum and index entry; exit 1 on damage\n";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The store's executor runs on its own thread while the command waits on futures.
class runner {
 public:
  runner() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~runner() {
    guard_.reset();
    thread_.join();
  }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

store open_or_exit(runner& r, const std::string& dir, bool read_only, bool fsync = false) {
  auto s = store::open(r.executor(), {.directory = dir, .fsync_on_flush = fsync, .read_only = read_only});
  if (!s) {
    std::cerr << "evstore: cannot open " << dir << ": " << s.error().message() << "\n";
    std::exit(2);
  }
  return std::move(*s);
}

std::pair<boost::system::error_code, append_result> append_blocking(store& s, const std::string& stream,
                                                                    std::vector<event_data> events,
                                                                    expected_version expected) {
  std::promise<std::pair<boost::system::error_code, append_result>> done;
  auto f = done.get_future();
  s.append(stream, std::move(events), expected,
           [&](boost::system::error_code ec, append_result r) { done.set_value({ec, r}); });
  return f.get();
}

void close_blocking(store& s) {
  std::promise<boost::system::error_code> done;
  auto f = done.get_future();
  s.close([&](boost::system::error_code ec) { done.set_value(ec); });
  if (auto ec = f.get()) std::cerr << "evstore: close: " << ec.message() << "\n";
}

po::variables_map parse(const std::vector<std::string>& args, po::options_description opts,
                        const std::vector<std::string>& positional_names) {
  opts.add_options()("help,h", "show help");
  po::positional_options_description pos;
  for (const auto& name : positional_names) {
    opts.add_options()(name.c_str(), po::value<std::string>()->required(), name.c_str());
    pos.add(name.c_str(), 1);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage_text;
      std::exit(0);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  return vm;
}

int print_events(const read_page& page) {
  std::string line;
  for (const recorded_event& e : page.events) {
    line.clear();
    append_event_json(line, e);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}

int cmd_demo(const std::vector<std::string>& args) {
  auto vm = parse(args, po::options_description("demo"), {"dir"});
  const std::string dir = vm["dir"].as<std::string>();
  runner r;
  store s = open_or_exit(r, dir, false);
  const std::string stream = "cart-" + std::to_string(s.stream_count() + 1);
  std::vector<event_data> events = {
      {"CartOpened", R"({"customer":"c-42"})", {}, {}},
      {"ItemAdded", R"({"sku":"book-1","quantity":2,"price":12.5})", {}, {}},
      {"ItemAdded", R"({"sku":"pen-7","quantity":1,"price":1.9})", R"({"channel":"web"})", {}},
      {"CartCheckedOut", R"({"total":26.9})", {}, {}},
  };
  auto [ec, res] = append_blocking(s, stream, std::move(events), expect::no_stream);
  if (ec) {
    std::cerr << "evstore: append failed: " << ec.message() << "\n";
    return 1;
  }
  std::cout << "appended 4 events to " << stream << " in " << dir << " (versions " << res.first_version << ".."
            << res.version << ", positions " << res.first_position << ".." << res.position << ")\n";
  std::cout << "reading " << stream << " back:\n";
  auto page = s.read(stream);
  if (!page) {
    std::cerr << "evstore: read failed: " << page.error().message() << "\n";
    return 1;
  }
  print_events(*page);
  std::cout << "store now holds " << s.event_count() << " events in " << s.stream_count() << " streams\n";
  close_blocking(s);
  return 0;
}

int cmd_info(const std::vector<std::string>& args) {
  auto vm = parse(args, po::options_description("info"), {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  std::cout << "directory: " << s.options().directory << "\nformat: evstore 1\nevents: " << s.event_count()
            << "\nstreams: " << s.stream_count() << "\n";
  return 0;
}

int cmd_ls(const std::vector<std::string>& args) {
  po::options_description opts("ls");
  opts.add_options()("offset", po::value<std::size_t>()->default_value(0), "first stream index")(
      "limit", po::value<std::size_t>()->default_value(1000), "streams to list");
  auto vm = parse(args, opts, {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  for (const stream_info& info : s.list_streams(vm["offset"].as<std::size_t>(), vm["limit"].as<std::size_t>())) {
    std::cout << info.name << "\t" << info.event_count << "\n";
  }
  return 0;
}

int cmd_cat(const std::vector<std::string>& args) {
  po::options_description opts("cat");
  opts.add_options()("from", po::value<std::uint64_t>(), "first version (position for $all)")(
      "limit", po::value<std::uint64_t>(), "most events to print")("backward", "newest first");
  auto vm = parse(args, opts, {"dir", "stream"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  const bool backward = vm.count("backward") > 0;
  read_options o;
  o.direction = backward ? direction::backward : direction::forward;
  o.from = vm.count("from") ? vm["from"].as<std::uint64_t>() : (backward ? from_end : 0);
  if (vm.count("limit")) o.max_count = vm["limit"].as<std::uint64_t>();
  auto range = s.events(vm["stream"].as<std::string>(), o);
  std::string line;
  for (const recorded_event& e : range) {
    line.clear();
    append_event_json(line, e);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  if (range.error()) {
    std::cerr << "evstore: " << range.error()->message() << "\n";
    return 1;
  }
  return 0;
}

int cmd_append(const std::vector<std::string>& args) {
  po::options_description opts("append");
  opts.add_options()("expected", po::value<std::string>()->default_value("any"),
                     "expected version of the first append: any, no_stream, stream_exists or N")(
      "fsync", "acknowledge only after fdatasync");
  auto vm = parse(args, opts, {"dir", "stream"});
  auto expected = parse_expected_version(vm["expected"].as<std::string>());
  if (!expected) throw usage_error("--expected must be any, no_stream, stream_exists or a version");
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), false, vm.count("fsync") > 0);
  const std::string stream = vm["stream"].as<std::string>();
  std::string line;
  std::size_t line_no = 0;
  int status = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto events = parse_events_json(line);
    if (!events) {
      std::cerr << "evstore: line " << line_no << ": " << events.error().message() << "\n";
      status = 1;
      break;
    }
    auto [ec, res] = append_blocking(s, stream, std::move(*events), *expected);
    if (ec) {
      std::cerr << "evstore: line " << line_no << ": " << ec.message();
      if (ec == errc::wrong_expected_version) {
        std::cerr << " (expected " << to_string(res.expected) << ", actual "
                  << (res.actual ? std::to_string(*res.actual) : std::string("no stream")) << ")";
      }
      std::cerr << "\n";
      status = 1;
      break;
    }
    std::cout << "{\"stream\":\"" << stream << "\",\"version\":" << res.version << ",\"position\":" << res.position
              << ",\"createdStream\":" << (res.created_stream ? "true" : "false") << "}\n";
    expected = expect::any;  // the expectation applies to the first append only
  }
  close_blocking(s);
  return status;
}

int cmd_verify(const std::vector<std::string>& args) {
  auto vm = parse(args, po::options_description("verify"), {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), true);
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto report = verify_store(s, [&](std::uint64_t done, std::uint64_t total) {
    if (tty && total > 0) std::fprintf(stderr, "\rverifying %3d%%", static_cast<int>(done * 100 / total));
  });
  if (tty) std::fprintf(stderr, "\r              \r");
  for (const error& e : report.damage) std::cout << "damage: " << e.message() << "\n";
  std::cout << "checked " << report.events_checked << " events in " << report.streams_checked << " streams: "
            << (report.clean() ? "clean" : std::to_string(report.damage.size()) + " damaged ranges") << "\n";
  return report.clean() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << usage_text;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "demo") return cmd_demo(args);
    if (command == "info") return cmd_info(args);
    if (command == "ls") return cmd_ls(args);
    if (command == "cat") return cmd_cat(args);
    if (command == "append") return cmd_append(args);
    if (command == "verify") return cmd_verify(args);
    if (command == "--help" || command == "-h" || command == "help") {
      std::cout << usage_text;
      return 0;
    }
    std::cerr << "evstore: unknown command '" << command << "'\n" << usage_text;
    return 2;
  } catch (const usage_error& e) {
    std::cerr << "evstore: " << e.what() << "\n" << usage_text;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "evstore: " << e.what() << "\n";
    return 2;
  }
}
