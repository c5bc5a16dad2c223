// Command-line handling desaster-worker and desaster-web share (Boost.Program_options).
#pragma once

#include <boost/program_options.hpp>
#include <optional>
#include <string>

#include "client/scheduler_connection.h"

namespace desaster::client {

// Parses argv into `desc`'s variables. Returns the exit status when the program should stop
// now: 0 after printing --help, 1 after explaining a bad option ("<program>: ... Try --help.").
// nullopt: go on.
std::optional<int> ParseCommandLine(const char* program, int argc, char** argv,
                                    const boost::program_options::options_description& desc);

// The environment variable `name`, or empty.
std::string Env(const char* name);

// The options that say how a program logs in to the scheduler and whether it speaks TLS:
// --scheduler-user, --scheduler-password, --scheduler-password-file, --tls and its files. The
// user and password may come from the environment instead (DESASTER_SCHEDULER_USER,
// DESASTER_SCHEDULER_PASSWORD), so that `ps` does not show them.
class SchedulerAccessOptions {
 public:
  // Adds the options to `desc`.
  explicit SchedulerAccessOptions(boost::program_options::options_description* desc);
  // After ParseCommandLine: the access they describe. nullopt with *error ("cannot read
  // --scheduler-password-file X: ...") when a file is unusable.
  std::optional<SchedulerAccess> Resolve(std::string* error) const;

 private:
  std::string user_, password_, password_file_;
  bool tls_ = false;
  net::TlsSettings tls_settings_;
};

}  // namespace desaster::client
