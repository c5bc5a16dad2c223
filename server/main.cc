// desaster-scheduler: the job-queue server.
#include <cstdio>

#include "server/command/registry.h"
#include "server/command/server_state.h"
#include "server/config.h"
#include "server/log.h"
#include "server/net/server.h"
#include "server/store/commit.h"

int main(int argc, char** argv) {
  using namespace desaster;
  Options options;
  int exit_code = 0;
  if (!ParseOptions(argc, argv, &options, &exit_code)) return exit_code;
  SetLogLevel(options.loglevel);

  ServerState state(&options, 0);
  RegisterAllCommands(&state.registry);
  VolatileCommit commit;
  Server server(&state, &commit);
  std::string error;
  if (!server.Listen(&error)) {
    Log(LogLevel::kWarning, "{}", error);
    return 1;
  }
  server.Run();
  return 0;
}
