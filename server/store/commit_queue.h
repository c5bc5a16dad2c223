// The batches between the loop and its CommitPipeline. With a helper thread, the loop executes
// the next iteration's commands while the previous batch is written and synced, and batches that
// queue up behind a slow sync are committed together, one write and one sync for all of them
// (DESIGN.md §8: the helper owns no state; the loop hears from it through an ev::async).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/store/commit.h"

namespace desaster {

class CommitQueue {
 public:
  // The outcome of committing the batches up to `lsn` (those after the previous outcome).
  struct Outcome {
    uint64_t lsn = 0;
    bool ok = true;
    std::string error;
    std::vector<Batch> spent;  // the committed batches, handed back for their memory
  };

  // Commits into `pipeline`. With `threaded`, a helper thread runs the commits submitted in the
  // background and calls `wake` after each one, and `quiet` (when set) once no batch has come
  // for 100 ms after a commit: the helper's moment to give back what its last batches took.
  CommitQueue(CommitPipeline* pipeline, bool threaded, std::function<void()> wake,
              std::function<void()> quiet = {});
  // Commits what was submitted, then stops the helper.
  ~CommitQueue();
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // Commits `batch` (LSNs must increase) after everything submitted before it, synced when
  // `sync`. With `background` (and a helper) Submit returns at once; otherwise it returns once the
  // batch is committed, having committed it on the calling thread when nothing was in flight
  // (no hand-over to pay for). Returns whether the helper commits it while the caller goes on.
  bool Submit(Batch batch, bool sync, bool background);
  // The outcomes since the last call, oldest first.
  std::vector<Outcome> TakeOutcomes();
  // Blocks until everything submitted has been committed or has failed. Until the next Submit
  // the pipeline is then idle, and the caller may use it directly.
  void WaitIdle();
  // Batches submitted and not yet committed.
  size_t in_flight() const;

 private:
  void Run();
  void CommitLocked(std::unique_lock<std::mutex>& lock);
  bool IdleLocked() const { return queued_.empty() && committing_ == 0; }

  CommitPipeline* pipeline_;
  std::function<void()> wake_, quiet_;
  mutable std::mutex mu_;
  std::condition_variable work_, idle_;
  std::vector<Batch> queued_;
  bool sync_queued_ = false;  // some queued batch asked for a sync
  size_t committing_ = 0;     // batches the helper is committing now
  std::vector<Outcome> outcomes_;
  bool stopping_ = false;
  std::thread helper_;  // not joinable when inline
};

}  // namespace desaster
