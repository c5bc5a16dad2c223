// IMPORT.*: the bookkeeping of desaster-migrate's import from a Redis (docs/MIGRATE.md). The
// import state says which source the data follows and up to which replication offset; while
// it is active the server leaves the data to the source (Keyspace::Import). desaster-migrate
// records each offset in the MULTI that applies the commands up to it, so the data and the
// offset are committed together and a resumed run neither repeats nor skips a command.
#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

// IMPORT.START source [OFFSET offset] [RETRY-IMPORTED]: the data is about to follow `source`
// (a replication id) from its snapshot on, or, with OFFSET, already reflects it up to there (a
// source that continued a resumed stream under a new replication id).
void ImportStart(CommandContext& ctx) {
  bool retry = false;
  long long offset = -1;
  for (size_t i = 2; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "RETRY-IMPORTED")) {
      retry = true;
    } else if (ctx.Is(i, "OFFSET") && i + 1 < ctx.args.size()) {
      auto n = ctx.OptionInt(i, 0);
      if (!n) return;
      offset = *n;
      i++;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  const std::string& source = ctx.args[1];
  if (source.empty() || source.size() > 256) {
    return ctx.Error("ERR the source must name what the data follows (1 to 256 bytes)");
  }
  Keyspace::Import import;
  import.finished_ms = ctx.keyspace().import().finished_ms;
  import.active = true;
  import.retry_imported = retry;
  import.source = source;
  import.offset = offset;
  ctx.keyspace().SetImport(std::move(import));
  ctx.reply.Ok();
}

// IMPORT.OFFSET source offset: the data reflects the source up to `offset`.
void ImportOffset(CommandContext& ctx) {
  const Keyspace::Import& current = ctx.keyspace().import();
  if (!current.active) return ctx.Error("ERR no import is active (IMPORT.START begins one)");
  if (ctx.args[1] != current.source) {
    return ctx.Error("ERR the active import follows another source: " + current.source);
  }
  auto offset = ctx.Int(2);
  if (!offset) return;
  if (*offset < current.offset || *offset < 0) {
    return ctx.Error("ERR the offset " + std::to_string(*offset) + " is behind the import's own (" +
                     std::to_string(current.offset) + ")");
  }
  Keyspace::Import import = current;
  import.offset = *offset;
  ctx.keyspace().SetImport(std::move(import));
  ctx.reply.Ok();
}

// IMPORT.FINISH: the cutover is done; the server runs its own work again.
void ImportFinish(CommandContext& ctx) {
  Keyspace::Import import = ctx.keyspace().import();
  if (!import.active) return ctx.Error("ERR no import is active");
  import.active = false;
  import.finished_ms = ctx.now_ms();
  ctx.keyspace().SetImport(std::move(import));
  ctx.reply.Ok();
}

void ImportStatus(CommandContext& ctx) {
  const Keyspace::Import& import = ctx.keyspace().import();
  ctx.reply.Map(5);
  ctx.reply.Bulk("active");
  ctx.reply.Integer(import.active ? 1 : 0);
  ctx.reply.Bulk("source");
  ctx.reply.Bulk(import.source);
  ctx.reply.Bulk("offset");
  ctx.reply.Integer(import.offset);
  ctx.reply.Bulk("retry-imported");
  ctx.reply.Integer(import.retry_imported ? 1 : 0);
  ctx.reply.Bulk("finished");
  ctx.reply.Integer(import.finished_ms);
}

}  // namespace

void RegisterImportCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("import")
      .Add("import.start", -2, kWrite | kAdmin, {}, ImportStart,
           "Begin an import from a Redis: the data follows that source")
      .Args("source [OFFSET offset:integer] [RETRY-IMPORTED]")
      .Add("import.offset", 3, kWrite | kAdmin | kFast, {}, ImportOffset,
           "Record the source's replication offset the data reflects")
      .Args("source offset:integer")
      .Add("import.finish", 1, kWrite | kAdmin, {}, ImportFinish,
           "End the import: the server runs retries, schedules and expiry again")
      .Args("")
      .Add("import.status", 1, kReadOnly | kFast, {}, ImportStatus,
           "The import's source, offset and whether it is active")
      .Args("");
}

}  // namespace desaster
