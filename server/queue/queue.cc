#include "server/queue/queue.h"

#include <cmath>
#include <cstdlib>

namespace desaster {

// ---- QueueConfig ----

// Lines of "name=value"; parameters as "param.<name>=value". Values never hold newlines (the
// commands that set them refuse them).
std::string QueueConfig::Encode() const {
  std::string out = "discipline=" + discipline + "\npaused=" + (paused ? "1" : "0") +
                    "\nunique=" + (unique ? "1" : "0") + "\nunique_by=" + unique_by +
                    "\nretry=" + std::to_string(retry.max_attempts) +
                    "\nbackoff=" + retry.BackoffName() + "\ncapability=" + capability + "\n";
  for (const auto& [name, value] : params) out += "param." + name + "=" + value + "\n";
  return out;
}

bool QueueConfig::Decode(std::string_view record, QueueConfig* config) {
  *config = QueueConfig();
  while (!record.empty()) {
    size_t nl = record.find('\n');
    if (nl == std::string_view::npos) return false;
    std::string_view line = record.substr(0, nl);
    record.remove_prefix(nl + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return false;
    std::string_view name = line.substr(0, eq), value = line.substr(eq + 1);
    if (name == "discipline") {
      config->discipline = value;
    } else if (name == "paused") {
      config->paused = value == "1";
    } else if (name == "unique") {
      config->unique = value == "1";
    } else if (name == "unique_by") {
      config->unique_by = value;
    } else if (name == "retry") {
      config->retry.max_attempts =
          static_cast<uint32_t>(std::strtoul(std::string(value).c_str(), nullptr, 10));
    } else if (name == "backoff") {
      config->retry.ParseBackoff(value);
    } else if (name == "capability") {
      config->capability = value;
    } else if (name.starts_with("param.")) {
      config->params.emplace(name.substr(6), value);
    }
  }
  return true;
}

// ---- RateMeter ----

void RateMeter::Add(int64_t now_ms) {
  takes_.Add(now_ms);
  if (first_ms_ == 0) first_ms_ = now_ms;
}

double RateMeter::PerSecond(int64_t now_ms) const {
  if (first_ms_ == 0) return 0;
  // Over the window observed so far (at least a second, so one early take is no huge rate).
  double window = std::min<double>(static_cast<double>(takes_.buckets()),
                                   std::max(1.0, (now_ms - first_ms_) / 1000.0));
  return static_cast<double>(takes_.Sum(now_ms)) / window;
}

// ---- Queue ----

Queue::Queue(std::string key, const Dialect* dialect) : key_(std::move(key)), dialect_(dialect) {
  std::string error;
  info_ = FindDiscipline(config_.discipline);
  discipline_ = info_->make(config_.params, &error);
}

std::unique_ptr<Discipline> Queue::Build(const QueueConfig& config, std::string* error) const {
  const DisciplineInfo* info = FindDiscipline(config.discipline);
  if (!info) {
    *error = "unknown discipline '" + config.discipline + "' (known:";
    for (const auto& d : Disciplines()) error->append(" ").append(d.name);
    *error += ")";
    return nullptr;
  }
  return info->make(config.params, error);
}

void Queue::Reconfigure(QueueConfig config, std::unique_ptr<Discipline> discipline) {
  std::vector<Job*> jobs;
  discipline_->ForEachInOrder([&](Job* job) {
    jobs.push_back(job);
    return true;
  });
  config_ = std::move(config);
  info_ = FindDiscipline(config_.discipline);
  discipline_ = std::move(discipline);
  for (Job* job : jobs) AddReady(job);
}

void Queue::AddReady(Job* job) {
  if (info_->uses_flows && job->flow.empty()) job->flow = FlowOf(*job);
  discipline_->Enqueue(job);
}

void Queue::SeenOrder(int64_t order) {
  min_order_ = std::min(min_order_, order);
  max_order_ = std::max(max_order_, order);
}

Job* Queue::FindUnique(const std::string& key) const {
  auto it = unique_.find(key);
  return it == unique_.end() ? nullptr : it->second;
}

void Queue::IndexUnique(Job* job) {
  if (!job->unique_key().empty()) unique_[job->unique_key()] = job;
}

void Queue::UnindexUnique(const Job* job) {
  if (job->unique_key().empty()) return;
  auto it = unique_.find(job->unique_key());
  if (it != unique_.end() && it->second == job) unique_.erase(it);
}

void Queue::CountTaken(int64_t now_ms) {
  taken++;
  last_taken_ms = now_ms;
  rate_.Add(now_ms);
}

std::string Queue::UniqueKeyOf(std::string_view payload) const {
  if (config_.unique_by.empty()) return std::string(payload);
  // Keyed by field name too, so {"a":1} and {"b":1} with the field absent stay apart.
  return JsonField(payload, config_.unique_by).value_or(std::string(payload));
}

void Queue::SamplePayload(std::string_view payload) {
  // Eight jobs make a dictionary that a ninth resque or Sidekiq job compresses against to a
  // third of its size or less; 64 did not do better. Big payloads lend their beginnings, where
  // a job's class and argument names are, so the dictionary stays small (at most 16 kB).
  constexpr size_t kSamples = 8, kSampleBytes = 2048;
  if (dictionary_) return;
  samples_.append(payload.substr(0, kSampleBytes));
  if (++sampled_ < kSamples) return;
  dictionary_ = PayloadDictionary::Make(samples_);
  std::string().swap(samples_);
  sampled_ = 0;
}

PayloadFields Queue::Fields(const Job& job) const {
  if (!dialect_->json_payloads) return {};
  std::string scratch;  // searches and sorts read whole backlogs: compressed jobs stay so
  return ParsePayload(job.payload.Read(&scratch));
}

PayloadFields Queue::Fields(std::string_view payload) const {
  return dialect_->json_payloads ? ParsePayload(payload) : PayloadFields{};
}

std::string Queue::FlowOf(const Job& job) const {
  if (!job.flow.empty()) return job.flow.str();
  return Fields(job).klass;
}

std::optional<int64_t> Queue::Eta(const Job& job, size_t position, int64_t now_ms) const {
  if (job.state == JobState::kScheduled) return job.run_at_ms;
  if (config_.paused) return std::nullopt;
  // Jobs ahead of this one leave at the measured rate, bounded by any rate limit on it.
  double rate = rate_.PerSecond(now_ms);
  double limit = discipline_->RateFor(&job);
  if (limit > 0 && (rate == 0 || limit < rate)) rate = limit;
  if (rate <= 0) return position == 0 ? std::optional<int64_t>(now_ms) : std::nullopt;
  // It starts with the (position + 1)-th take from now; asked at a random moment between
  // takes, that is (position + 0.5) take intervals away on average.
  double seconds = (static_cast<double>(position) + 0.5) / rate;
  return now_ms + static_cast<int64_t>(std::llround(seconds * 1000.0));
}

}  // namespace desaster
