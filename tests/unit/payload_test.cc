#include "server/queue/payload.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "server/queue/job.h"

using namespace desaster;

namespace {

// A Sidekiq job whose ids and arguments differ from its neighbours'.
std::string SidekiqJob(std::mt19937_64& rng) {
  auto n = [&] { return std::to_string(rng() % 1000000); };
  return R"({"class":"MailJob","args":[)" + n() + R"(,"user)" + n() + R"(@example.com"],"jid":")" +
         n() + n() + R"(","queue":"mail","retry":true,"created_at":1733400000.)" + n() + "}";
}

PayloadDictionaryRef DictionaryOf(std::mt19937_64& rng) {
  std::string samples;
  for (int i = 0; i < 8; i++) samples += SidekiqJob(rng);
  return PayloadDictionary::Make(samples);
}

}  // namespace

TEST_CASE("A compressed payload reads back as it came, held smaller") {
  std::mt19937_64 rng(3);
  PayloadDictionaryRef dictionary = DictionaryOf(rng);
  REQUIRE(dictionary);
  std::string plain = SidekiqJob(rng);
  PayloadCompressionStats before = CompressionStats();
  {
    Payload p(plain);
    REQUIRE(p.Compressible());
    REQUIRE(p.Compress(dictionary.get()));
    REQUIRE(p.compressed());
    REQUIRE_FALSE(p.Compressible());
    const PayloadCompressionStats& now = CompressionStats();
    REQUIRE(now.payloads == before.payloads + 1);
    REQUIRE(now.original_bytes == before.original_bytes + plain.size());
    // Less than half, with the dictionary's address.
    REQUIRE(now.stored_bytes - before.stored_bytes < plain.size() / 2);

    std::string scratch;
    REQUIRE(p.Read(&scratch) == plain);
    REQUIRE(p.str() == plain);
    REQUIRE(p.compressed());  // neither changed how it is held

    // A job's record holds the plain payload, and leaves the job's compressed.
    Job job;
    job.payload = p;
    Job loaded;
    REQUIRE(Job::Decode(job.Encode(), &loaded));
    REQUIRE(loaded.payload.Read(&scratch) == plain);
    REQUIRE(job.payload.compressed());
    REQUIRE(CompressionStats().payloads == before.payloads + 2);  // the copy is counted too

    // view() makes it plain again, for as long as nothing compresses it anew.
    uint64_t in_place = CompressionStats().decompressed_in_place;
    REQUIRE(p.view() == plain);
    REQUIRE_FALSE(p.compressed());
    REQUIRE(p.Compressible());
    REQUIRE(CompressionStats().decompressed_in_place == in_place + 1);
    REQUIRE(CompressionStats().payloads == before.payloads + 1);
  }
  REQUIRE(CompressionStats().payloads == before.payloads);
  REQUIRE(CompressionStats().stored_bytes == before.stored_bytes);
  REQUIRE(CompressionStats().original_bytes == before.original_bytes);
}

TEST_CASE("A dictionary lives as long as a payload compressed against it") {
  std::mt19937_64 rng(5);
  std::string plain = SidekiqJob(rng);
  Payload kept;
  {
    PayloadDictionaryRef dictionary = DictionaryOf(rng);  // its queue's reference
    Payload p(plain);
    REQUIRE(p.Compress(dictionary.get()));
    kept = p;  // a copy holds a reference of its own
    Payload moved(std::move(p));
    REQUIRE(moved.compressed());
    REQUIRE(p.empty());
  }  // the queue and the other payloads are gone (the sanitizer build sees a use after free)
  std::string scratch;
  REQUIRE(kept.Read(&scratch) == plain);
  kept = kept.view();  // assigned its own bytes
  REQUIRE(kept == plain);
}

TEST_CASE("Payloads that would not shrink stay plain and are not tried again") {
  std::mt19937_64 rng(9);
  PayloadDictionaryRef dictionary = DictionaryOf(rng);
  std::string noise(1000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  Payload p(noise);
  REQUIRE_FALSE(p.Compress(dictionary.get()));
  REQUIRE_FALSE(p.compressed());
  REQUIRE_FALSE(p.Compressible());
  REQUIRE(p == noise);
  p = SidekiqJob(rng);  // a new payload is tried afresh
  REQUIRE(p.Compressible());

  // Too short to pay for the dictionary's address; too long to decompress at every read.
  REQUIRE_FALSE(Payload(std::string(Payload::kMinCompressed - 1, 'a')).Compressible());
  REQUIRE(Payload(std::string(Payload::kMinCompressed, 'a')).Compressible());
  REQUIRE(Payload(std::string(Payload::kMaxCompressed, 'a')).Compressible());
  Payload big(std::string(Payload::kMaxCompressed + 1, 'a'));
  REQUIRE_FALSE(big.Compress(dictionary.get()));
  REQUIRE_FALSE(big.compressed());
}
