// Geo commands: points kept in a sorted set whose score is a 52-bit geohash (26 bits each of
// longitude and latitude, interleaved) over Web Mercator's latitude range, encoded exactly as
// Redis encodes them. A key therefore moves between desaster and Redis unchanged (DUMP/RESTORE,
// desaster-migrate), and a search visits the same cells in the same order as Redis', so even
// unsorted results and ANY answer what Redis answers.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <optional>

#include "server/command/context.h"
#include "server/command/registry.h"
#include "server/command/zsets.h"

namespace desaster {
namespace {

constexpr double kLonMin = -180, kLonMax = 180;
constexpr double kLatMin = -85.05112878, kLatMax = 85.05112878;
constexpr int kScoreStep = 26;                   // bits per coordinate in a score
constexpr double kEarthRadius = 6372797.560856;  // metres, the mean radius Redis uses
constexpr double kMercatorMax = 20037726.37;     // metres from the map's centre to its edge
constexpr double kRadiansPerDegree = M_PI / 180;

struct Range {
  double min, max;
};
constexpr Range kLonRange{kLonMin, kLonMax}, kLatRange{kLatMin, kLatMax};

// A cell of the grid that halves both coordinate ranges `step` times: latitude's bits at the
// even positions of `bits`, longitude's at the odd ones. {0, 0} is no cell.
struct Cell {
  uint64_t bits = 0;
  int step = 0;
  bool none() const { return bits == 0 && step == 0; }
  bool operator==(const Cell&) const = default;
};

struct Area {
  Range lon, lat;
};

// The bits of `v` spread to the even positions of a 64-bit word, and back.
uint64_t Spread(uint32_t v) {
  uint64_t x = v;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x << 2)) & 0x3333333333333333ULL;
  return (x | (x << 1)) & 0x5555555555555555ULL;
}
uint32_t Gather(uint64_t x) {
  x &= 0x5555555555555555ULL;
  x = (x | (x >> 1)) & 0x3333333333333333ULL;
  x = (x | (x >> 2)) & 0x0F0F0F0F0F0F0F0FULL;
  x = (x | (x >> 4)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x >> 8)) & 0x0000FFFF0000FFFFULL;
  return static_cast<uint32_t>((x | (x >> 16)) & 0xFFFFFFFFULL);
}

// The cell holding the point, over the given ranges. The point is within the Mercator limits
// (callers check); a coordinate at the very top of its range lands one past the last cell, as
// in Redis.
Cell Encode(double lon, double lat, int step, Range lon_range = kLonRange,
            Range lat_range = kLatRange) {
  double lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
  double lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min);
  lat_offset *= static_cast<double>(1ULL << step);
  lon_offset *= static_cast<double>(1ULL << step);
  auto lat_bits = static_cast<uint32_t>(lat_offset), lon_bits = static_cast<uint32_t>(lon_offset);
  return {Spread(lat_bits) | (Spread(lon_bits) << 1), step};
}

Area Decode(Cell c) {
  uint32_t lat = Gather(c.bits), lon = Gather(c.bits >> 1);
  const double cells = static_cast<double>(1ULL << c.step);
  auto edge = [&](Range r, uint32_t i) { return r.min + (i * 1.0 / cells) * (r.max - r.min); };
  // i + 1 wraps in 32 bits as in Redis: a score no GEOADD wrote decodes as it does there.
  return {{edge(kLonRange, lon), edge(kLonRange, static_cast<uint32_t>(lon + 1))},
          {edge(kLatRange, lat), edge(kLatRange, static_cast<uint32_t>(lat + 1))}};
}

struct Point {
  double lon, lat;
};

Point Centre(const Area& a) {
  return {std::clamp((a.lon.min + a.lon.max) / 2, kLonMin, kLonMax),
          std::clamp((a.lat.min + a.lat.max) / 2, kLatMin, kLatMax)};
}

