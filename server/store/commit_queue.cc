#include "server/store/commit_queue.h"

#include <chrono>
#include <utility>

namespace desaster {

CommitQueue::CommitQueue(CommitPipeline* pipeline, bool threaded, std::function<void()> wake,
                         std::function<void()> quiet)
    : pipeline_(pipeline), wake_(std::move(wake)), quiet_(std::move(quiet)) {
  if (threaded) helper_ = std::thread([this] { Run(); });
}

CommitQueue::~CommitQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_one();
  if (helper_.joinable()) helper_.join();
}

bool CommitQueue::Submit(Batch batch, bool sync, bool background) {
  std::unique_lock lock(mu_);
  bool idle = IdleLocked();
  queued_.push_back(std::move(batch));
  sync_queued_ = sync_queued_ || sync;
  if (helper_.joinable() && (background || !idle)) {
    work_.notify_one();
    if (!background) idle_.wait(lock, [this] { return IdleLocked(); });
    return background;
  }
  CommitLocked(lock);
  return false;
}

void CommitQueue::CommitLocked(std::unique_lock<std::mutex>& lock) {
  std::vector<Batch> batches = std::exchange(queued_, {});
  bool sync = std::exchange(sync_queued_, false);
  committing_ = batches.size();
  lock.unlock();
  Outcome outcome;
  outcome.lsn = batches.back().lsn;
  outcome.ok = pipeline_->Commit(batches, sync, &outcome.error);
  outcome.spent = std::move(batches);
  lock.lock();
  committing_ = 0;
  outcomes_.push_back(std::move(outcome));
  idle_.notify_all();
}

void CommitQueue::Run() {
  // A pause between the batches of one burst is far shorter.
  constexpr auto kQuiet = std::chrono::milliseconds(100);
  auto has_work = [this] { return stopping_ || !queued_.empty(); };
  std::unique_lock lock(mu_);
  bool told_quiet = true;  // nothing committed yet
  while (true) {
    if (!told_quiet && !work_.wait_for(lock, kQuiet, has_work)) {
      lock.unlock();
      if (quiet_) quiet_();
      lock.lock();
      told_quiet = true;
    }
    work_.wait(lock, has_work);
    if (queued_.empty()) return;  // stopping, and everything is committed
    CommitLocked(lock);
    told_quiet = false;
    lock.unlock();
    wake_();
    lock.lock();
  }
}

std::vector<CommitQueue::Outcome> CommitQueue::TakeOutcomes() {
  std::lock_guard lock(mu_);
  return std::exchange(outcomes_, {});
}

void CommitQueue::WaitIdle() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return IdleLocked(); });
}

size_t CommitQueue::in_flight() const {
  std::lock_guard lock(mu_);
  return queued_.size() + committing_;
}

}  // namespace desaster
