#include "server/store/commit.h"

namespace desaster {
namespace {

class NothingToLoad : public StateLoader {
 public:
  bool Step(Keyspace*, size_t) override { return true; }
  uint64_t keys() const override { return 0; }
  uint64_t records() const override { return 0; }
  uint64_t lsn() const override { return 0; }
};

}  // namespace

std::unique_ptr<StateLoader> VolatileCommit::NewLoader() {
  return std::make_unique<NothingToLoad>();
}

}  // namespace desaster