// The score converted to the integer Redis reads it as: a C cast, which x86-64 performs as
// below for the scores outside uint64_t's range that a ZADD may have given a member.
uint64_t ScoreBits(double score) {
  auto truncate = [](double x) -> uint64_t {
    return x >= -0x1p63 && x < 0x1p63 ? static_cast<uint64_t>(static_cast<int64_t>(x))
                                      : uint64_t{1} << 63;
  };
  return score < 0x1p63 ? truncate(score) : truncate(score - 0x1p63) ^ (uint64_t{1} << 63);
}

Point PointOf(double score) { return Centre(Decode({ScoreBits(score), kScoreStep})); }

double ScoreOf(Cell c) { return static_cast<double>(c.bits << (52 - c.step * 2)); }

// Great-circle distances in metres (haversine), as Redis computes them.
double LatDistance(double lat1, double lat2) {
  return kEarthRadius * std::fabs(lat2 * kRadiansPerDegree - lat1 * kRadiansPerDegree);
}
double Distance(Point a, Point b) {
  double v = std::sin((b.lon * kRadiansPerDegree - a.lon * kRadiansPerDegree) / 2);
  if (v == 0.0) return LatDistance(a.lat, b.lat);
  double lat1 = a.lat * kRadiansPerDegree, lat2 = b.lat * kRadiansPerDegree;
  double u = std::sin((lat2 - lat1) / 2);
  double h = u * u + std::cos(lat1) * std::cos(lat2) * v * v;
  return 2.0 * kEarthRadius * std::asin(std::sqrt(h));
}

// The neighbouring cell `d` (+1 or -1) steps along longitude (odd bits) or latitude (even
// bits): the other coordinate's bits are filled with ones so that the carry crosses them.
Cell Move(Cell c, int d, bool along_lon) {
  if (d == 0) return c;  // as is: a centre outside the grid keeps its extra bits
  const uint64_t mine_all = along_lon ? 0xAAAAAAAAAAAAAAAAULL : 0x5555555555555555ULL;
  const uint64_t others_all = ~mine_all;
  uint64_t mine = c.bits & mine_all, others = c.bits & others_all;
  const uint64_t fill = others_all >> (64 - c.step * 2);
  if (d > 0) {
    mine += fill + 1;
  } else {
    mine = (mine | fill) - (fill + 1);
  }
  mine &= mine_all >> (64 - c.step * 2);
  return {mine | others, c.step};
}
Cell Move(Cell c, int east, int north) { return Move(Move(c, east, true), north, false); }

// What a search covers, around a centre, in `unit`s (metres per unit).
struct Shape {
  Point centre{0, 0};
  bool box = false;
  double radius = 0, width = 0, height = 0;
  double unit = 1;
};

// Whether the point lies in the shape; its distance from the centre in metres.
bool Within(const Shape& s, Point p, double* distance) {
  if (!s.box) {
    *distance = Distance(s.centre, p);
    return *distance <= s.radius * s.unit;
  }
  if (LatDistance(p.lat, s.centre.lat) > s.height * s.unit / 2) return false;
  if (Distance({p.lon, p.lat}, {s.centre.lon, p.lat}) > s.width * s.unit / 2) return false;
  *distance = Distance(s.centre, p);
  return true;
}

// The cell size (step) whose neighbourhood covers `metres` around a point at `lat`.
int StepFor(double metres, double lat) {
  if (metres == 0) return kScoreStep;
  int step = 1;
  while (metres < kMercatorMax) {
    metres *= 2;
    step++;
  }
  step -= 2;
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  return std::clamp(step, 1, kScoreStep);
}

