#include "web/reply_json.h"

#include <string_view>

namespace desaster::web {

namespace {

Shape FieldShape(std::string_view field) {
  if (field == "config" || field == "params" || field == "result" || field == "totals" ||
      field == "master" || field == "total") {
    return Shape::kMap;
  }
  if (field == "jobs" || field == "failures" || field == "history" || field == "nodes" ||
      field == "runs" || field == "series" || field == "buckets") {
    return Shape::kMapList;
  }
  return Shape::kValue;
}

}  // namespace

nlohmann::json ToJson(const redisReply* r, Shape shape) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return r->integer;
    case REDIS_REPLY_NIL:
      return nullptr;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ARRAY:
      break;
    default:
      return nullptr;
  }
  if (shape == Shape::kMap) {
    nlohmann::json out = nlohmann::json::object();
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      std::string key = r->element[i]->type == REDIS_REPLY_STRING
                            ? std::string(r->element[i]->str, r->element[i]->len)
                            : ToJson(r->element[i], Shape::kValue).dump();
      out[key] = ToJson(r->element[i + 1], FieldShape(key));
    }
    return out;
  }
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < r->elements; i++) {
    out.push_back(ToJson(r->element[i], shape == Shape::kMapList ? Shape::kMap : Shape::kValue));
  }
  return out;
}

}  // namespace desaster::web
