#include "server/queue/schedule.h"

#include <algorithm>

#include "server/queue/record.h"

namespace desaster {

bool Schedule::Compile(std::string* error) {
  expression = CronExpression::Parse(cron, timezone, error);
  return expression.has_value();
}

void Schedule::Plan() {
  next_run_ms =
      paused || !expression ? 0 : expression->NextAfter(std::max(last_run_ms, created_ms));
}

constexpr char kRecordVersion = 1;

std::string Schedule::Encode() const {
  std::string out(1, kRecordVersion);
  for (const std::string* s : {&cron, &timezone, &queue, &payload, &flow, &capability}) {
    record::PutString(&out, *s);
  }
  record::PutSigned(&out, priority);
  record::PutVarint(&out, paused);
  record::PutSigned(&out, created_ms);
  record::PutSigned(&out, last_run_ms);
  return out;
}

bool Schedule::Decode(std::string_view data, Schedule* out) {
  if (data.empty() || data[0] != kRecordVersion) return false;
  record::Reader r(data.substr(1));
  for (std::string* s :
       {&out->cron, &out->timezone, &out->queue, &out->payload, &out->flow, &out->capability}) {
    *s = r.String();
  }
  out->priority = static_cast<int32_t>(r.Signed());
  out->paused = r.Varint() != 0;
  out->created_ms = r.Signed();
  out->last_run_ms = r.Signed();
  std::string error;
  return r.done() && out->Compile(&error);
}

}  // namespace desaster