// The cells a search visits, in Redis' order: the centre's cell, then N, S, E, W, NE, NW, SE,
// SW; neighbours the shape's bounding box does not reach are none().
std::array<Cell, 9> CellsToSearch(const Shape& s) {
  double half_height = s.unit * (s.box ? s.height / 2 : s.radius);
  double half_width = s.unit * (s.box ? s.width / 2 : s.radius);
  const Point c = s.centre;
  double lat_delta = half_height / kEarthRadius / kRadiansPerDegree;
  double lon_delta_top = half_width / kEarthRadius /
                         std::cos((c.lat + lat_delta) * kRadiansPerDegree) / kRadiansPerDegree;
  double lon_delta_bottom = half_width / kEarthRadius /
                            std::cos((c.lat - lat_delta) * kRadiansPerDegree) / kRadiansPerDegree;
  // The box's wider edge is the one nearer the equator.
  double lon_delta = c.lat < 0 ? lon_delta_bottom : lon_delta_top;
  Area bounds{{c.lon - lon_delta, c.lon + lon_delta}, {c.lat - lat_delta, c.lat + lat_delta}};

  double metres =
      s.box ? std::sqrt(s.width / 2 * (s.width / 2) + s.height / 2 * (s.height / 2)) : s.radius;
  int step = StepFor(metres * s.unit, c.lat);
  auto around = [&](Cell centre) {
    return std::array<Cell, 9>{centre,
                               Move(centre, 0, 1),
                               Move(centre, 0, -1),
                               Move(centre, 1, 0),
                               Move(centre, -1, 0),
                               Move(centre, 1, 1),
                               Move(centre, -1, 1),
                               Move(centre, 1, -1),
                               Move(centre, -1, -1)};
  };
  auto cells = around(Encode(c.lon, c.lat, step));
  // Near a cell's edge the neighbours may not reach across the whole box: one step coarser.
  bool too_small =
      Decode(cells[1]).lat.max < bounds.lat.max || Decode(cells[2]).lat.min > bounds.lat.min ||
      Decode(cells[3]).lon.max < bounds.lon.max || Decode(cells[4]).lon.min > bounds.lon.min;
  if (step > 1 && too_small) cells = around(Encode(c.lon, c.lat, --step));
  if (step >= 2) {
    Area centre = Decode(cells[0]);
    auto drop = [&](std::initializer_list<int> which) {
      for (int i : which) cells[static_cast<size_t>(i)] = {};
    };
    if (centre.lat.min < bounds.lat.min) drop({2, 7, 8});
    if (centre.lat.max > bounds.lat.max) drop({1, 5, 6});
    if (centre.lon.min < bounds.lon.min) drop({4, 6, 8});
    if (centre.lon.max > bounds.lon.max) drop({3, 7, 5});
  }
  return cells;
}

struct Found {
  std::string_view member;
  double score, distance;  // distance in metres
  Point point;
};

// The members within the shape, cell by cell in CellsToSearch's order (each cell in score
// order), stopping at `limit` (0: all).
std::vector<Found> FindWithin(const ZSet& z, const Shape& s, size_t limit) {
  std::vector<Found> found;
  auto full = [&] { return limit != 0 && found.size() >= limit; };
  auto cells = CellsToSearch(s);
  size_t last = 0;  // the last cell searched, if not the first (as Redis compares)
  for (size_t i = 0; i < cells.size(); i++) {
    if (cells[i].none()) continue;
    // Huge radii make neighbours coincide; a cell equal to the one just searched is skipped.
    if (last != 0 && cells[i] == cells[last]) continue;
    if (!found.empty() && full()) break;
    double min = ScoreOf(cells[i]), max = ScoreOf({cells[i].bits + 1, cells[i].step});
    for (auto it = z.FirstAtOrAfter(min, false); it != z.end() && it->first < max; ++it) {
      Point p = PointOf(it->first);
      double distance;
      if (Within(s, p, &distance)) found.push_back({it->second, it->first, distance, p});
      if (full()) break;
    }
    last = i;
  }
  return found;
}

// Metres per unit; replies the error for an unknown unit.
std::optional<double> UnitAt(CommandContext& ctx, size_t i) {
  if (ctx.Is(i, "M")) return 1;
  if (ctx.Is(i, "KM")) return 1000;
  if (ctx.Is(i, "FT")) return 0.3048;
  if (ctx.Is(i, "MI")) return 1609.34;
  ctx.Error("ERR unsupported unit provided. please use M, KM, FT, MI");
  return std::nullopt;
}

