// Keyspace notifications: the classes of key events (the letters of Redis'
// notify-keyspace-events) and how a configuration string maps to them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace desaster {

namespace event {
enum Class : int {
  kKeyspace = 1 << 0,  // K: publish on __keyspace@<db>__:<key>
  kKeyevent = 1 << 1,  // E: publish on __keyevent@<db>__:<event>
  kGeneric = 1 << 2,   // g: DEL, EXPIRE, RENAME, ...
  kString = 1 << 3,    // $
  kList = 1 << 4,      // l
  kSet = 1 << 5,       // s
  kHash = 1 << 6,      // h
  kZSet = 1 << 7,      // z
  kExpired = 1 << 8,   // x: a key's time came
  kEvicted = 1 << 9,   // e: never (desaster evicts nothing)
  kStream = 1 << 10,   // t
  kKeyMiss = 1 << 11,  // m: a read found no key
  kModule = 1 << 12,   // d: never (no modules)
  kNew = 1 << 13,      // n: a key was created
  kAll = kGeneric | kString | kList | kSet | kHash | kZSet | kExpired | kEvicted | kStream |
         kModule,  // A
};
}  // namespace event

// The classes a notify-keyspace-events value selects; nullopt for an unknown letter.
std::optional<int> ParseEventClasses(std::string_view letters);
// The value CONFIG GET shows for `classes`, in Redis' canonical order ("AKE" for all).
std::string EventClassesString(int classes);

}  // namespace desaster
