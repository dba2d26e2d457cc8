// The include policy (evaluator/include_policy.h): which #include a candidate may use, checked
// on its text before any compile. No NVRTC here; test_compile_sandbox.cpp compiles the attacks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "evaluator/include_policy.h"
#include "unit/temp_dir.h"

namespace ks {
namespace {

class IncludePolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(ks_include() / "ks");
    std::filesystem::create_directories(cuda_include());
    std::ofstream(ks_include() / "ks" / "vec.cuh") << "#pragma once\n";
    std::ofstream(cuda_include() / "cuda_bf16.h") << "#pragma once\n";
  }
  std::filesystem::path ks_include() const { return tmp_.dir / "seeds_include"; }
  std::filesystem::path cuda_include() const { return tmp_.dir / "cuda_include"; }
  std::optional<std::string> check(const std::string& source) const {
    return include_refusal(source, {ks_include(), cuda_include()});
  }

  test::TempDir tmp_{"ksearch_include_policy"};
};

TEST_F(IncludePolicy, HeadersUnderTheAllowedDirectoriesPass) {
  EXPECT_EQ(check("#include <cuda_bf16.h>\n#include <ks/vec.cuh>\n"), std::nullopt);
  EXPECT_EQ(check("#include \"ks/vec.cuh\"\n  #  include   <cuda_bf16.h>  // a comment\n"),
            std::nullopt);
  EXPECT_EQ(check("#define X 1\n#if X\n#pragma once\n#endif\nint a = 3 % 2; // #1\n"),
            std::nullopt);
  EXPECT_EQ(check("const char* s = \"#\\n\"; // stringized: #x, pasted: a ## b\n"), std::nullopt);
}

TEST_F(IncludePolicy, AnAbsolutePathIsRefusedInOneLine) {
  EXPECT_EQ(check("#include \"/proc/self/environ\"\n__global__ void k() {}\n"),
            "ksearch: #include \"/proc/self/environ\" refused: absolute path (only headers under "
            "seeds/include and the CUDA include directory may be included)");
}

TEST_F(IncludePolicy, EveryWayOfSpellingAnIncludeIsChecked) {
  struct Case {
    std::string source, reason;
  };
  const std::vector<Case> cases = {
      {"#include <../../../../etc/passwd>", "climbs out with .."},
      {"#include \"ks/../../../../proc/self/environ\"", "climbs out with .."},
      {"#define F \"/proc/self/environ\"\n#include F", "computed include"},
      {"#define F(x) <x>\n#include F(ks/vec.cuh)", "computed include"},
      {"%:include \"/proc/self/environ\"", "absolute path"},
      {"?\?=include \"/proc/self/environ\"", "absolute path"},
      {"#inc\\\nlude \"/proc/self/environ\"", "absolute path"},
      {"#include \"/proc/self/env\\\r\niron\"", "absolute path"},
      {"#\\  \ninclude \"/etc/passwd\"", "absolute path"},
      {"#/* a\ncomment */include/**/\"/etc/passwd\"", "absolute path"},
      {"#  include_next <secret.h>", "no such header"},
      {"#import \"/etc/passwd\"", "absolute path"},
      {"#embed \"/etc/passwd\"", "absolute path"},
      {"#include \"secret_in_the_working_directory.h\"", "no such header"},
      {"#include <ks>", "no such header"},  // a directory
      {"#include <>", "empty header name"},
      {"#include \"/etc/passwd", "unterminated header name"},
      {"#incl\\u0075de \"/etc/passwd\"", "a directive name with a \\ escape"},
      // A raw string: a lexer that does not know them would take the /* for a comment and skip
      // the directive. The scan has no such state.
      {"const char* s = R\"(\n/*\n)\";\n#include \"/proc/self/environ\"\n// */",
       "absolute path"},
      // In a comment: the compiler would skip it, the policy errs on the side of refusing.
      {"// #include \"/etc/passwd\"", "absolute path"},
  };
  for (const auto& c : cases) {
    const auto refusal = check(c.source + "\n__global__ void k() {}\n");
    ASSERT_TRUE(refusal.has_value()) << c.source;
    EXPECT_NE(refusal->find(c.reason), std::string::npos) << c.source << "\n" << *refusal;
    EXPECT_EQ(refusal->rfind("ksearch: #", 0), 0u) << *refusal;
    EXPECT_EQ(refusal->find('\n'), std::string::npos) << *refusal;
  }
}

}  // namespace
}  // namespace ks