// A longitude and latitude at args[i], args[i + 1]; replies the error.
std::optional<Point> PointAt(CommandContext& ctx, size_t i) {
  auto lon = ctx.Double(i);
  if (!lon) return std::nullopt;
  auto lat = ctx.Double(i + 1);
  if (!lat) return std::nullopt;
  if (*lon < kLonMin || *lon > kLonMax || *lat < kLatMin || *lat > kLatMax) {
    char buf[700];
    snprintf(buf, sizeof(buf), "ERR invalid longitude,latitude pair %f,%f", *lon, *lat);
    ctx.Error(buf);
    return std::nullopt;
  }
  return Point{*lon, *lat};
}

// The point of a member; replies the error when it has none.
std::optional<Point> MemberPoint(CommandContext& ctx, const ZSet& z, std::string_view member) {
  const double* score = z.Score(member);
  if (!score) {
    ctx.Error("ERR could not decode requested zset member");
    return std::nullopt;
  }
  return PointOf(*score);
}

// "radius unit" at args[i]; replies the error.
bool ParseRadius(CommandContext& ctx, size_t i, Shape* s) {
  auto radius = ctx.Double(i, "ERR need numeric radius");
  if (!radius) return false;
  if (*radius < 0) {
    ctx.Error("ERR radius cannot be negative");
    return false;
  }
  auto unit = UnitAt(ctx, i + 1);
  if (!unit) return false;
  s->box = false;
  s->radius = *radius;
  s->unit = *unit;
  return true;
}

// "width height unit" at args[i]; replies the error.
bool ParseBox(CommandContext& ctx, size_t i, Shape* s) {
  auto width = ctx.Double(i, "ERR need numeric width");
  if (!width) return false;
  auto height = ctx.Double(i + 1, "ERR need numeric height");
  if (!height) return false;
  if (*width < 0 || *height < 0) {
    ctx.Error("ERR height or width cannot be negative");
    return false;
  }
  auto unit = UnitAt(ctx, i + 2);
  if (!unit) return false;
  s->box = true;
  s->width = *width;
  s->height = *height;
  s->unit = *unit;
  return true;
}

// Distances as Redis prints them: rounded to four decimals.
std::string FormatDistance(double d) {
  long long v = llrint(d * 10000);
  char buf[64];
  snprintf(buf, sizeof(buf), "%lld.%04lld", v / 10000, v % 10000);
  return buf;
}

void ReplyPoint(CommandContext& ctx, Point p) {
  ctx.reply.Array(2);
  ctx.reply.DoubleText(FormatLongDouble(p.lon));
  ctx.reply.DoubleText(FormatLongDouble(p.lat));
}

// ---- commands ----

void GeoAdd(CommandContext& ctx) {
  ZAddOptions o;
  size_t i = ParseZAddOptions(ctx, &o, false);
  size_t rest = ctx.args.size() - i;
  if (rest == 0 || rest % 3 != 0 || (o.xx && o.nx)) return ctx.Error(err::kSyntax);
  std::vector<std::pair<double, std::string_view>> items;
  for (; i < ctx.args.size(); i += 3) {
    auto p = PointAt(ctx, i);
    if (!p) return;
    items.emplace_back(ScoreOf(Encode(p->lon, p->lat, kScoreStep)), ctx.args[i + 2]);
  }
  ZAddMembers(ctx, ctx.args[1], o, items);
}

void GeoHash(CommandContext& ctx) {
  static constexpr char kAlphabet[] = "0123456789bcdefghjkmnpqrstuvwxyz";
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    const double* score = z ? z->Score(ctx.args[i]) : nullptr;
    if (!score) {
      ctx.reply.NullBulk();
      continue;
    }
    // The standard geohash covers latitudes -90..90, not Mercator's: re-encode the point.
    Point p = PointOf(*score);
    Cell c = Encode(p.lon, p.lat, kScoreStep, {-180, 180}, {-90, 90});
    char hash[11];
    for (int k = 0; k < 10; k++) hash[k] = kAlphabet[(c.bits >> (52 - (k + 1) * 5)) & 0x1f];
    hash[10] = '0';  // 52 bits fill ten characters; the eleventh is always 0, as in Redis
    ctx.reply.Bulk(std::string_view(hash, sizeof(hash)));
  }
}

