// A text picture of every queue of a keyspace (configuration, ready jobs in dispatch order,
// scheduled jobs), so tests can compare two keyspaces' queues exactly.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "server/data/keyspace.h"

namespace desaster {

inline std::string DescribeJob(const Job& j) {
  return FormatJobId(j.id) + "{" + j.payload.str() + "|p" + std::to_string(j.priority) + "|f" +
         j.flow.str() + "|c" + j.capability() + "|u" + j.unique_key() + "|a" +
         std::to_string(j.attempts) + "|o" + std::to_string(j.order) + "|r" +
         std::to_string(j.run_at_ms) + "}";
}

// Round-robin disciplines restart their turn after a reload; each flow keeps its order. This
// switches every queue to fifo (ready jobs then line up by their order values) so two keyspaces
// can be compared exactly. It records mutations: call it at the end of a test.
inline void CanonicalizeQueues(Keyspace& ks) {
  for (int i = 0; i < ks.databases(); i++) {
    for (const auto& [key, q] : ks.db(i).queues()) {
      QueueConfig c = q->config();
      c.discipline = "fifo";
      c.params.clear();
      std::string error;
      ks.db(i).ConfigureQueue(q.get(), c, &error);
    }
  }
}

inline std::string DescribeQueues(Keyspace& ks) {
  std::string out;
  for (int i = 0; i < ks.databases(); i++) {
    for (const auto& [key, q] : ks.db(i).queues()) {
      out += std::to_string(i) + "/" + key + " " + q->config().Encode() + "ready:";
      q->discipline().ForEachInOrder([&](Job* j) {
        out += " " + DescribeJob(*j);
        return true;
      });
      out += "\nscheduled:";
      ks.db(i).ForEachScheduled(q.get(), [&](Job* j) {
        out += " " + DescribeJob(*j);
        return true;
      });
      out += "\n";
    }
  }
  return out;
}

}  // namespace desaster
