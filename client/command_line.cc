#include "client/command_line.h"

#include <iostream>

namespace desaster::client {

namespace po = boost::program_options;

std::optional<int> ParseCommandLine(const char* program, int argc, char** argv,
                                    const po::options_description& desc) {
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << program << ": " << e.what() << "\nTry --help.\n";
    return 1;
  }
  return std::nullopt;
}

}  // namespace desaster::client
