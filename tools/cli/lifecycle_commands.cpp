// Commands that end streams: delete, metadata, scavenge. They write, so they
// take the store's writer lock (as append does).
#include "cli.hpp"
#include <evstore/event_json.hpp>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <future>
#include <iostream>

namespace evstore::cli {
namespace {

using outcome = std::pair<boost::system::error_code, append_result>;

std::string json_quote(const std::string& s) { return boost::json::serialize(boost::json::string(s)); }

// Prints a delete's or a metadata change's result as one JSON line; 0, or 1
// after saying why it was refused.
int report(const std::string& stream, const outcome& o) {
  const auto& [ec, r] = o;
  if (ec) {
    std::cerr << "evstore: " << ec.message();
    if (!r.detail.empty()) std::cerr << ": " << r.detail;
    std::cerr << "\n";
    return 1;
  }
  std::cout << "{\"stream\":" << json_quote(stream)
            << ",\"version\":" << (r.actual ? std::to_string(*r.actual) : std::string("null"))
            << ",\"position\":" << r.position << "}\n";
  return 0;
}

// A scavenge's figures as one JSON line; 0, or 1 after saying why it failed.
int print_scavenge(const result<scavenge_report>& r) {
  if (!r) {
    std::cerr << "evstore: scavenge failed: " << r.error().message() << "\n";
    return 1;
  }
  std::cout << "{\"streams\":" << r->streams << ",\"eventsErased\":" << r->events_erased
            << ",\"bytesErased\":" << r->bytes_erased << ",\"bytesReleased\":" << r->bytes_released << "}\n";
  return 0;
}

std::string limit_text(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : std::string("null");
}

// "alice,bob" → {alice, bob}; "" → {} (a list that names no one).
std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  for (std::size_t at = 0; !text.empty() && at <= text.size();) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    names.push_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return names;
}

std::string acl_text(const stream_acl& acl) {
  if (acl.empty()) return "null";
  const auto list = [](const std::optional<std::vector<std::string>>& names) {
    if (!names) return std::string("null");
    std::string out = "[";
    for (const std::string& n : *names) out += (out.size() > 1 ? "," : "") + json_quote(n);
    return out + "]";
  };
  return "{\"read\":" + list(acl.read) + ",\"write\":" + list(acl.write) + "}";
}

}  // namespace

int cmd_delete(const args_t& args) {
  po::options_description opts;
  opts.add_options()("expected", po::value<std::string>()->default_value("any"),
                     "the stream's expected version: any, no_stream, stream_exists or N")(
      "hard", "delete for good: the name never takes a write again")(
      "erase", "then erase the stream's events from every file (a scavenge of the stream)");
  auto vm = parse(args, "delete", opts, {"dir", "stream"});
  auto expected = parse_expected_version(vm["expected"].as<std::string>());
  if (!expected) throw usage_error("--expected must be any, no_stream, stream_exists or a version");
  const std::string dir = vm["dir"].as<std::string>();
  const std::string stream = vm["stream"].as<std::string>();
  runner r;
  store s = open_or_exit(r, dir, false);
  std::promise<outcome> done;
  s.delete_stream(stream, {.expected = *expected, .hard = vm.count("hard") > 0},
                  [&](boost::system::error_code ec, append_result res) {
                    done.set_value({ec, std::move(res)});
                  });
  const outcome deleted = done.get_future().get();
  int status = report(stream, deleted);
  if (status == 0 && vm.count("erase")) status = print_scavenge(s.scavenge({.stream = stream}));
  if (close_blocking(s)) status = 1;
  return status;
}

int cmd_scavenge(const args_t& args) {
  po::options_description opts;
  opts.add_options()("stream", po::value<std::string>(), "only this stream's hidden events");
  add_progress_option(opts);
  auto vm = parse(args, "scavenge", opts, {"dir"});
  runner r;
  store s = open_or_exit(r, vm["dir"].as<std::string>(), false);
  progress_meter bar("scavenging", "streams", vm);
  scavenge_options o{.progress = [&](std::uint64_t done, std::uint64_t total) { bar.update(done, total); }};
  if (vm.count("stream")) o.stream = vm["stream"].as<std::string>();
  auto result = s.scavenge(o);
  bar.finish();
  int status = print_scavenge(result);
  if (close_blocking(s)) status = 1;
  return status;
}

int cmd_metadata(const args_t& args) {
  po::options_description opts;
  opts.add_options()("max-count", po::value<std::uint64_t>(), "keep the last N events readable")(
      "max-age", po::value<std::uint64_t>(), "keep events committed within N seconds readable")(
      "truncate-before", po::value<std::uint64_t>(), "hide the versions before N")(
      "clear", "lift every limit")("acl-read", po::value<std::string>(),
                                   "the token names that may read it, comma-separated ('' : none)")(
      "acl-write", po::value<std::string>(),
      "the token names that may write it, comma-separated ('' : none)")(
      "no-acl", "drop the stream's access list")("expected", po::value<std::string>()->default_value("any"),
                                                 "the stream's expected version when setting");
  auto vm = parse(args, "metadata", opts, {"dir", "stream"});
  const std::string dir = vm["dir"].as<std::string>();
  const std::string stream = vm["stream"].as<std::string>();
  const bool limits =
      vm.count("max-count") || vm.count("max-age") || vm.count("truncate-before") || vm.count("clear");
  const bool acl = vm.count("acl-read") || vm.count("acl-write") || vm.count("no-acl");
  if (vm.count("no-acl") && (vm.count("acl-read") || vm.count("acl-write")))
    throw usage_error("--no-acl drops the access list: give it without --acl-read and --acl-write");
  auto expected = parse_expected_version(vm["expected"].as<std::string>());
  if (!expected) throw usage_error("--expected must be any, no_stream, stream_exists or a version");
  runner r;
  store s = open_or_exit(r, dir, !limits && !acl);
  int status = 0;
  if (limits || acl) {
    // The writer lock is this process's: what it reads here no one changes.
    const stream_metadata now = s.stream_metadata_of(stream);
    stream_metadata m;
    if (limits) {
      if (vm.count("max-count")) m.max_count = vm["max-count"].as<std::uint64_t>();
      if (vm.count("max-age"))
        m.max_age = std::chrono::seconds(static_cast<std::int64_t>(vm["max-age"].as<std::uint64_t>()));
      if (vm.count("truncate-before")) m.truncate_before = vm["truncate-before"].as<std::uint64_t>();
    } else {
      m = now;
    }
    m.acl = now.acl;
    if (vm.count("no-acl")) m.acl = {};
    if (vm.count("acl-read")) m.acl.read = split_names(vm["acl-read"].as<std::string>());
    if (vm.count("acl-write")) m.acl.write = split_names(vm["acl-write"].as<std::string>());
    std::promise<outcome> done;
    s.set_stream_metadata(stream, m, *expected, [&](boost::system::error_code ec, append_result res) {
      done.set_value({ec, std::move(res)});
    });
    status = report(stream, done.get_future().get());
  } else {
    const stream_metadata m = s.stream_metadata_of(stream);
    std::cout << "{\"stream\":" << json_quote(stream) << ",\"maxCount\":" << limit_text(m.max_count)
              << ",\"maxAge\":"
              << limit_text(m.max_age
                                ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(m.max_age->count()))
                                : std::nullopt)
              << ",\"truncateBefore\":" << limit_text(m.truncate_before) << ",\"acl\":" << acl_text(m.acl)
              << "}\n";
  }
  if (close_blocking(s)) status = 1;
  return status;
}

}  // namespace evstore::cli
