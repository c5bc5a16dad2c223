// Pub/sub: channel and pattern subscriptions, PUBLISH, PUBSUB introspection.
#include <algorithm>

#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

using Registry = std::map<std::string, std::vector<Client*>>;

// ["subscribe" | "unsubscribe" | ..., name, subscription count], a push message in RESP3. Like
// every pub/sub push it reaches the client even under CLIENT REPLY OFF or SKIP, as in Redis.
void Confirm(CommandContext& ctx, std::string_view kind, const std::string* name) {
  resp::ReplyWriter push(&ctx.client.output, ctx.client.protocol);
  push.Push(3);
  push.Bulk(kind);
  push.BulkOrNull(name);
  push.Integer(static_cast<long long>(ctx.client.subscriptions()));
}

void SubscribeGeneric(CommandContext& ctx, Registry& registry, std::set<std::string>& mine,
                      std::string_view kind) {
  for (size_t i = 1; i < ctx.args.size(); i++) {
    const std::string& name = ctx.args[i];
    if (mine.insert(name).second) registry[name].push_back(&ctx.client);
    Confirm(ctx, kind, &name);
  }
}

void UnsubscribeGeneric(CommandContext& ctx, Registry& registry, std::set<std::string>& mine,
                        std::string_view kind) {
  std::vector<std::string> names;
  if (ctx.args.size() > 1) {
    names.assign(ctx.args.begin() + 1, ctx.args.end());
  } else {
    names.assign(mine.begin(), mine.end());
  }
  if (names.empty()) return Confirm(ctx, kind, nullptr);
  for (const auto& name : names) {
    if (mine.erase(name)) {
      auto it = registry.find(name);
      if (it != registry.end()) {
        std::erase(it->second, &ctx.client);
        if (it->second.empty()) registry.erase(it);
      }
    }
    Confirm(ctx, kind, &name);
  }
}

void Subscribe(CommandContext& ctx) {
  SubscribeGeneric(ctx, ctx.server.channels, ctx.client.channels, "subscribe");
}
void Unsubscribe(CommandContext& ctx) {
  UnsubscribeGeneric(ctx, ctx.server.channels, ctx.client.channels, "unsubscribe");
}
void PSubscribe(CommandContext& ctx) {
  SubscribeGeneric(ctx, ctx.server.patterns, ctx.client.patterns, "psubscribe");
}
void PUnsubscribe(CommandContext& ctx) {
  UnsubscribeGeneric(ctx, ctx.server.patterns, ctx.client.patterns, "punsubscribe");
}

void Publish(CommandContext& ctx) {
  ctx.reply.Integer(PublishMessage(ctx.server, ctx.args[1], ctx.args[2]));
}

void PubSubChannels(CommandContext& ctx) {
  if (ctx.args.size() > 3) return ctx.SubcommandSyntaxError();
  std::vector<const std::string*> out;
  for (const auto& [name, clients] : ctx.server.channels) {
    if (ctx.args.size() < 3 || GlobMatch(ctx.args[2], name)) out.push_back(&name);
  }
  ctx.reply.Array(out.size());
  for (const auto* n : out) ctx.reply.Bulk(*n);
}

void PubSubNumSub(CommandContext& ctx) {
  ctx.reply.Array((ctx.args.size() - 2) * 2);  // flat, in RESP3 too, as Redis answers
  for (size_t i = 2; i < ctx.args.size(); i++) {
    auto it = ctx.server.channels.find(ctx.args[i]);
    ctx.reply.Bulk(ctx.args[i]);
    ctx.reply.Integer(it == ctx.server.channels.end() ? 0
                                                      : static_cast<long long>(it->second.size()));
  }
}

void PubSubNumPat(CommandContext& ctx) {
  ctx.reply.Integer(static_cast<long long>(ctx.server.patterns.size()));
}

void PubSubHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"CHANNELS [<pattern>]",
                 "    Return the currently active channels matching a <pattern>.", "NUMPAT",
                 "    Return number of subscriptions to patterns.", "NUMSUB [<channel> ...]",
                 "    Return the number of subscribers for the specified channels."});
}

}  // namespace

long long PublishMessage(ServerState& s, const std::string& channel, const std::string& message) {
  long long receivers = 0;
  auto deliver = [&](Client* c, const std::string* pattern) {
    resp::ReplyWriter w(&c->output, c->protocol);
    w.Push(pattern ? 4 : 3);
    w.Bulk(pattern ? "pmessage" : "message");
    if (pattern) w.Bulk(*pattern);
    w.Bulk(channel);
    w.Bulk(message);
    receivers++;
    if (s.on_output) s.on_output(c);
  };
  auto it = s.channels.find(channel);
  if (it != s.channels.end()) {
    for (Client* c : it->second) deliver(c, nullptr);
  }
  for (const auto& [pattern, clients] : s.patterns) {
    if (!GlobMatch(pattern, channel)) continue;
    for (Client* c : clients) deliver(c, &pattern);
  }
  s.stats.pubsub_messages++;
  return receivers;
}

void RegisterPubSubCommands(CommandRegistry* r) {
  using namespace cmd;
  uint32_t sub = kPubSub | kNoScript | kSubscribed | kLoading | kSentinel;
  r->Group("pubsub")
      .Add("subscribe", -2, sub, {}, Subscribe, "Listen to channels")
      .Args("channel...")
      .Add("unsubscribe", -1, sub, {}, Unsubscribe, "Stop listening to channels")
      .Args("[channel...]")
      .Add("psubscribe", -2, sub, {}, PSubscribe, "Listen to channel patterns")
      .Args("pattern:pattern...")
      .Add("punsubscribe", -1, sub, {}, PUnsubscribe, "Stop listening to channel patterns")
      .Args("[pattern:pattern...]")
      .Add("publish", 3, kPubSub | kFast | kLoading | kMayReplicate, {}, Publish,
           "Post a message to a channel")
      .Args("channel message")
      .Add("pubsub", -2, kPubSub, {}, nullptr, "Inspect pub/sub state")
      .Sub("channels", -2, kPubSub, {}, PubSubChannels, "Active channels")
      .Args("[pattern:pattern]")
      .Sub("numsub", -2, kPubSub, {}, PubSubNumSub, "Subscribers per channel")
      .Args("[channel...]")
      .Sub("numpat", 2, kPubSub, {}, PubSubNumPat, "Number of pattern subscriptions")
      .Args("")
      .Sub("help", 2, kLoading, {}, PubSubHelp, "Show help")
      .Args("");
}

}  // namespace desaster
