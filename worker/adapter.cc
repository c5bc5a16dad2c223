#include "worker/adapter.h"

namespace desaster::worker {

std::unique_ptr<Adapter> MakeCommandAdapter(ev::loop_ref, const AdapterOptions&, std::string*);
std::unique_ptr<Adapter> MakeRubyAdapter(ev::loop_ref, const AdapterOptions&, std::string*);

const std::vector<AdapterInfo>& Adapters() {
  static const std::vector<AdapterInfo> kAll = {
      {"command", MakeCommandAdapter},
      {"ruby", MakeRubyAdapter},
  };
  return kAll;
}

}  // namespace desaster::worker
