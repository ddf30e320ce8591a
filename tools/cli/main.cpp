// evstore — command-line tool over the engine. `evstore help` lists the
// commands, `evstore <command> --help` one command's options; exit codes: 0
// ok, 1 damage found or a request refused, 2 usage or open error.
#include "cli.hpp"

#include <iostream>
#include <map>

namespace {

using namespace evstore::cli;

// Runs `command`; usage errors name the command's usage, --help exits 0.
int run(const std::string& command, int (*cmd)(const args_t&), const args_t& args) {
  try {
    return cmd(args);
  } catch (const help_shown&) {
    return 0;
  } catch (const usage_error& e) {
    std::cerr << "evstore " << command << ": " << e.what() << "\n";
    if (const command_help* h = find_command_help(command)) print_command_usage(std::cerr, *h);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "evstore: " << e.what() << "\n";
    return 2;
  }
}

// `evstore help [command]`: the list, or one command's help (its --help).
int help(const std::map<std::string, int (*)(const args_t&)>& commands, const args_t& args) {
  if (args.empty()) {
    print_usage(std::cout);
    return 0;
  }
  const auto it = commands.find(args.front());
  if (it == commands.end()) {
    std::cerr << "evstore: unknown command '" << args.front() << "'\n";
    print_usage(std::cerr);
    return 2;
  }
  return run(it->first, it->second, {"--help"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string command = argv[1];
  const args_t args(argv + 2, argv + argc);
  const std::map<std::string, int (*)(const args_t&)> commands = {
      {"demo", cmd_demo},     {"info", cmd_info},       {"ls", cmd_ls},         {"cat", cmd_cat},
      {"tail", cmd_tail},     {"append", cmd_append},   {"delete", cmd_delete}, {"metadata", cmd_metadata},
      {"export", cmd_export}, {"import", cmd_import},   {"verify", cmd_verify}, {"repair", cmd_repair},
      {"backup", cmd_backup}, {"migrate", cmd_migrate}, {"bench", cmd_bench},   {"scavenge", cmd_scavenge},
  };
  if (auto it = commands.find(command); it != commands.end()) return run(command, it->second, args);
  if (command == "--version" || command == "version") {
    std::cout << "evstore " EVSTORE_VERSION "\n";
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") return help(commands, args);
  std::cerr << "evstore: unknown command '" << command << "'\n";
  print_usage(std::cerr);
  return 2;
}
