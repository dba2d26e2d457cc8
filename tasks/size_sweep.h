#pragma once
// A model's shapes of a task, written by parts: sets of fixed sizes (a model's K and N) crossed
// with ranges of the task's bucket sizes (the batch's tokens M), each range sampled at the points
// an exported library dispatches between. `ksearch run --dims K=4096,N=6144 --m 1-4096` and the
// model files (models/*.json, tasks/model_file.h) both come down to one SizeSweep.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace ks {

// LO to HI, both included; LO == HI is one point.
struct BucketRange {
  int64_t lo = 1, hi = 1;
};

// "1-4096", or "16" for one point. Throws ks::Error, one line quoting the text, unless both ends
// are integers in [1, 2^31-1] (the sizes kernels take) with LO <= HI.
BucketRange parse_bucket_range(const std::string& text);
std::string format_bucket_range(const BucketRange& r);  // "1-4096", or "16"

// The points a range is sampled at: LO, every power of two strictly between LO and HI, and HI.
// Powers of two are the buckets the export's dispatcher picks between (nearest in log); the ends
// are kept even where they are no power of two, so what was measured spans what was asked.
// 1-4096: 1, 2, 4, ..., 4096 (13 points); 3-1000: 3, 4, 8, ..., 512, 1000.
std::vector<int64_t> bucket_points(const BucketRange& r);

// One set of fixed sizes, e.g. {K: 4096, N: 6144}, with a label saying what it is in the model
// ("qkv"; "" where there is none).
struct FixedSizes {
  std::string label;
  Shape sizes;
};

// "K=4096,N=6144" as sizes by name (a --dims text). Throws ks::Error quoting the text for an
// item that is not NAME=VALUE, a value that is not a positive integer, or a name given twice;
// whether the names are the task's is check_fixed_sizes's to say.
Shape parse_fixed_sizes(const std::string& text);

struct SizeSweep {
  std::vector<FixedSizes> fixed;               // each crossed with every bucket point
  std::map<std::string, BucketRange> buckets;  // by size symbol: bucket sizes only
};

// Throws ks::Error, one line without the caller's context (the option or the file's field,
// which the caller adds), unless `sym` is one of the task's bucket sizes: a range of a size the
// export never dispatches over (a model's K) would measure shapes no library call picks between.
void check_bucket_symbol(const Task& task, const std::string& sym);
// Throws ks::Error, as above, unless every name of `sizes` is a size of the task, none is also
// given a range in `buckets`, and together they give every size of the task.
void check_fixed_sizes(const Task& task, const Shape& sizes, const std::map<std::string, BucketRange>& buckets);

// Why the task refuses a shape (its constraints, what kernels take), "" when it does not. The
// constraints are plan expressions, which tasks/ cannot evaluate: the caller passes the check.
using ShapeProblem = std::function<std::string(const Shape&)>;

struct SweptShapes {
  std::vector<Shape> shapes;          // per fixed set (in order), its bucket points in size order
  std::vector<std::string> dropped;   // one line per shape left out, with the reason
};

// Every shape of the sweep the task takes. A shape the task refuses is left out and named in
// `dropped` when other bucket points of its fixed set are taken (a range 1-8192 of softmax's N
// crosses N % 8 at 1, 2 and 4); when every shape of a fixed set is refused, the fixed sizes are
// wrong and this throws ks::Error naming them and the first reason. Checks the sweep first
// (check_bucket_symbol, check_fixed_sizes).
SweptShapes sweep_shapes(const Task& task, const SizeSweep& sweep, const ShapeProblem& problem);

// "K=4096,N=6144 (qkv); K=4096,N=28672 (gate_up) at M=1,2,4,...,4096": what a command prints.
std::string describe_sweep(const Task& task, const SizeSweep& sweep);

}  // namespace ks