void GeoPos(CommandContext& ctx) {
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  ctx.reply.Array(ctx.args.size() - 2);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    const double* score = z ? z->Score(ctx.args[i]) : nullptr;
    score ? ReplyPoint(ctx, PointOf(*score)) : ctx.reply.NullArray();
  }
}

void GeoDist(CommandContext& ctx) {
  double unit = 1;
  if (ctx.args.size() == 5) {
    auto u = UnitAt(ctx, 4);
    if (!u) return;
    unit = *u;
  } else if (ctx.args.size() > 5) {
    return ctx.Error(err::kSyntax);
  }
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const double* a = z ? z->Score(ctx.args[2]) : nullptr;
  const double* b = z ? z->Score(ctx.args[3]) : nullptr;
  if (!a || !b) return ctx.reply.NullBulk();
  ctx.reply.Bulk(FormatDistance(Distance(PointOf(*a), PointOf(*b)) / unit));
}

// The search commands, which differ in where the centre and shape come from and whether they
// store their result.
enum class Search {
  kRadius,            // GEORADIUS key lon lat radius unit [options] [STORE|STOREDIST key]
  kRadiusReadOnly,    // GEORADIUS_RO
  kByMember,          // GEORADIUSBYMEMBER key member radius unit [options] [STORE...]
  kByMemberReadOnly,  // GEORADIUSBYMEMBER_RO
  kSearch,            // GEOSEARCH key FROMMEMBER|FROMLONLAT BYRADIUS|BYBOX [options]
  kSearchStore,       // GEOSEARCHSTORE dst src ... [STOREDIST]
};

