// ksearch compile: NVRTC-compiles every variant of a candidate; needs no GPU.
#include <iostream>

#include "agent/cli/commands.h"
#include "base/table.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"

namespace ks::cli {

Action add_compile_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("compile", "Compile every variant of a candidate with NVRTC (no GPU needed)");
  struct Opts {
    std::string file, variant;
    std::vector<std::string> archs{"sm_90a"};
    bool log = false;
    double compile_timeout_s = CompilerOptions{}.timeout_s;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("FILE", o->file, "Candidate .cu file (plan comment + CUDA code)")->required();
  cmd->add_option("--arch", o->archs, "Target(s), e.g. sm_80 sm_90 sm_90a (default sm_90a)");
  cmd->add_option("--variant", o->variant, "Only this variant, e.g. THREADS=128,ROWS=2");
  cmd->add_flag("--log", o->log, "Print NVRTC's whole log for every variant");
  cmd->add_option("--compile-timeout", o->compile_timeout_s, "Seconds one compile may take before it is killed, a compile_error (default 60)")
      ->check(CLI::PositiveNumber);
  return [o] {
    Candidate c = load_candidate(o->file);
    task_of(c);
    std::vector<Variant> variants = o->variant.empty() ? enumerate_variants(c.plan.params)
                                                       : std::vector<Variant>{parse_variant(o->variant, c.plan.params)};
    std::vector<CompileRequest> reqs;
    for (auto& arch : o->archs)
      for (auto& v : variants) reqs.push_back({c.source, c.origin, v, arch});
    CompilerOptions copts = Compiler::default_options();
    copts.timeout_s = o->compile_timeout_s;
    Compiler compiler(copts);
    std::cerr << "compiling " << reqs.size() << " variant(s) of " << c.origin << " with NVRTC "
              << nvrtc_version() << "...\n";
    auto results = compiler.compile_all(reqs);
    Table table({"arch", "variant", "status", "seconds", "cache", "kernel", "regs", "spill B", "stack B", "smem B"});
    int failed = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      auto& r = results[i];
      std::vector<std::string> head = {reqs[i].arch, format_variant(reqs[i].defines),
                                       r.ok ? "ok" : "compile_error", fixed(r.seconds, 2),
                                       r.cache_hit ? "hit" : "miss"};
      if (!r.ok) ++failed;
      if (r.kernels.empty()) table.add(head);
      for (auto& k : r.kernels) {
        auto row = head;
        row.insert(row.end(), {k.kernel, std::to_string(k.registers),
                               std::to_string(k.spill_store_bytes + k.spill_load_bytes),
                               std::to_string(k.stack_bytes), std::to_string(k.static_smem_bytes)});
        table.add(row);
        head.assign(head.size(), "");
      }
      if (!r.ok || o->log)
        std::cout << "--- " << reqs[i].arch << ' ' << format_variant(reqs[i].defines) << " log:\n" << r.log << '\n';
    }
    table.print(std::cout);
    if (failed) std::cout << failed << " of " << reqs.size() << " compile(s) failed\n";
    return failed ? 1 : 0;
  };
}

}  // namespace ks::cli
