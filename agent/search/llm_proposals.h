#pragma once
// What the driver needs of the LLM's part of a search, which agent/llm/llm_search.h implements:
// the search does not depend on the LLM's client, prompts or reply parsing, and the command line
// wires the two together (SearchOptions::llm). Every method but the destructor is called with the
// driver's lock held.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/search/population.h"

namespace ks {

class Archive;

// A candidate from the LLM, added to the population, to evaluate on the shape.
struct LlmChild {
  size_t member;
  std::string shape, op;
  std::vector<size_t> parents;  // members
  int64_t call_id = 0;          // the llm_calls row that brought it (0: resumed from the archive)
};

class LlmProposals {
 public:
  virtual ~LlmProposals() = default;

  // Starts conversations until the configured number are in flight, on shapes from pick_shape.
  virtual void start_calls(const Population& pop, const std::function<std::optional<std::string>()>& pick_shape,
                           Rng& rng) = 0;
  // The replies that arrived, each recorded; those that hold a new candidate become children.
  virtual std::vector<LlmChild> take_children(Population& pop) = 0;
  // A child's result is in (the member is stored, so it has an id).
  virtual void on_result(const Population& pop, size_t member, const std::string& shape, bool paid_off,
                         bool applicable) = 0;
  // What each shape's roofline floor and baseline are, for the prompts (by shape text, us).
  virtual void set_shape_times(const std::map<std::string, double>& floor_us,
                               const std::map<std::string, double>& baseline_us) = 0;

  virtual bool waiting() const = 0;        // a reply is awaited, or a child not yet evaluated
  virtual bool replies_ready() const = 0;  // replies are in, not yet taken
  virtual bool spent() const = 0;          // the token budget is used up: no new calls
  virtual std::vector<std::pair<std::string, double>> operator_shares() const = 0;
  virtual int64_t calls() const = 0;
  virtual int64_t tokens() const = 0;
  virtual int in_flight() const = 0;
  virtual double call_timeout_s() const = 0;  // how long a call in flight may still take
  // Lines worth a user's attention since the last call (the LLM set aside, the budget spent...).
  virtual std::vector<std::string> take_notices() = 0;
};

// Makes the LLM's part of one run; `wake` is to be called on any thread when a reply arrives.
using LlmProposalsFactory =
    std::function<std::unique_ptr<LlmProposals>(Archive& archive, int64_t run_id, std::function<void()> wake)>;

}  // namespace ks