void SearchGeneric(CommandContext& ctx, Search kind) {
  const bool search = kind == Search::kSearch || kind == Search::kSearchStore;
  const bool may_store = kind == Search::kRadius || kind == Search::kByMember;
  bool wrong;
  const ZSet* z = ZSetAt(ctx, ctx.args[kind == Search::kSearchStore ? 2 : 1], &wrong);
  if (wrong) return;
  Shape shape;
  size_t i;  // the first option
  const std::string* store = kind == Search::kSearchStore ? &ctx.args[1] : nullptr;
  if (kind == Search::kRadius || kind == Search::kRadiusReadOnly) {
    auto centre = PointAt(ctx, 2);
    if (!centre || !ParseRadius(ctx, 4, &shape)) return;
    shape.centre = *centre;
    i = 6;
  } else if (!search) {
    // Without the key, Redis reads neither member nor radius: the reply is empty anyway.
    if (z) {
      auto centre = MemberPoint(ctx, *z, ctx.args[2]);
      if (!centre || !ParseRadius(ctx, 3, &shape)) return;
      shape.centre = *centre;
    }
    i = 5;
  } else {
    i = store ? 3 : 2;
  }
  bool with_dist = false, with_hash = false, with_coord = false, any = false, store_dist = false;
  bool from_member = false, from_lonlat = false, by_radius = false, by_box = false;
  enum { kUnsorted, kAscending, kDescending } order = kUnsorted;
  long long count = 0;
  const size_t argc = ctx.args.size();
  for (; i < argc; i++) {
    auto more = [&](size_t n) { return i + n < argc; };  // n arguments follow args[i]
    if (ctx.Is(i, "WITHDIST")) {
      with_dist = true;
    } else if (ctx.Is(i, "WITHHASH")) {
      with_hash = true;
    } else if (ctx.Is(i, "WITHCOORD")) {
      with_coord = true;
    } else if (ctx.Is(i, "ANY")) {
      any = true;
    } else if (ctx.Is(i, "ASC")) {
      order = kAscending;
    } else if (ctx.Is(i, "DESC")) {
      order = kDescending;
    } else if (ctx.Is(i, "COUNT") && more(1)) {
      auto n = ctx.Int(++i);
      if (!n) return;
      if (*n <= 0) return ctx.Error("ERR COUNT must be > 0");
      count = *n;
    } else if ((ctx.Is(i, "STORE") || ctx.Is(i, "STOREDIST")) && more(1) && may_store) {
      store_dist = ctx.Is(i, "STOREDIST");
      store = &ctx.args[++i];
    } else if (ctx.Is(i, "STOREDIST") && kind == Search::kSearchStore) {
      store_dist = true;
    } else if (ctx.Is(i, "FROMMEMBER") && more(1) && search && !from_lonlat) {
      from_member = true;
      i++;
      if (!z) continue;
      auto centre = MemberPoint(ctx, *z, ctx.args[i]);
      if (!centre) return;
      shape.centre = *centre;
    } else if (ctx.Is(i, "FROMLONLAT") && more(2) && search && !from_member) {
      auto centre = PointAt(ctx, i + 1);
      if (!centre) return;
      shape.centre = *centre;
      from_lonlat = true;
      i += 2;
    } else if (ctx.Is(i, "BYRADIUS") && more(2) && search && !by_box) {
      if (!ParseRadius(ctx, i + 1, &shape)) return;
      by_radius = true;
      i += 2;
    } else if (ctx.Is(i, "BYBOX") && more(3) && search && !by_radius) {
      if (!ParseBox(ctx, i + 1, &shape)) return;
      by_box = true;
      i += 3;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  if (store && (with_dist || with_hash || with_coord)) {
    return ctx.Error(std::string("ERR ") +
                     (search ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS") +
                     " is not compatible with WITHDIST, WITHHASH and WITHCOORD options");
  }
  if (search && !from_member && !from_lonlat) {
    return ctx.Error("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for " +
                     ctx.args[0]);
  }
  if (search && !by_radius && !by_box) {
    return ctx.Error("ERR exactly one of BYRADIUS and BYBOX can be specified for " + ctx.args[0]);
  }
  if (any && count == 0) return ctx.Error("ERR the ANY argument requires COUNT argument");

  std::vector<Found> found;
  if (z) {
    // The nearest COUNT are wanted, unless ANY COUNT is.
    if (count != 0 && order == kUnsorted && !any) order = kAscending;
    found = FindWithin(*z, shape, any ? static_cast<size_t>(count) : 0);
    if (order != kUnsorted) {
      std::stable_sort(found.begin(), found.end(), [&](const Found& a, const Found& b) {
        return order == kAscending ? a.distance < b.distance : a.distance > b.distance;
      });
    }
    if (count != 0 && found.size() > static_cast<size_t>(count)) {
      found.resize(static_cast<size_t>(count));
    }
  }
  if (store) {
    std::vector<std::pair<std::string, double>> items;
    for (const Found& f : found) {
      items.emplace_back(f.member, store_dist ? f.distance / shape.unit : f.score);
    }
    ctx.StoreResult(event::kZSet, search ? "geosearchstore" : "georadiusstore", *store,
                    items.empty(), [&] {
                      for (const auto& [member, score] : items)
                        ctx.db().ZAdd(*store, member, score);
                    });
    return ctx.reply.Integer(static_cast<long long>(items.size()));
  }
  size_t extras = (with_dist ? 1 : 0) + (with_hash ? 1 : 0) + (with_coord ? 1 : 0);
  ctx.reply.Array(found.size());
  for (const Found& f : found) {
    if (extras) ctx.reply.Array(extras + 1);
    ctx.reply.Bulk(f.member);
    if (with_dist) ctx.reply.Bulk(FormatDistance(f.distance / shape.unit));
    if (with_hash) ctx.reply.Integer(static_cast<long long>(ScoreBits(f.score)));
    if (with_coord) ReplyPoint(ctx, f.point);
  }
}

void GeoRadius(CommandContext& ctx) { SearchGeneric(ctx, Search::kRadius); }
void GeoRadiusRo(CommandContext& ctx) { SearchGeneric(ctx, Search::kRadiusReadOnly); }
void GeoRadiusByMember(CommandContext& ctx) { SearchGeneric(ctx, Search::kByMember); }
void GeoRadiusByMemberRo(CommandContext& ctx) { SearchGeneric(ctx, Search::kByMemberReadOnly); }
void GeoSearch(CommandContext& ctx) { SearchGeneric(ctx, Search::kSearch); }
void GeoSearchStore(CommandContext& ctx) { SearchGeneric(ctx, Search::kSearchStore); }

}  // namespace

void RegisterGeoCommands(CommandRegistry* r) {
  using namespace cmd;
  constexpr const char* kRadiusOptions =
      "[WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count:integer [ANY]] [ASC|DESC]";
  const std::string radius =
      std::string(kRadiusOptions) + " [STORE storekey:key|STOREDIST storedistkey:key]";
  const std::string search_shape =
      "(FROMMEMBER member|FROMLONLAT longitude:double latitude:double) "
      "(BYRADIUS radius:double (M|KM|FT|MI)|BYBOX width:double height:double (M|KM|FT|MI)) "
      "[ASC|DESC] [COUNT count:integer [ANY]]";
  r->Group("geo")
      .Add("geoadd", -5, kWrite | kDenyOom, {1, 1, 1}, GeoAdd,
           "Add members at longitude and latitude")
      .Args("key [NX|XX] [CH] (longitude:double latitude:double member)...")
      .Keys("RW UPDATE")
      .Add("geohash", -2, kReadOnly, {1, 1, 1}, GeoHash, "Members' standard geohash strings")
      .Args("key [member...]")
      .Add("geopos", -2, kReadOnly, {1, 1, 1}, GeoPos, "Members' longitude and latitude")
      .Args("key [member...]")
      .Add("geodist", -4, kReadOnly, {1, 1, 1}, GeoDist, "Distance between two members")
      .Args("key member1 member2 [M|KM|FT|MI]")
      .Add("georadius", -6, kWrite | kDenyOom, {1, 1, 1}, GeoRadius,
           "Members within a radius of a point")
      .Args("key longitude:double latitude:double radius:double (M|KM|FT|MI) " + radius)
      .Keys("RO ACCESS | OW UPDATE | OW UPDATE")
      .Add("georadius_ro", -6, kReadOnly, {1, 1, 1}, GeoRadiusRo, "GEORADIUS without STORE")
      .Args(std::string("key longitude:double latitude:double radius:double (M|KM|FT|MI) ") +
            kRadiusOptions)
      .Add("georadiusbymember", -5, kWrite | kDenyOom, {1, 1, 1}, GeoRadiusByMember,
           "Members within a radius of a member")
      .Args("key member radius:double (M|KM|FT|MI) " + radius)
      .Keys("RO ACCESS | OW UPDATE | OW UPDATE")
      .Add("georadiusbymember_ro", -5, kReadOnly, {1, 1, 1}, GeoRadiusByMemberRo,
           "GEORADIUSBYMEMBER without STORE")
      .Args(std::string("key member radius:double (M|KM|FT|MI) ") + kRadiusOptions)
      .Add("geosearch", -7, kReadOnly, {1, 1, 1}, GeoSearch,
           "Members within a radius or box around a member or point")
      .Args("key " + search_shape + " [WITHCOORD] [WITHDIST] [WITHHASH]")
      .Add("geosearchstore", -8, kWrite | kDenyOom, {1, 2, 1}, GeoSearchStore, "Store a GEOSEARCH")
      .Args("destination:key source:key " + search_shape + " [STOREDIST]")
      .Keys("OW UPDATE | RO ACCESS");
}

}  // namespace desaster
