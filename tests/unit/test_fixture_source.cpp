// The bad-kernel fixtures share their correct kernel (tests/fixtures/base.cuh) and keep only
// their flaw; load_fixture splices base.cuh in. These check the composition, without a compile
// (ShippedCandidates compiles the composed fixtures): each fixture composes into one definition
// of every piece, the splice takes exactly its one line, other spellings are refused, and the
// README's sed line composes the same text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/error.h"
#include "base/paths.h"
#include "fixture_source.h"

namespace ks {
namespace {

const std::filesystem::path kDir = project_root() / "tests" / "fixtures";
constexpr const char* kSplice = "#include \"base.cuh\"\n";

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

// text without the blocks `#ifndef M` ... `#endif` (not nested, as in base.cuh) of the macros M it
// #defines: the code the compiler sees of base.cuh's guarded pieces.
std::string active(const std::string& text) {
  std::istringstream in(text);
  std::string out, line, skip_to_endif;
  std::vector<std::string> defined;
  bool skipping = false;
  while (std::getline(in, line)) {
    if (line.rfind("#define ", 0) == 0) {
      std::istringstream words(line.substr(8));
      defined.emplace_back();
      words >> defined.back();
    }
    if (line.rfind("#ifndef ", 0) == 0 &&
        std::find(defined.begin(), defined.end(), line.substr(8)) != defined.end())
      skipping = true;
    if (!skipping) out += line + "\n";
    if (line == "#endif") skipping = false;
  }
  return out;
}

std::vector<std::filesystem::path> fixtures() {
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(kDir))
    if (e.path().extension() == ".cu") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FixtureSource, EachFixtureComposesIntoOneDefinitionOfEachPiece) {
  const std::string base = read(kDir / "base.cuh");
  ASSERT_FALSE(base.empty());
  // The pieces base.cuh holds, each behind the macro a fixture defines to write its own.
  const std::pair<const char*, const char*> pieces[] = {
      {"FIXTURE_OWN_ROW_RINV", "__global__ void row_rinv("},
      {"FIXTURE_OWN_DOT_ROW", "__device__ float dot_row("},
      {"FIXTURE_OWN_NAIVE", "__global__ void naive("}};
  for (auto& [macro, def] : pieces) {
    EXPECT_EQ(count(base, def), 1u) << def;
    EXPECT_EQ(count(base, std::string("#ifndef ") + macro + "\n"), 1u) << macro;
  }
  int sharing = 0;
  for (auto& f : fixtures()) {
    SCOPED_TRACE(f.filename().string());
    const std::string own = read(f);
    Candidate c = load_fixture(f);
    EXPECT_EQ(c.origin, f.string());
    EXPECT_EQ(count(c.source, "base.cuh\""), 0u);
    if (count(own, kSplice) == 0) {
      EXPECT_EQ(c.source, own);  // read as it is
      continue;
    }
    ++sharing;
    EXPECT_EQ(c.source.size(), own.size() - std::string(kSplice).size() + base.size());
    const std::string code = active(c.source);
    for (auto& [macro, def] : pieces) {
      const bool replaced = count(own, std::string("#define ") + macro) == 1;
      // Base's piece gone where the fixture replaces it, so at most the fixture's own is left.
      EXPECT_EQ(count(code, def), count(own, def) + (replaced ? 0 : 1)) << def;
      EXPECT_LE(count(code, def), 1u) << def;
      // A fixture writes its own piece only where it says so (it may have none at all).
      if (!replaced) EXPECT_EQ(count(own, def), 0u) << def;
    }
    // Every kernel the plan launches is defined once.
    for (auto& step : c.plan.steps)
      if (auto* k = std::get_if<KernelStep>(&step.op))
        EXPECT_EQ(count(code, "__global__ void " + k->kernel + "("), 1u) << k->kernel;
  }
  EXPECT_GE(sharing, 15);  // the shared kernel is what this is all about
}

TEST(FixtureSource, TheSpliceReplacesExactlyItsLine) {
  const std::string plan = "/* ksearch\n{}\n*/\n";
  EXPECT_EQ(compose_fixture(plan + "// a\n#include \"base.cuh\"\n// b\n", "BASE\n", "t.cu"),
            plan + "// a\nBASE\n// b\n");
  EXPECT_EQ(compose_fixture(plan + "#include \"base.cuh\"", "BASE", "t.cu"), plan + "BASE\n");
  EXPECT_EQ(compose_fixture(plan + "// mentions base.cuh\n", "BASE\n", "t.cu"), plan + "// mentions base.cuh\n");
}

TEST(FixtureSource, OtherFormsOfTheIncludeAreRefused) {
  const std::string plan = "/* ksearch\n{}\n*/\n";
  for (const char* bad : {"#include \"base.cuh\"\n#include \"base.cuh\"\n", "#include <base.cuh>\n",
                          "# include \"base.cuh\"\n", "#include \"./base.cuh\"\n",
                          "#include \"base.cuh\" // the kernel\n", "#include \"base.cuh\" \n",
                          "  #include \"base.cuh\"\n", "#include \"base.cuh\"\r\n"}) {
    try {
      compose_fixture(plan + bad, "BASE\n", "t.cu");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("t.cu:"), std::string::npos) << e.what();
    }
  }
  // Inside the plan comment, in base.cuh itself, and with no base.cuh to splice.
  EXPECT_THROW(compose_fixture("/* ksearch\n#include \"base.cuh\"\n*/\n", "BASE\n", "t.cu"), Error);
  EXPECT_THROW(compose_fixture(plan + kSplice, "#include \"base.cuh\"\n", "t.cu"), Error);
  EXPECT_THROW(compose_fixture(plan + kSplice, "", "t.cu"), Error);
}

// tests/fixtures/README.md's sed line (how to run a fixture by hand) composes what the tests do.
TEST(FixtureSource, TheReadmeSedLineComposesTheSameText) {
  const std::string readme = read(kDir / "README.md");
  std::smatch m;
  const std::regex line(R"(\n(sed [^\n]* (tests/fixtures/[a-z0-9_]+\.cu)) > [^\n]*\n)");
  ASSERT_TRUE(std::regex_search(readme, m, line)) << "no sed line in tests/fixtures/README.md";
  const std::string cmd = "cd '" + project_root().string() + "' && " + m[1].str();
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << cmd;
  const std::filesystem::path file = project_root() / m[2].str();
  ASSERT_NE(count(read(file), kSplice), 0u) << file << " does not include base.cuh";
  EXPECT_EQ(out, load_fixture(file).source) << cmd;
}

}  // namespace
}  // namespace ks
