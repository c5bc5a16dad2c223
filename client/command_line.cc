#include "client/command_line.h"

#include <cstdlib>
#include <fstream>
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

std::string Env(const char* name) {
  const char* value = getenv(name);
  return value ? value : "";
}

SchedulerAccessOptions::SchedulerAccessOptions(po::options_description* desc)
    : user_(Env("DESASTER_SCHEDULER_USER")), password_(Env("DESASTER_SCHEDULER_PASSWORD")) {
  // clang-format off
  desc->add_options()
    ("scheduler-user", po::value(&user_),
     "ACL user to log in to the scheduler as (or env DESASTER_SCHEDULER_USER; default: the "
     "default user)")
    ("scheduler-password-file", po::value(&password_file_),
     "file whose first line is the scheduler password")
    ("scheduler-password", po::value(&password_),
     "the scheduler password (visible to `ps`: prefer env DESASTER_SCHEDULER_PASSWORD or "
     "--scheduler-password-file)")
    ("tls", po::bool_switch(&tls_), "speak TLS to the scheduler (its --tls-port)")
    ("tls-ca-cert-file", po::value(&tls_settings_.ca_cert_file),
     "TLS: PEM CA certificates the scheduler's certificate is checked against (default: the "
     "system's)")
    ("tls-ca-cert-dir", po::value(&tls_settings_.ca_cert_dir),
     "TLS: a directory of hashed CA certificates, likewise")
    ("tls-cert-file", po::value(&tls_settings_.cert_file),
     "TLS: the client certificate to present (when the scheduler asks for one)")
    ("tls-key-file", po::value(&tls_settings_.key_file), "TLS: the key of --tls-cert-file");
  // clang-format on
}

std::optional<SchedulerAccess> SchedulerAccessOptions::Resolve(std::string* error) const {
  SchedulerAccess access{.user = user_, .password = password_, .tls = nullptr};
  if (!password_file_.empty()) {
    std::ifstream in(password_file_);
    if (!in || !std::getline(in, access.password)) {
      *error = "cannot read --scheduler-password-file " + password_file_;
      return std::nullopt;
    }
  }
  if (!access.user.empty() && access.password.empty()) {
    *error =
        "--scheduler-user needs a password (--scheduler-password-file, or env "
        "DESASTER_SCHEDULER_PASSWORD)";
    return std::nullopt;
  }
  if (tls_) {
    access.tls = net::TlsContext::ForClient(tls_settings_, error);
    if (!access.tls) return std::nullopt;
  }
  return access;
}

}  // namespace desaster::client
