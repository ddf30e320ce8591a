// Commands that write: demo, append, import. They take the store's writer
// lock, so they fail with a clear error while evstored (or another writer)
// has the store open.
#include "cli.hpp"

#include <evstore/event_json.hpp>

#include <boost/json/parse.hpp>

#include <fstream>
#include <iostream>
#include <unordered_map>

namespace evstore::cli {

int cmd_demo(const args_t& args) {
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
  std::string line;
  for (const recorded_event& e : page->events) write_event_line(stdout, line, e);
  std::cout << "store now holds " << s.event_count() << " events in " << s.stream_count() << " streams\n";
  close_blocking(s);
  return 0;
}

int cmd_append(const args_t& args) {
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
  if (close_blocking(s)) status = 1;
  return status;
}

namespace {

// Same event: equal ids when both have one, else equal type, data and
// metadata as JSON values (an import re-serializes the JSON text).
bool same_event(const recorded_event& stored, const event_data& e) {
  if (stored.id && e.id) return *stored.id == *e.id;
  if (stored.type != e.type) return false;
  boost::system::error_code ec1, ec2;
  const auto json_equal = [&](std::string_view a, std::string_view b) {
    if (a.empty() || b.empty()) return a.empty() == b.empty();
    return boost::json::parse(a, ec1) == boost::json::parse(b, ec2) && !ec1 && !ec2;
  };
  return json_equal(stored.data, e.data.empty() ? std::string_view("null") : std::string_view(e.data)) &&
         json_equal(stored.metadata, e.metadata);
}

}  // namespace

int cmd_import(const args_t& args) {
  po::options_description opts("import");
  opts.add_options()("input,i", po::value<std::string>(), "read this file instead of stdin")(
      "fsync", "acknowledge only after fdatasync (slower; an interrupted import can be rerun either way)");
  auto vm = parse(args, opts, {"dir"});
  std::ifstream file;
  if (vm.count("input")) {
    file.open(vm["input"].as<std::string>());
    if (!file) {
      std::cerr << "evstore: cannot read " << vm["input"].as<std::string>() << "\n";
      return 2;
    }
  }
  std::istream& in = vm.count("input") ? static_cast<std::istream&>(file) : std::cin;
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), false, vm.count("fsync") > 0);

  // Per stream: events the store had when the import first met the stream,
  // and the version the next imported event must have.
  struct stream_progress {
    std::uint64_t existing = 0, next = 0;
  };
  std::unordered_map<std::string, stream_progress> streams;
  append_pipeline pipeline(s, 256, "line");
  // Consecutive events of one stream go out as one append (up to 512).
  std::string batch_stream;
  std::vector<event_data> batch;
  std::optional<std::uint64_t> batch_first_version;
  std::size_t batch_line = 0;
  const auto send = [&] {
    if (batch.empty()) return;
    const expected_version expected = !batch_first_version ? expect::any
                                      : *batch_first_version == 0 ? expect::no_stream
                                                                  : expect::exactly(*batch_first_version - 1);
    pipeline.submit(batch_stream, std::move(batch), expected, batch_line);
    batch.clear();
  };

  std::uint64_t imported = 0, skipped = 0;
  std::size_t line_no = 0;
  std::string line, failure;
  while (failure.empty() && !pipeline.failed() && std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = parse_exported_event_json(line);
    if (!parsed) {
      failure = "line " + std::to_string(line_no) + ": " + parsed.error().message();
      break;
    }
    auto [it, first_time] = streams.try_emplace(parsed->stream);
    stream_progress& p = it->second;
    if (first_time) {
      auto v = s.stream_version(parsed->stream);
      if (!v) {
        failure = "line " + std::to_string(line_no) + ": " + v.error().message();
        break;
      }
      p.existing = p.next = *v ? **v + 1 : 0;
    }
    if (parsed->version && *parsed->version < p.existing) {
      // Already in the store (an earlier, interrupted import): must be the same event.
      auto stored = s.read(parsed->stream, {.from = *parsed->version, .max_count = 1});
      if (!stored || stored->events.empty() || !same_event(stored->events.front(), parsed->event)) {
        failure = "line " + std::to_string(line_no) + ": " + parsed->stream + " already has a different event at version " +
                  std::to_string(*parsed->version);
        break;
      }
      ++skipped;
      continue;
    }
    if (parsed->version && *parsed->version != p.next) {
      failure = "line " + std::to_string(line_no) + ": " + parsed->stream + " version " +
                std::to_string(*parsed->version) + " does not follow version " +
                (p.next ? std::to_string(p.next - 1) : std::string("(none)")) +
                " (events missing from the input, or out of order)";
      break;
    }
    if (parsed->stream != batch_stream || batch.size() >= 512 || parsed->version.has_value() != batch_first_version.has_value()) {
      send();
      batch_stream = parsed->stream;
      batch_first_version = parsed->version;
      batch_line = line_no;
    }
    batch.push_back(std::move(parsed->event));
    ++p.next;
    ++imported;
  }
  if (failure.empty() && !in.eof() && in.fail() && !pipeline.failed()) failure = "reading the input failed";
  if (!pipeline.failed()) send();  // the lines before a bad one are imported
  if (auto f = pipeline.drain(); f && failure.empty()) failure = *f;
  const bool close_failed = static_cast<bool>(close_blocking(s));
  if (!failure.empty()) {
    std::cerr << "evstore: import stopped at " << failure << "\n"
              << "evstore: the events before it are imported; fix the input and run the import again (events "
                 "already stored are skipped)\n";
    return 1;
  }
  std::cerr << "imported " << imported << " events into " << streams.size() << " streams"
            << (skipped ? ", skipped " + std::to_string(skipped) + " already stored" : std::string()) << "\n";
  return close_failed ? 1 : 0;
}

}  // namespace evstore::cli
