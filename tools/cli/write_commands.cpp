// Commands that write: demo, append, import. They take the store's writer
// lock, so they fail with a clear error while evstored (or another writer)
// has the store open.
#include "cli.hpp"
#include <evstore/event_json.hpp>

#include <boost/json/parse.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <unordered_map>

#include <sys/stat.h>
#include <unistd.h>

namespace evstore::cli {

int cmd_demo(const args_t& args) {
  auto vm = parse(args, "demo", po::options_description(), {"dir"});
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
  std::cout << "appended 4 events to " << stream << " in " << dir << " (versions " << res.first_version
            << ".." << res.version << ", positions " << res.first_position << ".." << res.position << ")\n";
  std::cout << "reading " << stream << " back:\n";
  auto page = s.read(stream);
  if (!page) {
    std::cerr << "evstore: read failed: " << page.error().message() << "\n";
    return 1;
  }
  std::string line;
  for (const recorded_event& e : page->events) write_event_line(stdout, line, e);
  std::cout << "store now holds " << s.event_count() << " events in " << s.stream_count() << " streams\n";
  return close_blocking(s) ? 1 : 0;
}

int cmd_append(const args_t& args) {
  po::options_description opts;
  opts.add_options()("expected", po::value<std::string>()->default_value("any"),
                     "expected version of the first append: any, no_stream, stream_exists or N")(
      "fsync", "acknowledge only after fdatasync")("create", "make a new store if <dir> holds none");
  auto vm = parse(args, "append", opts, {"dir", "stream"});
  auto expected = parse_expected_version(vm["expected"].as<std::string>());
  if (!expected) throw usage_error("--expected must be any, no_stream, stream_exists or a version");
  const std::string dir = vm["dir"].as<std::string>();
  // A mistyped directory must not silently become a new, empty store.
  if (!vm.count("create") && !holds_store(dir)) {
    std::cerr << "evstore: " << dir << " holds no store (append --create makes one)\n";
    return 2;
  }
  runner r;
  store s = open_or_exit(r, dir, false, vm.count("fsync") > 0);
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
    std::cout << "{\"stream\":\"" << stream << "\",\"version\":" << res.version
              << ",\"position\":" << res.position
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

// An import: checks each exported line against the store and the lines
// before it, and appends what is new through a pipeline. Per stream it knows
// the events the store had when the import first met the stream and the
// version the next imported event must have; consecutive events of one stream
// go out as one append (up to 512).
class importer {
 public:
  explicit importer(store& s) : store_(s), pipeline_(s, 256, "line") {}

  // One line of the input (numbered from 1): an event skipped (stored by an
  // earlier, interrupted import), batched, or the failure that stops the import.
  std::optional<std::string> add(const std::string& line, std::size_t line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return std::nullopt;
    auto parsed = parse_exported_event_json(line);
    if (!parsed) return at(line_no, parsed.error().message());
    auto [it, first_time] = streams_.try_emplace(parsed->stream);
    stream_progress& p = it->second;
    if (first_time) {
      auto v = store_.stream_version(parsed->stream);
      if (!v) return at(line_no, v.error().message());
      p.existing = p.next = *v ? **v + 1 : 0;
    }
    if (parsed->version && *parsed->version < p.existing) return skip_stored(*parsed, line_no);
    if (parsed->version && *parsed->version != p.next) {
      return at(line_no, parsed->stream + " version " + std::to_string(*parsed->version) +
                             " does not follow version " +
                             (p.next ? std::to_string(p.next - 1) : std::string("(none)")) +
                             " (events missing from the input, or out of order)");
    }
    batch(std::move(*parsed), line_no);
    ++p.next;
    ++imported_;
    return std::nullopt;
  }

  bool failed() { return pipeline_.failed(); }

  // After the last line: the lines before a failed one are imported too.
  // Waits for every append; the first failure of an append, if any.
  std::optional<std::string> finish() {
    if (!pipeline_.failed()) send();
    return pipeline_.drain();
  }

  // "imported N events into N streams[, skipped N already stored]"
  std::string summary() const {
    return "imported " + std::to_string(imported_) + " events into " + std::to_string(streams_.size()) +
           " streams" +
           (skipped_ ? ", skipped " + std::to_string(skipped_) + " already stored" : std::string());
  }

 private:
  struct stream_progress {
    std::uint64_t existing = 0, next = 0;
  };

  static std::string at(std::size_t line_no, const std::string& what) {
    return "line " + std::to_string(line_no) + ": " + what;
  }

  // An event the store already has must be the same event.
  std::optional<std::string> skip_stored(const exported_event& e, std::size_t line_no) {
    auto stored = store_.read(e.stream, {.from = *e.version, .max_count = 1});
    if (!stored || stored->events.empty() || !same_event(stored->events.front(), e.event)) {
      return at(line_no,
                e.stream + " already has a different event at version " + std::to_string(*e.version));
    }
    ++skipped_;
    return std::nullopt;
  }

  // A new batch starts at another stream, at 512 events, or where lines
  // with versions and lines without meet (the expectation differs).
  void batch(exported_event e, std::size_t line_no) {
    if (e.stream != batch_stream_ || batch_.size() >= 512 ||
        e.version.has_value() != batch_first_version_.has_value()) {
      send();
      batch_stream_ = e.stream;
      batch_first_version_ = e.version;
      batch_line_ = line_no;
    }
    batch_.push_back(std::move(e.event));
  }

  void send() {
    if (batch_.empty()) return;
    const expected_version expected = !batch_first_version_ ? expect::any
                                      : *batch_first_version_ == 0
                                          ? expect::no_stream
                                          : expect::exactly(*batch_first_version_ - 1);
    pipeline_.submit(batch_stream_, std::move(batch_), expected, batch_line_);
    batch_.clear();
  }

  store& store_;
  append_pipeline pipeline_;
  std::unordered_map<std::string, stream_progress> streams_;
  std::string batch_stream_;
  std::vector<event_data> batch_;
  std::optional<std::uint64_t> batch_first_version_;
  std::size_t batch_line_ = 0;
  std::uint64_t imported_ = 0, skipped_ = 0;
};

// Every line of `in` until the first failure (of a line or of an append);
// `bar` counts the bytes read of `total` (0: unknown).
std::optional<std::string> import_lines(std::istream& in, importer& imp, progress_meter& bar,
                                        std::uint64_t total) {
  std::size_t line_no = 0;
  std::uint64_t bytes = 0;
  std::string line;
  while (!imp.failed() && std::getline(in, line)) {
    if (auto failure = imp.add(line, ++line_no)) return failure;
    bytes += line.size() + 1;
    if (line_no % 1024 == 0) bar.update(bytes, total);
  }
  bar.update(bytes, total);
  if (!in.eof() && in.fail() && !imp.failed()) return "reading the input failed";
  return std::nullopt;
}

// The size of the input when it is a regular file (-i FILE, or stdin
// redirected from one), else 0: a pipe's length is unknown.
std::uint64_t input_size(const po::variables_map& vm) {
  std::error_code ec;
  if (vm.count("input")) {
    const auto size = std::filesystem::file_size(vm["input"].as<std::string>(), ec);
    return ec ? 0 : size;
  }
  struct stat st {};
  return ::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

int cmd_import(const args_t& args) {
  po::options_description opts;
  opts.add_options()("input,i", po::value<std::string>(), "read this file instead of stdin")(
      "fsync", "acknowledge only after fdatasync (slower; an interrupted import can be rerun either way)");
  add_progress_option(opts);
  auto vm = parse(args, "import", opts, {"dir"});
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

  importer imp(s);
  progress_meter bar("importing", "MiB", vm);
  std::optional<std::string> failure = import_lines(in, imp, bar, input_size(vm));
  bar.finish();
  if (auto f = imp.finish(); f && !failure) failure = f;
  const bool close_failed = static_cast<bool>(close_blocking(s));
  if (failure) {
    std::cerr << "evstore: import stopped at " << *failure << "\n"
              << "evstore: the events before it are imported; fix the input and run the import again (events "
                 "already stored are skipped)\n";
    return 1;
  }
  std::cerr << imp.summary() << "\n";
  return close_failed ? 1 : 0;
}

}  // namespace evstore::cli
