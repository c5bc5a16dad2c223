#include "server/store/commit_queue.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace desaster;

namespace {

// A pipeline whose commits wait at a gate the test opens, and which records what it was given.
class GatedPipeline : public CommitPipeline {
 public:
  bool Commit(std::span<const Batch> batches, bool sync, std::string* error) override {
    std::unique_lock lock(mu_);
    entered_++;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    std::vector<uint64_t> lsns;
    for (const Batch& b : batches) lsns.push_back(b.lsn);
    calls.push_back({lsns, sync, std::this_thread::get_id()});
    if (fail_from_ && batches.back().lsn >= fail_from_) {
      *error = "disk full";
      return false;
    }
    return true;
  }
  bool Flush(std::string*) override { return true; }
  bool Probe(std::string*) override { return true; }
  std::unique_ptr<StateLoader> NewLoader() override { return nullptr; }
  std::string engine() const override { return "gated"; }

  void Open(bool open) {
    std::lock_guard lock(mu_);
    open_ = open;
    changed_.notify_all();
  }
  // Waits until `n` commits have started.
  bool WaitEntered(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= n; });
  }
  void FailFrom(uint64_t lsn) { fail_from_ = lsn; }

  struct Call {
    std::vector<uint64_t> lsns;
    bool sync;
    std::thread::id thread;
  };
  std::vector<Call> calls;  // read after WaitIdle only

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  bool open_ = true;
  int entered_ = 0;
  uint64_t fail_from_ = 0;
};

Batch MakeBatch(uint64_t lsn) {
  Batch b{lsn, {}};
  Mutation m;
  m.op = Mutation::Op::kDelete;
  b.mutations.push_back(m);
  return b;
}

}  // namespace

TEST_CASE("the helper commits in order and coalesces batches queued behind a slow commit") {
  GatedPipeline pipeline;
  std::atomic<int> wakes = 0;
  CommitQueue queue(&pipeline, true, [&] { wakes++; });
  pipeline.Open(false);
  queue.Submit(MakeBatch(1), false, true);
  REQUIRE(pipeline.WaitEntered(1));  // batch 1 is being committed and stays there
  queue.Submit(MakeBatch(2), false, true);
  queue.Submit(MakeBatch(3), true, true);
  CHECK(queue.in_flight() == 3);  // Submit did not wait for the disk
  CHECK(queue.TakeOutcomes().empty());
  pipeline.Open(true);
  queue.WaitIdle();
  CHECK(queue.in_flight() == 0);
  REQUIRE(pipeline.calls.size() == 2);
  CHECK(pipeline.calls[0].lsns == std::vector<uint64_t>{1});
  CHECK_FALSE(pipeline.calls[0].sync);
  CHECK(pipeline.calls[1].lsns == std::vector<uint64_t>{2, 3});  // one write for both
  CHECK(pipeline.calls[1].sync);                                 // because batch 3 asked
  auto outcomes = queue.TakeOutcomes();
  REQUIRE(outcomes.size() == 2);
  CHECK((outcomes[0].ok && outcomes[0].lsn == 1 && outcomes[0].spent.size() == 1));
  CHECK((outcomes[1].ok && outcomes[1].lsn == 3 && outcomes[1].spent.size() == 2));
  CHECK(outcomes[1].spent[1].mutations.size() == 1);  // handed back intact for reuse
  // The helper wakes the loop after each commit (just after WaitIdle may already return).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (wakes < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  CHECK(wakes == 2);
}

TEST_CASE("a foreground batch commits on the caller when idle, else behind what is in flight") {
  GatedPipeline pipeline;
  CommitQueue queue(&pipeline, true, [] {});
  CHECK_FALSE(queue.Submit(MakeBatch(1), true, false));  // idle: no hand-over
  REQUIRE(pipeline.calls.size() == 1);
  CHECK(pipeline.calls[0].thread == std::this_thread::get_id());
  pipeline.Open(false);
  std::thread opener([&] {
    // Batch 2 is on the helper and batch 3 queued behind it before the gate opens.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (queue.in_flight() < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    pipeline.Open(true);
  });
  CHECK(queue.Submit(MakeBatch(2), true, true));  // the helper's, while the caller goes on
  REQUIRE(pipeline.WaitEntered(2));
  // Returns only once committed (by the helper, but not while the caller went on).
  CHECK_FALSE(queue.Submit(MakeBatch(3), true, false));
  CHECK(queue.in_flight() == 0);
  opener.join();
  REQUIRE(pipeline.calls.size() == 3);
  CHECK(pipeline.calls[1].thread != std::this_thread::get_id());
  CHECK(pipeline.calls[2].thread != std::this_thread::get_id());
  CHECK(pipeline.calls[2].lsns == std::vector<uint64_t>{3});
  CHECK(queue.TakeOutcomes().size() == 3);
}

TEST_CASE("a failed commit comes back with its error") {
  GatedPipeline pipeline;
  pipeline.FailFrom(2);
  CommitQueue queue(&pipeline, true, [] {});
  queue.Submit(MakeBatch(1), true, true);
  queue.WaitIdle();
  queue.Submit(MakeBatch(2), true, true);
  queue.WaitIdle();
  auto outcomes = queue.TakeOutcomes();
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].ok);
  CHECK_FALSE(outcomes[1].ok);
  CHECK(outcomes[1].lsn == 2);
  CHECK(outcomes[1].error == "disk full");
}

TEST_CASE("inline, Submit commits before it returns") {
  GatedPipeline pipeline;
  bool woken = false;
  CommitQueue queue(&pipeline, false, [&] { woken = true; });
  CHECK_FALSE(queue.Submit(MakeBatch(7), true, true));  // no helper to hand it to
  auto outcomes = queue.TakeOutcomes();
  REQUIRE(outcomes.size() == 1);
  CHECK((outcomes[0].ok && outcomes[0].lsn == 7));
  CHECK(pipeline.calls.size() == 1);
  CHECK_FALSE(woken);  // nothing to wake: the loop takes the outcome itself
}

TEST_CASE("stopping commits what is still queued") {
  GatedPipeline pipeline;
  {
    CommitQueue queue(&pipeline, true, [] {});
    pipeline.Open(false);
    queue.Submit(MakeBatch(1), false, true);
    REQUIRE(pipeline.WaitEntered(1));
    queue.Submit(MakeBatch(2), false, true);
    pipeline.Open(true);
  }
  REQUIRE(pipeline.calls.size() == 2);
  CHECK(pipeline.calls[1].lsns == std::vector<uint64_t>{2});
}

TEST_CASE("the helper says when it went quiet after its commits") {
  GatedPipeline pipeline;
  std::mutex mu;
  int quiet = 0;
  std::thread::id quiet_thread;
  CommitQueue queue(
      &pipeline, true, [] {},
      [&] {
        std::lock_guard lock(mu);
        quiet++;
        quiet_thread = std::this_thread::get_id();
      });
  auto quiet_reaches = [&](int n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (quiet >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  };
  for (uint64_t burst = 1; burst <= 2; burst++) {
    auto submitted = std::chrono::steady_clock::now();
    queue.Submit(MakeBatch(2 * burst - 1), false, true);
    queue.Submit(MakeBatch(2 * burst), false, true);
    REQUIRE(quiet_reaches(static_cast<int>(burst)));
    CHECK(std::chrono::steady_clock::now() - submitted >= std::chrono::milliseconds(100));
    std::lock_guard lock(mu);
    CHECK(quiet == static_cast<int>(burst));  // once for the burst, not once per batch
    CHECK(quiet_thread == pipeline.calls.back().thread);
    CHECK(quiet_thread != std::this_thread::get_id());
  }
}
