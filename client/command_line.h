// Command-line handling desaster-worker and desaster-web share (Boost.Program_options).
#pragma once

#include <boost/program_options.hpp>
#include <optional>

namespace desaster::client {

// Parses argv into `desc`'s variables. Returns the exit status when the program should stop
// now: 0 after printing --help, 1 after explaining a bad option ("<program>: ... Try --help.").
// nullopt: go on.
std::optional<int> ParseCommandLine(const char* program, int argc, char** argv,
                                    const boost::program_options::options_description& desc);

}  // namespace desaster::client
