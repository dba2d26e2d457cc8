#pragma once
// Search operators: each proposes a candidate to evaluate on a shape, from the population. The set
// is open: an operator is a name and a propose call, and the driver draws operators by weight, so
// new ones (the LLM's) plug in without touching the loop.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/search/population.h"

namespace ks {

// A point of a known source's parameter space to evaluate on the shape. When that point is a
// member already, the member is evaluated there as it is.
struct Proposal {
  size_t source = 0;
  Variant variant;
  std::vector<size_t> parents;  // member indices
};

class Operator {
 public:
  virtual ~Operator() = default;
  virtual std::string name() const = 0;
  // A proposal for the shape, or nothing when this operator has none to offer now. May repeat
  // what is known: the driver draws again.
  virtual std::optional<Proposal> propose(const Population& pop, const std::string& shape, Rng& rng) const = 0;
};

struct WeightedOperator {
  std::unique_ptr<Operator> op;
  double weight;
};

// Parameter mutation: a tournament winner on the shape, one param moved to a neighbouring value.
std::unique_ptr<Operator> make_mutate();
// Parameter crossover: two tournament winners that are variants of one source, each param taken
// from either.
std::unique_ptr<Operator> make_crossover();
// Migration: a candidate correct on another shape, not yet tried on this one, as it is.
std::unique_ptr<Operator> make_migrate();

// The operators a search without an LLM runs, with their weights.
std::vector<WeightedOperator> default_operators();

}  // namespace ks
