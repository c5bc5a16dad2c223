#include "server/queue/job_table.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <unordered_map>
#include <vector>

using namespace desaster;

namespace {

std::unique_ptr<Job> MakeJob(uint64_t id) {
  auto job = std::make_unique<Job>();
  job->id = id;
  job->payload = std::to_string(id);
  return job;
}

}  // namespace

TEST_CASE("JobTable agrees with a map through random inserts and extracts") {
  std::mt19937_64 rng(7);
  JobTable table;
  std::unordered_map<uint64_t, std::string> model;
  // Ids as the server makes them (a ms clock and a counter), plus colliding low bits.
  uint64_t clock = 0x01a22b0000000000ULL;
  for (int step = 0; step < 200000; step++) {
    int op = static_cast<int>(rng() % 10);
    if (op < 6 || model.empty()) {
      uint64_t id = op == 0 ? (rng() % 64) << 40 : (clock += 1 + rng() % 3);
      if (model.count(id)) continue;
      table.Insert(MakeJob(id));
      model[id] = std::to_string(id);
    } else {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % std::min<size_t>(model.size(), 16)));
      std::unique_ptr<Job> job = table.Extract(it->first);
      REQUIRE(job);
      REQUIRE(job->payload == it->second);
      model.erase(it);
    }
    if (step % 9973 == 0) {
      REQUIRE(table.size() == model.size());
      for (const auto& [id, payload] : model) {
        Job* found = table.Find(id);
        REQUIRE(found);
        REQUIRE(found->payload == payload);
      }
    }
  }
  CHECK(table.Find(42) == nullptr);
  CHECK(table.Extract(42) == nullptr);
  // Draining shrinks the table and everything is still found on the way down.
  while (!model.empty()) {
    auto it = model.begin();
    REQUIRE(table.Extract(it->first)->payload == it->second);
    model.erase(it);
  }
  CHECK(table.size() == 0);
  table.Insert(MakeJob(5));
  CHECK(table.Find(5)->payload == "5");
  table.Clear();
  CHECK(table.Find(5) == nullptr);
}

TEST_CASE("JobTable keeps probe runs longer than its stored distances") {
  // 600 ids with one home at every capacity up to 1024 make one run of 600 slots: most of them
  // sit further from home than a slot's distance byte holds.
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; ids.size() < 600; id++) {
    if (JobTable::HomeOf(id, 1024) == 5) ids.push_back(id);
  }
  JobTable table;
  for (uint64_t id : ids) table.Insert(MakeJob(id));
  std::mt19937_64 rng(11);
  std::shuffle(ids.begin(), ids.end(), rng);
  while (!ids.empty()) {
    for (uint64_t id : ids) REQUIRE(table.Find(id));
    REQUIRE(table.Find(ids.back() + 1) == nullptr);
    REQUIRE(table.Extract(ids.back())->payload == std::to_string(ids.back()));
    REQUIRE(table.Find(ids.back()) == nullptr);
    ids.pop_back();
  }
  CHECK(table.size() == 0);
}

TEST_CASE("JobTable removes many jobs without moving the others at every halving") {
  // Clearing a queue of a million jobs removes them in one go: the table shrinks once, after.
  JobTable now, later;
  for (uint64_t id = 1; id <= 100000; id++) {
    now.Insert(MakeJob(id));
    later.Insert(MakeJob(id));
  }
  size_t full = later.capacity();
  for (uint64_t id = 1; id <= 99000; id++) {
    REQUIRE(now.Extract(id)->id == id);
    REQUIRE(later.Extract(id, JobTable::Shrinking::kLater)->id == id);
  }
  CHECK(later.capacity() == full);
  CHECK(now.capacity() < full / 8);
  for (JobTable* table : {&now, &later}) {
    for (uint64_t id = 99001; id <= 100000; id++) REQUIRE(table->Find(id)->id == id);
    CHECK(table->Find(1) == nullptr);
  }
  later.Shrink();
  CHECK(later.capacity() == now.capacity());
  for (uint64_t id = 99001; id <= 100000; id++) REQUIRE(later.Find(id)->id == id);
  // Emptied, either way it is back to its smallest.
  for (uint64_t id = 99001; id <= 100000; id++) {
    now.Extract(id);
    later.Extract(id, JobTable::Shrinking::kLater);
  }
  later.Shrink();
  CHECK(later.size() == 0);
  CHECK(later.capacity() == now.capacity());
  CHECK(now.capacity() == 16);
}

TEST_CASE("a plain job fits jemalloc's 80-byte size class") {
  // Millions of jobs are queued: a field added to Job should go to its out-of-line extras.
  CHECK(sizeof(Job) <= 80);
  Job job;
  job.set_capability("gpu");
  job.set_capability("");  // empty again: the extras are dropped
  CHECK(job.capability().empty());
  job.set_lease("w1", "p1", 5);
  CHECK(
      (job.lease_owner() == "w1" && job.lease_incarnation() == "p1" && job.lease_until_ms() == 5));
  job.flow = "tenant-1";
  PackedString copy = job.flow;
  CHECK(copy == "tenant-1");
  job.flow = "";
  CHECK((job.flow.empty() && copy.view() == "tenant-1"));
}

TEST_CASE("A round of VisitSlots visits each job once while none come or go") {
  JobTable table;
  for (uint64_t id = 1; id <= 1000; id++) table.Insert(MakeJob(id * 7919));
  std::unordered_map<uint64_t, int> seen;
  size_t cursor = 0, calls = 0;
  do {
    cursor = table.VisitSlots(cursor, 100, [&](Job* job) { seen[job->id]++; });
    calls++;
  } while (cursor != 0);
  REQUIRE(calls == table.capacity() / 100 + (table.capacity() % 100 != 0));
  REQUIRE(seen.size() == 1000);
  for (const auto& [id, n] : seen) REQUIRE(n == 1);
  // A cursor past the end (the table shrank meanwhile) ends the round.
  REQUIRE(table.VisitSlots(table.capacity() + 5, 100, [](Job*) { FAIL("visited"); }) == 0);
}
