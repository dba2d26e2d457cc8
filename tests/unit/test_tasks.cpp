// Tasks: the CPU fp64 reference on a hand-computed case, shapes, input generators, roofline counts.
#include <gtest/gtest.h>

#include <cmath>

#include "base/error.h"
#include "tasks/task.h"

namespace ks {
namespace {

const Task& rms() { return *find_task("rmsnorm_linear"); }

TEST(RmsnormLinear, CpuReferenceMatchesHandComputedCase) {
  // X = [[3, 4]], gamma = [1, 2], W = [[1, 0], [0, 1], [1, 1]], eps = 1e-6:
  // mean(X^2) = 12.5, r = 1/sqrt(12.5 + 1e-6); Y = r * [3, 8, 11].
  Shape s{{"M", 1}, {"K", 2}, {"N", 3}};
  HostBuffers in;
  in["X"] = HostBuffer(DType::bf16, {1, 2});
  in["gamma"] = HostBuffer(DType::bf16, {2});
  in["W"] = HostBuffer(DType::bf16, {3, 2});
  for (auto [i, v] : {std::pair{0, 3.0}, {1, 4.0}}) in["X"].set(i, v);
  in["gamma"].set(0, 1);
  in["gamma"].set(1, 2);
  for (auto [i, v] : {std::pair{0, 1.0}, {1, 0.0}, {2, 0.0}, {3, 1.0}, {4, 1.0}, {5, 1.0}}) in["W"].set(i, v);
  HostBuffers out;
  rms().cpu_reference(s, {{"eps", 1e-6}}, in, out);
  const double r = 1 / std::sqrt(12.5 + 1e-6);
  EXPECT_NEAR(out["Y"].get(0), 3 * r, 1e-12);
  EXPECT_NEAR(out["Y"].get(1), 8 * r, 1e-12);
  EXPECT_NEAR(out["Y"].get(2), 11 * r, 1e-12);
  EXPECT_EQ(rms().cpu_reference_row(s, {{"eps", 1e-6}}, in, "Y", 0)[2], out["Y"].get(2));
}

TEST(RmsnormLinear, ZeroRowGivesZerosNotNaN) {
  Shape s{{"M", 1}, {"K", 8}, {"N", 2}};
  HostBuffers in;
  rms().generate_inputs(s, 1, InputKind::random, in);
  for (size_t i = 0; i < 8; ++i) in["X"].set(i, 0);
  EXPECT_EQ(rms().cpu_reference_row(s, {{"eps", 1e-6}}, in, "Y", 0)[1], 0.0);
}

TEST(RmsnormLinear, SearchShapesAreDesignShapesAndDisjointFromAudit) {
  std::vector<std::string> search;
  for (auto& s : rms().search_shapes()) search.push_back(rms().format_shape(s));
  EXPECT_EQ(search, (std::vector<std::string>{"M=1,K=4096,N=4096", "M=16,K=4096,N=6144",
                                               "M=128,K=4096,N=4096", "M=512,K=4096,N=4096",
                                               "M=2048,K=4096,N=6144"}));
  ASSERT_GE(rms().audit_shapes().size(), 4u);
  for (auto& a : rms().audit_shapes())
    for (auto& s : rms().search_shapes()) EXPECT_NE(a, s);
}

TEST(RmsnormLinear, RooflineCountsGiveTheIssueFloors) {
  // Floors of the issue's table: bytes over 3.02 TB/s, FLOPs over 776 TFLOP/s.
  auto floor_us = [](const Shape& s) {
    return 1e6 * std::max(rms().flops(s) / 776e12, rms().min_bytes(s) / 3.02e12);
  };
  EXPECT_NEAR(floor_us(rms().parse_shape("1,4096,4096")), 11.1, 0.1);
  EXPECT_NEAR(floor_us(rms().parse_shape("16,4096,6144")), 16.8, 0.1);
  EXPECT_NEAR(floor_us(rms().parse_shape("2048,4096,6144")), 132.8, 0.1);
}

TEST(RmsnormLinear, InputsAreSeededAndHardRowsAreHard) {
  Shape s{{"M", 10}, {"K", 64}, {"N", 8}};
  HostBuffers a, b, c, hard;
  rms().generate_inputs(s, 5, InputKind::random, a);
  rms().generate_inputs(s, 5, InputKind::random, b);
  rms().generate_inputs(s, 6, InputKind::random, c);
  EXPECT_EQ(a["W"].bytes, b["W"].bytes);
  EXPECT_NE(a["W"].bytes, c["W"].bytes);
  rms().generate_inputs(s, 5, InputKind::hard, hard);
  int zero_rows = 0, large_rows = 0;
  for (int m = 0; m < 10; ++m) {
    double mx = 0;
    for (int k = 0; k < 64; ++k) mx = std::max(mx, std::abs(hard["X"].get(m * 64 + k)));
    zero_rows += mx == 0;
    large_rows += mx > 1000;
  }
  EXPECT_EQ(zero_rows, 2);
  EXPECT_GE(large_rows, 2);
}

// Decode-sized inputs (fewer rows than kinds) keep the rows that test eps and 0/0, whatever the
// seed: row 0 tiny, row 1 zero (rotated by the seed, a 3-row input lacked the tiny row 2 times
// in 5, and a kernel that hard-codes eps passed).
TEST(RmsnormLinear, FewRowsStillGetATinyAndAZeroRowForEverySeed) {
  for (uint64_t seed = 0; seed < 10; ++seed)
    for (int64_t rows : {1, 2, 3}) {
      Shape s{{"M", rows}, {"K", 64}, {"N", 8}};
      HostBuffers random, hard;
      rms().generate_inputs(s, seed, InputKind::random, random);
      rms().generate_inputs(s, seed, InputKind::hard, hard);
      for (int k = 0; k < 64; ++k) {
        EXPECT_NEAR(hard["X"].get(k), 1e-3 * random["X"].get(k), 1e-5) << "seed " << seed << ", row 0 tiny";
        if (rows > 1) EXPECT_EQ(hard["X"].get(64 + k), 0.0) << "seed " << seed << ", row 1 zero";
      }
    }
}

TEST(Task, ParseShapeAcceptsBothFormsAndNamesMistakes) {
  EXPECT_EQ(rms().parse_shape("16,4096,6144"), rms().parse_shape("N=6144,M=16,K=4096"));
  EXPECT_THROW(rms().parse_shape("16,4096"), Error);
  EXPECT_THROW(rms().parse_shape("16,0,4096"), Error);
  EXPECT_THROW(rms().parse_shape("M=1,Q=2,N=3"), Error);
  try {
    rms().parse_shape("1,x,3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
}

TEST(Task, UnknownTaskIsNull) { EXPECT_EQ(find_task("nope"), nullptr); }

}  // namespace
}  // namespace ks

namespace ks {
namespace {

TEST(SwigluMlp, CpuReferenceMatchesHandComputedCase) {
  // X = [[1, 2]], Wg = [[1, 0], [0, 1], [1, 1]], Wu = [[2, 0], [0, 0], [1, -1]],
  // Wd = [[1, 1, 1], [0, 1, 2]]: g = [1, 2, 3], u = [2, 0, -1], h = silu(g) * u.
  const Task& t = *find_task("swiglu_mlp");
  Shape s{{"M", 1}, {"H", 2}, {"I", 3}};
  HostBuffers in;
  in["X"] = HostBuffer(DType::bf16, {1, 2});
  in["Wgu"] = HostBuffer(DType::bf16, {2, 3, 2});
  in["Wd"] = HostBuffer(DType::bf16, {2, 3});
  in["X"].set(0, 1);
  in["X"].set(1, 2);
  const double wgu[] = {1, 0, 0, 1, 1, 1, 2, 0, 0, 0, 1, -1}, wd[] = {1, 1, 1, 0, 1, 2};
  for (int i = 0; i < 12; ++i) in["Wgu"].set(i, wgu[i]);
  for (int i = 0; i < 6; ++i) in["Wd"].set(i, wd[i]);
  auto silu = [](double g) { return g / (1 + std::exp(-g)); };
  const double h[] = {silu(1) * 2, silu(2) * 0, silu(3) * -1};
  auto y = t.cpu_reference_row(s, {}, in, "Y", 0);
  EXPECT_NEAR(y[0], h[0] + h[1] + h[2], 1e-12);
  EXPECT_NEAR(y[1], h[1] + 2 * h[2], 1e-12);
}

TEST(SoftmaxMatmul, CpuReferenceMatchesHandComputedCaseAndLargeLogits) {
  const Task& t = *find_task("softmax_matmul");
  Shape s{{"B", 2}, {"M", 1}, {"N", 2}, {"D", 1}};
  HostBuffers in;
  in["S"] = HostBuffer(DType::f32, {2, 1, 2});
  in["V"] = HostBuffer(DType::f32, {2, 2, 1});
  // Batch 1: logits [100, 100 + ln 3] (exp overflows without the max), V = [1, 5]:
  // p = [1/4, 3/4], O = 1/4 + 15/4 = 4.
  in["S"].set(2, 100);
  in["S"].set(3, 100 + std::log(3.0));
  in["V"].set(2, 1);
  in["V"].set(3, 5);
  EXPECT_NEAR(t.cpu_reference_row(s, {}, in, "O", 1)[0], 4.0, 1e-5);  // the logits are stored as f32
  // Batch 0: equal logits, V = [0, 0]: O = 0.
  EXPECT_EQ(t.cpu_reference_row(s, {}, in, "O", 0)[0], 0.0);
}

TEST(Tasks, HardInputsDifferFromRandomAndShapesAreDisjoint) {
  for (const Task* t : all_tasks()) {
    Shape small;
    const Shape first = t->search_shapes()[0];  // a copy: the vector is a temporary
    for (auto& [sym, v] : first) small[sym] = std::min<int64_t>(v, sym == "M" ? 10 : 64);
    HostBuffers random, hard;
    t->generate_inputs(small, 3, InputKind::random, random);
    t->generate_inputs(small, 3, InputKind::hard, hard);
    bool differs = false;
    for (auto& [name, b] : random) differs |= b.bytes != hard.at(name).bytes;
    EXPECT_TRUE(differs) << t->name();
    for (auto& a : t->audit_shapes())
      for (auto& s : t->search_shapes()) EXPECT_NE(a, s) << t->name();
    EXPECT_GE(t->audit_shapes().size(), 4u) << t->name();
  }
}

// Random inputs are drawn as each buffer declares (what an exported library's example and tuner
// draw theirs from, so their timings compare with ksearch's): the declaration is the truth.
TEST(Tasks, RandomInputsFollowEachBuffersDeclaredNormal) {
  for (const Task* t : all_tasks()) {
    Shape small;
    const Shape first = t->search_shapes()[0];  // a copy: the vector is a temporary
    for (auto& [sym, v] : first) small[sym] = std::min<int64_t>(v, sym == "M" ? 16 : 256);
    HostBuffers generated;
    t->generate_inputs(small, 11, InputKind::random, generated);
    const HostBuffers declared = t->random_inputs(small, 11);
    ASSERT_EQ(generated.size(), t->inputs().size()) << t->name();
    for (auto& spec : t->inputs()) {
      const HostBuffer& b = generated.at(spec.name);
      EXPECT_EQ(b.bytes, declared.at(spec.name).bytes) << t->name() << " " << spec.name;
      double sum = 0, sq = 0;
      for (size_t i = 0; i < b.count(); ++i) sum += b.get(i), sq += b.get(i) * b.get(i);
      const double n = double(b.count()), mean = sum / n, sd = std::sqrt(std::max(sq / n - mean * mean, 0.0));
      ASSERT_GE(n, 256) << t->name() << " " << spec.name;
      EXPECT_NEAR(mean, spec.random.mean, 4 * spec.random.stddev / std::sqrt(n)) << t->name() << " " << spec.name;
      EXPECT_NEAR(sd, spec.random.stddev, 0.1 * spec.random.stddev) << t->name() << " " << spec.name;
    }
  }
}

TEST(Tasks, RooflineFloorsOfTheIssues) {
  auto floor_us = [](const Task& t, const std::string& shape) {
    Shape s = t.parse_shape(shape);
    return 1e6 * std::max(t.flops(s) / 776e12, t.min_bytes(s) / 3.02e12);
  };
  const Task& sw = *find_task("swiglu_mlp");
  const Task& sm = *find_task("softmax_matmul");
  EXPECT_NEAR(floor_us(sw, "1,4096,14336"), 116.6, 0.2);
  EXPECT_NEAR(floor_us(sw, "256,4096,14336"), 118.0, 0.2);
  EXPECT_NEAR(floor_us(sm, "32,1,4096,128"), 11.2, 0.1);
  EXPECT_NEAR(floor_us(sm, "32,1,32768,128"), 89.6, 0.2);
  EXPECT_NEAR(floor_us(sm, "32,2048,2048,128"), 100.0, 0.5);
}


// Task::check_fits, the rule every shape meets before anything is allocated: each size symbol in
// [1, 2^31-1] (kernels take sizes as int), each buffer's element and f64 byte counts within int64.
TEST(Tasks, EveryTaskShapeFitsAndOversizedOnesAreOneLineNamingTheSymbolOrBuffer) {
  for (const Task* t : all_tasks()) {
    for (auto& s : t->search_shapes()) EXPECT_NO_THROW(t->check_fits(s)) << t->format_shape(s);
    for (auto& s : t->audit_shapes()) EXPECT_NO_THROW(t->check_fits(s)) << t->format_shape(s);
  }
  auto error_of = [](const Task& t, const std::string& shape) {
    try {
      t.check_fits(t.parse_shape(shape));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of(rms(), "3000000000,4096,4096"),
            "rmsnorm_linear: shape M=3000000000,K=4096,N=4096: M=3000000000 is more than a "
            "kernel's int argument holds (2^31-1 = 2147483647)");
  EXPECT_EQ(error_of(rms(), "4294967297,4096,4096"),
            "rmsnorm_linear: shape M=4294967297,K=4096,N=4096: M=4294967297 is more than a "
            "kernel's int argument holds (2^31-1 = 2147483647)");
  EXPECT_EQ(error_of(rms(), "2147483647,2147483640,8"),
            "rmsnorm_linear: shape M=2147483647,K=2147483640,N=8: buffer X has "
            "4611685999100035080 elements, more than 2^60, whose bytes (8 an element as the f64 "
            "reference) would overflow int64");
  const Task& sm = *find_task("softmax_matmul");
  EXPECT_EQ(error_of(sm, "2147483647,2147483647,2147483647,8"),
            "softmax_matmul: shape B=2147483647,M=2147483647,N=2147483647,D=8: buffer S has more "
            "elements than an int64 counts (2^63-1)");
  // Sizes at the int limit, and buffers past 2^31 elements (references index with size_t):
  // 32 heads of 8192 x 8192 attention scores are 2^31 elements.
  EXPECT_EQ(error_of(rms(), "2147483647,8,8"), "");
  EXPECT_EQ(error_of(sm, "32,8192,8192,128"), "");
  EXPECT_EQ(sm.elements_of(sm.buffers()[0], sm.parse_shape("32,8192,8192,128")), int64_t{1} << 31);
  // Shapes made in code skip parse_shape's positivity check; check_fits has its own.
  try {
    rms().check_fits({{"M", 0}, {"K", 4096}, {"N", 4096}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "rmsnorm_linear: shape M=0,K=4096,N=4096: M=0 is not a positive size");
  }
  EXPECT_THROW(rms().check_fits({{"M", 1}, {"K", 8}}), Error);  // N missing
}

}  // namespace
}  // namespace ks

namespace ks {
namespace {

const Task& gemm() { return *find_task("gemm"); }

TEST(Gemm, CpuReferenceMatchesHandComputedCase) {
  // X = [[3, 4]], W = [[1, 0], [0, 1], [1, -1]]: Y = X @ W^T = [3, 4, -1].
  Shape s{{"M", 1}, {"K", 2}, {"N", 3}};
  HostBuffers in;
  in["X"] = HostBuffer(DType::bf16, {1, 2});
  in["W"] = HostBuffer(DType::bf16, {3, 2});
  in["X"].set(0, 3);
  in["X"].set(1, 4);
  for (auto [i, v] : {std::pair{0, 1.0}, {1, 0.0}, {2, 0.0}, {3, 1.0}, {4, 1.0}, {5, -1.0}}) in["W"].set(i, v);
  HostBuffers out;
  gemm().cpu_reference(s, {}, in, out);
  EXPECT_EQ(out["Y"].get(0), 3.0);
  EXPECT_EQ(out["Y"].get(1), 4.0);
  EXPECT_EQ(out["Y"].get(2), -1.0);
  EXPECT_TRUE(gemm().constants().empty());
  EXPECT_EQ(gemm().parse_shape("128,4096,4096"), gemm().parse_shape("M=128,K=4096,N=4096"));
}

// The GEMMs of the other tasks: rmsnorm_linear's shapes, then swiglu_mlp's gate-up (N = 2I, K = H)
// and down (N = H, K = I) at each of its M; audit shapes ragged in M and N.
TEST(Gemm, SearchShapesAreTheOtherTasksGemmsAndAuditShapesAreRagged) {
  std::vector<std::string> search;
  for (auto& s : gemm().search_shapes()) search.push_back(gemm().format_shape(s));
  std::vector<std::string> expected;
  for (auto& s : rms().search_shapes()) expected.push_back(rms().format_shape(s));
  const Task& sw = *find_task("swiglu_mlp");
  for (auto& s : sw.search_shapes()) {
    const std::string m = std::to_string(s.at("M")), h = std::to_string(s.at("H")), i = std::to_string(s.at("I"));
    expected.push_back("M=" + m + ",K=" + h + ",N=" + std::to_string(2 * s.at("I")));
    expected.push_back("M=" + m + ",K=" + i + ",N=" + h);
  }
  EXPECT_EQ(search, expected);
  EXPECT_EQ(search.size(), 13u);
  bool ragged_m = false, ragged_n = false;
  for (auto& a : gemm().audit_shapes()) {
    EXPECT_EQ(a.at("K") % 8, 0);
    EXPECT_EQ(a.at("N") % 8, 0);
    ragged_m |= a.at("M") % 64 != 0 && a.at("M") > 64;
    ragged_n |= a.at("N") % 64 != 0;
  }
  EXPECT_TRUE(ragged_m);
  EXPECT_TRUE(ragged_n);
}

TEST(Gemm, RooflineCountsAreThePlainGemms) {
  const Shape s = gemm().parse_shape("16,4096,6144");
  EXPECT_EQ(gemm().flops(s), 2.0 * 16 * 4096 * 6144);
  EXPECT_EQ(gemm().min_bytes(s), 2.0 * (16 * 4096 + 6144 * 4096 + 16 * 6144));
}

}  // namespace
}  // namespace ks
