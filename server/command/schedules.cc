// SCHEDULE.*: recurring jobs. A schedule pushes its payload into its queue each time its cron
// expression fires (in its time zone); it survives restarts, and a run missed while the server
// was down happens once at start.
#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

const Schedule* ScheduleArg(CommandContext& ctx) {
  auto it = ctx.db().schedules().find(ctx.args[1]);
  if (it != ctx.db().schedules().end()) return &it->second;
  ctx.Error("ERR no such schedule '" + ctx.args[1] + "'");
  return nullptr;
}

void ScheduleSet(CommandContext& ctx) {
  Schedule s;
  s.name = ctx.args[1];
  const auto& a = ctx.args;
  if ((a.size() - 2) % 2) return ctx.Error(err::kSyntax);
  for (size_t i = 2; i + 1 < a.size(); i += 2) {
    const std::string& v = a[i + 1];
    if (ctx.Is(i, "CRON")) {
      s.cron = v;
    } else if (ctx.Is(i, "QUEUE")) {
      s.queue = v;
    } else if (ctx.Is(i, "PAYLOAD")) {
      s.payload = v;
    } else if (ctx.Is(i, "TZ")) {
      s.timezone = v;
    } else if (ctx.Is(i, "FLOW")) {
      s.flow = v;
    } else if (ctx.Is(i, "CAPABILITY")) {
      s.capability = v;
    } else if (ctx.Is(i, "PRIORITY")) {
      long long p;
      if (!ParseInt64(v, &p) || p < INT32_MIN || p > INT32_MAX) {
        return ctx.Error("ERR PRIORITY must be a 32-bit integer");
      }
      s.priority = static_cast<int32_t>(p);
    } else if (ctx.Is(i, "PAUSED")) {
      if (!ctx.Is(i + 1, "YES") && !ctx.Is(i + 1, "NO")) {
        return ctx.Error("ERR PAUSED must be YES or NO");
      }
      s.paused = ctx.Is(i + 1, "YES");
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  if (s.cron.empty() || s.queue.empty()) {
    return ctx.Error("ERR SCHEDULE.SET needs CRON expr and QUEUE key");
  }
  std::string error;
  if (!ctx.db().SetSchedule(std::move(s), &error)) return ctx.Error("ERR " + error);
  ctx.reply.Ok();
}

void ScheduleInfo(CommandContext& ctx) {
  const Schedule* s = ScheduleArg(ctx);
  if (!s) return;
  auto& r = ctx.reply;
  r.Map(11);
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"name", &s->name},
                             {"cron", &s->cron},
                             {"tz", &s->timezone},
                             {"queue", &s->queue},
                             {"payload", &s->payload},
                             {"flow", &s->flow},
                             {"capability", &s->capability}}) {
    r.Field(name, *value);
  }
  r.Field("priority", s->priority);
  r.Field("paused", s->paused);
  r.FieldOrNull("next_run_at", s->next_run_ms);
  r.FieldOrNull("last_run_at", s->last_run_ms);
}

void ScheduleList(CommandContext& ctx) {
  ctx.reply.Array(ctx.db().schedules().size());
  for (const auto& [name, s] : ctx.db().schedules()) ctx.reply.Bulk(name);
}

void ScheduleDelete(CommandContext& ctx) {
  ctx.reply.Integer(ctx.db().DeleteSchedule(ctx.args[1]) ? 1 : 0);
}

// Runs a schedule's job now, outside its plan.
void ScheduleRun(CommandContext& ctx) {
  const Schedule* s = ScheduleArg(ctx);
  if (!s) return;
  Job* job = ctx.db().RunSchedule(*s);
  if (!job && ctx.db().Find(s->queue) && ctx.db().Find(s->queue)->type() != ValueType::kQueue) {
    return ctx.Error("ERR the schedule's queue key '" + s->queue + "' holds another type");
  }
  job ? ctx.reply.Bulk(FormatJobId(job->id)) : ctx.reply.NullBulk();
}

}  // namespace

void RegisterScheduleCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("schedule")
      .Add("schedule.set", -6, kWrite | kDenyOom, {}, ScheduleSet,
           "Create or replace a recurring job")
      .Args(
          "name CRON cron QUEUE queue:key [PAYLOAD payload] [TZ zone] [PRIORITY priority:integer] "
          "[FLOW flow] [CAPABILITY capability] [PAUSED (YES|NO)]")
      .Keys("RW INSERT")
      .Add("schedule.info", 2, kReadOnly, {}, ScheduleInfo, "A schedule with its next and last run")
      .Args("name")
      .Add("schedule.list", 1, kReadOnly, {}, ScheduleList, "Schedule names")
      .Args("")
      .Add("schedule.delete", 2, kWrite, {}, ScheduleDelete, "Delete a schedule")
      .Args("name")
      .Add("schedule.run", 2, kWrite, {}, ScheduleRun, "Push a schedule's job now")
      .Args("name");
}

}  // namespace desaster
