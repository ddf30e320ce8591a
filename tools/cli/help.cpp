// What `evstore help`, `evstore <command> --help` and a usage error print:
// one entry per command (its arguments, what it does, an example); the
// options come from the command's own option list, so they cannot drift.
#include "cli.hpp"

#include <algorithm>
#include <array>
#include <iomanip>
#include <ostream>

namespace evstore::cli {
namespace {

const std::array<command_help, 16> commands = {{
    {"demo", "<dir>", "append a shopping cart's events to a new stream and read them back", "",
     "evstore demo ./data"},
    {"info", "<dir>", "events, streams, read streams and format of a store",
     "--json prints one object: "
     "{\"directory\":\"./data\",\"format\":2,\"partitions\":1,\"events\":8,\"streams\":2,"
     "\"readStreams\":0}\n",
     "evstore info ./data --json"},
    {"ls", "<dir>", "streams with their event counts, in the stream index's order (all unless --limit)",
     "--json prints one array: [{\"stream\":\"cart-1\",\"events\":4},...]\n",
     "evstore ls ./data --offset 100 --limit 10"},
    {"cat", "<dir> <stream>", "a stream's events as NDJSON ($all for every event)",
     "A stream with no events is missing: exit 1.\n", "evstore cat ./data '$all' --backward --limit 5"},
    {"tail", "<dir> <stream>", "the last events as NDJSON; -f: then follow the store until killed",
     "The writer may be another process (evstored, an application).\n",
     "evstore tail ./data orders-1 -n 5 -f"},
    {"append", "<dir> <stream>", "append events read from stdin, one JSON event per line",
     "A line holding an array is one atomic append. Prints each append's result as JSON.\n"
     "A directory that holds no store is refused unless --create is given.\n",
     "echo '{\"type\":\"OrderPlaced\",\"data\":{\"total\":12.5}}' | evstore append ./data order-1 --create"},
    {"delete", "<dir> <stream>", "delete a stream: reads answer stream_deleted; --hard: for good",
     "Soft: an append recreates the stream, its versions going on. Hard: the name takes no write again.\n"
     "The events are hidden until a scavenge; --erase scavenges the stream at once (its event bodies\n"
     "are then gone from every file). Prints the result as JSON; exit 1 on a refusal.\n",
     "evstore delete ./data user-17 --hard --erase"},
    {"metadata", "<dir> <stream>", "print a stream's limits and access list, or set them with the options",
     "Setting a limit replaces every limit: those not given are lifted. Events outside them are hidden.\n"
     "The access list (the token names evstored lets read or write the stream) stays unless --acl-read,\n"
     "--acl-write or --no-acl is given; --acl-* alone keeps the limits.\n",
     "evstore metadata ./data sensor-4 --max-count 100 --max-age 86400\n"
     "  evstore metadata ./data user-17 --acl-read alice,support --acl-write alice"},
    {"scavenge", "<dir>", "erase the events deletes and limits hide, and give their disk space back",
     "Runs while nothing else has the store open (evstored: POST /admin/scavenge). --stream: one\n"
     "stream only. Prints the figures as JSON.\n",
     "evstore scavenge ./data --progress"},
    {"export", "<dir>", "events as NDJSON (default every event of $all, to stdout)",
     "-o never overwrites a file. The output is what import reads.\n", "evstore export ./data -o all.ndjson"},
    {"import", "<dir>", "append exported NDJSON to each event's stream at its version",
     "Events already stored are compared and skipped, so an interrupted import is run again.\n",
     "evstore import ./copy -i all.ndjson --progress"},
    {"verify", "<dir>", "check every checksum and index entry; exit 1 on damage", "",
     "evstore verify ./data"},
    {"repair", "<dir>", "offline: cut torn tails and damage, rebuild indexes",
     "Cut bytes go to <dir>/lost+found. Exit 0 consistent, 1 not repaired (or a dry run found work),\n"
     "2 refused (a writer holds the store).\n",
     "evstore repair ./data --dry-run"},
    {"backup", "<dir> <destination>", "a consistent copy while the writer runs, then verified",
     "The destination must not exist or be empty.\n", "evstore backup ./data ./backup-2026-11-30"},
    {"migrate", "<dir>", "offline: convert a store of format 1 (evstore before 2026-12) to format 2",
     "The format-1 store is kept in <dir>.v1. Run it again after a crash to finish. Exit 2 refused\n"
     "(the store is open, or <dir>.v1 exists).\n",
     "evstore migrate ./data --partitions 1"},
    {"bench", "<dir>", "append events into a new store, read them back, print events/s",
     "The directory must not exist or be empty; the store is left there.\n",
     "evstore bench /tmp/evstore-bench --events 200000 --streams 10"},
}};

}  // namespace

const command_help* find_command_help(std::string_view name) {
  const auto it =
      std::find_if(commands.begin(), commands.end(), [&](const command_help& c) { return c.name == name; });
  return it == commands.end() ? nullptr : &*it;
}

void print_usage(std::ostream& out) {
  out << "usage: evstore <command> <dir> [args] [options]\n";
  for (const command_help& c : commands) {
    out << "  " << std::left << std::setw(8) << c.name << std::setw(22) << c.arguments << c.summary << "\n";
  }
  out << "evstore <command> --help (or evstore help <command>): its options and an example.\n"
         "evstore --version: the version. Exit codes: 0 ok, 1 damage found or a request refused,\n"
         "2 usage or open error.\n";
}

void print_command_usage(std::ostream& out, const command_help& c) {
  out << "usage: evstore " << c.name << " " << c.arguments << " [options]   (evstore " << c.name
      << " --help: its options and an example)\n";
}

void print_command_help(std::ostream& out, const command_help& c, const po::options_description& opts) {
  out << "usage: evstore " << c.name << " " << c.arguments << " [options]\n"
      << c.summary << "\n"
      << c.details;
  out << "\noptions:\n";
  for (const auto& o : opts.options()) {
    std::string name = o->format_name();
    if (const std::string parameter = o->format_parameter(); !parameter.empty()) name += " " + parameter;
    if (name.size() >= 30) name += "\n" + std::string(32, ' ');
    out << "  " << std::left << std::setw(30) << name << " " << o->description() << "\n";
  }
  out << "\nexample:\n  " << c.example << "\n";
}

}  // namespace evstore::cli
