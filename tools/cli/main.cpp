// evstore — command-line tool over the engine. `evstore help` lists the
// commands; exit codes: 0 ok, 1 damage found or a request refused, 2 usage
// or open error.
#include "cli.hpp"

#include <iostream>
#include <map>

namespace evstore::cli {

const char* const usage_text =
    "usage: evstore <command> <dir> [args]   (evstore --version: the version)\n"
    "  demo    <dir>                                   append a shopping cart's events and read them back\n"
    "  info    <dir>                                   events, streams, read streams, format\n"
    "  ls      <dir> [--offset N] [--limit N]          streams with their event counts (all unless --limit)\n"
    "  cat     <dir> <stream> [--from N] [--limit N] [--backward]   events as NDJSON ($all for every event)\n"
    "  tail    <dir> <stream> [-n N] [--from N] [-f]   the last N events (10) as NDJSON; -f: then follow\n"
    "                                                  the store (a writer may be another process) until "
    "killed\n"
    "  append  <dir> <stream> [--expected any|no_stream|stream_exists|N] [--fsync] [--create]\n"
    "                                                  appends events read from stdin, one JSON event\n"
    "                                                  (object or array = one atomic append) per line;\n"
    "                                                  --create: make the store if <dir> holds none\n"
    "  export  <dir> [--stream S] [--from N] [-o FILE] events as NDJSON (default $all, to stdout)\n"
    "  import  <dir> [-i FILE] [--fsync]               appends exported NDJSON (default stdin) to each "
    "event's\n"
    "                                                  stream at its version; events already there are "
    "skipped,\n"
    "                                                  so an interrupted import can be run again\n"
    "  verify  <dir>                                   checks every checksum and index entry; exit 1 on "
    "damage\n"
    "  repair  <dir> [--dry-run]                       offline: cuts torn tails and damage (cut bytes go to\n"
    "                                                  <dir>/lost+found), rebuilds indexes from partitions;\n"
    "                                                  exit 0 consistent, 1 not repaired (or dry run found "
    "work)\n"
    "  backup  <dir> <destination> [--no-verify]       a consistent copy while the writer runs, then "
    "verified\n"
    "  bench   <dir> [--events N] [--streams N] [--size B] [--fsync]\n"
    "                                                  appends N events into a new store at <dir>, reads "
    "them\n"
    "                                                  back, prints events/s\n";

}  // namespace evstore::cli

int main(int argc, char** argv) {
  using namespace evstore::cli;
  if (argc < 2) {
    std::cerr << usage_text;
    return 2;
  }
  const std::string command = argv[1];
  const args_t args(argv + 2, argv + argc);
  const std::map<std::string, int (*)(const args_t&)> commands = {
      {"demo", cmd_demo},     {"info", cmd_info},     {"ls", cmd_ls},         {"cat", cmd_cat},
      {"tail", cmd_tail},     {"append", cmd_append}, {"export", cmd_export}, {"import", cmd_import},
      {"verify", cmd_verify}, {"repair", cmd_repair}, {"backup", cmd_backup}, {"bench", cmd_bench},
  };
  try {
    if (auto it = commands.find(command); it != commands.end()) return it->second(args);
    if (command == "--version" || command == "version") {
      std::cout << "evstore " EVSTORE_VERSION "\n";
      return 0;
    }
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
