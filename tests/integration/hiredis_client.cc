// Drives desaster with hiredis (Debian's libhiredis): pipelined writes, replies of every type,
// binary values, and a transaction. Usage: hiredis_client PORT. Exits 0 when every reply is as
// Redis would send it, prints the first mismatch otherwise.
#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

static int failures = 0;

static void expect(int ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  redisContext* c = redisConnect("127.0.0.1", atoi(argv[1]));
  if (c == NULL || c->err) return 2;
  redisReply* r;

  /* Pipelining: 1000 RPUSH in one write, replies in order. */
  for (int i = 0; i < 1000; i++) redisAppendCommand(c, "RPUSH hiredis:list %d", i);
  for (int i = 0; i < 1000; i++) {
    redisGetReply(c, (void**)&r);
    expect(r->type == REDIS_REPLY_INTEGER && r->integer == i + 1, "pipelined RPUSH length");
    freeReplyObject(r);
  }

  /* Binary-safe values with %b. */
  const char value[] = {'a', 0, 'b', '\r', '\n'};
  r = static_cast<redisReply*>(redisCommand(c, "SET hiredis:bin %b", value, sizeof(value)));
  expect(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0, "SET status");
  freeReplyObject(r);
  r = static_cast<redisReply*>(redisCommand(c, "GET hiredis:bin"));
  expect(r->type == REDIS_REPLY_STRING && r->len == sizeof(value) &&
             memcmp(r->str, value, sizeof(value)) == 0,
         "GET binary value");
  freeReplyObject(r);

  r = static_cast<redisReply*>(redisCommand(c, "GET hiredis:missing"));
  expect(r->type == REDIS_REPLY_NIL, "GET missing is nil");
  freeReplyObject(r);

  r = static_cast<redisReply*>(redisCommand(c, "LRANGE hiredis:list 0 2"));
  expect(r->type == REDIS_REPLY_ARRAY && r->elements == 3 && strcmp(r->element[2]->str, "2") == 0,
         "LRANGE array");
  freeReplyObject(r);

  r = static_cast<redisReply*>(redisCommand(c, "INCR hiredis:bin"));
  expect(r->type == REDIS_REPLY_ERROR &&
             strcmp(r->str, "ERR value is not an integer or out of range") == 0,
         "INCR error");
  freeReplyObject(r);

  redisAppendCommand(c, "MULTI");
  redisAppendCommand(c, "INCR hiredis:n");
  redisAppendCommand(c, "INCR hiredis:n");
  redisAppendCommand(c, "EXEC");
  for (int i = 0; i < 3; i++) {
    redisGetReply(c, (void**)&r);
    freeReplyObject(r);
  }
  redisGetReply(c, (void**)&r);
  expect(r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->integer == 2,
         "EXEC results");
  freeReplyObject(r);

  redisFree(c);
  printf("%d passed, %d failed\n", 7 - (failures > 7 ? 7 : failures), failures);
  return failures ? 1 : 0;
}
