// ksearch compile: NVRTC-compiles the variants of a candidate that can run (those its `applies`
// accepts on some shape of the task; --all-variants for every one); needs no GPU.
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "agent/cli/commands.h"
#include "base/table.h"
#include "evaluator/nvrtc_compiler.h"
#include "evaluator/plan.h"

namespace ks::cli {
namespace {

using Clock = std::chrono::steady_clock;

// "compiled 12/1024" on stderr: live on a terminal, a line every 10 s otherwise, so that a long
// compile (a seed of a thousand variants takes minutes) shows it is moving.
class CompileProgress {
 public:
  explicit CompileProgress(size_t total) : tty_(isatty(STDERR_FILENO)), total_(total) {}
  void operator()(size_t done, size_t) {
    const auto now = Clock::now();
    if (now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(10)) && done < total_) return;
    if (!tty_ && done == total_ && !printed_) return;  // short work: no line at all
    last_ = now;
    printed_ = true;
    std::cerr << (tty_ ? "\r" : "") << "compiled " << done << "/" << total_ << " ("
              << static_cast<int>(std::chrono::duration<double>(now - start_).count()) << " s)"
              << (tty_ && done < total_ ? "" : "\n") << std::flush;
  }

 private:
  bool tty_;
  size_t total_;
  bool printed_ = false;
  Clock::time_point start_ = Clock::now(), last_ = start_;
};

}  // namespace

Action add_compile_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("compile", "Compile a candidate's variants with NVRTC (no GPU needed)");
  struct Opts {
    std::string file;
    std::optional<std::string> variant;
    std::vector<std::string> archs{"sm_90a"};
    bool log = false, all_variants = false;
    double compile_timeout_s = CompilerOptions{}.timeout_s;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("FILE", o->file, "Candidate .cu file (plan comment + CUDA code)")->required();
  cmd->add_option("--arch", o->archs, "Target(s), e.g. sm_80 sm_90 sm_90a (default sm_90a)");
  auto* variant = cmd->add_option("--variant", o->variant, "Only this variant, e.g. THREADS=128,ROWS=2")->check(variant_text());
  cmd->add_flag("--all-variants", o->all_variants,
                "Every variant, also those the plan's `applies` accepts on none of the task's shapes")
      ->excludes(variant);
  cmd->add_flag("--log", o->log, "Print NVRTC's whole log for every variant");
  cmd->add_option("--compile-timeout", o->compile_timeout_s, "Seconds one compile may take before it is killed, a compile_error (default 60)")
      ->check(positive());
  return [o] {
    Candidate c = load_candidate(o->file);
    const Task& task = task_of(c);
    std::vector<Variant> variants;
    size_t skipped = 0;
    if (o->variant) {
      variants = {parse_variant(*o->variant, c.plan.params)};  // asked for by name: compiled, applies or not
    } else {
      for (Variant& v : enumerate_variants(c.plan.params)) {
        if (o->all_variants || applies_somewhere(c.plan, task, v))
          variants.push_back(std::move(v));
        else
          ++skipped;
      }
    }
    std::vector<CompileRequest> reqs;
    std::vector<const Variant*> variant_of;  // of each request
    for (auto& arch : o->archs)
      for (auto& v : variants) {
        reqs.push_back(compile_request(c, v, arch));
        variant_of.push_back(&v);
      }
    CompilerOptions copts = Compiler::default_options();
    copts.timeout_s = o->compile_timeout_s;
    Compiler compiler(copts);
    std::cerr << "compiling " << reqs.size() << " variant(s) of " << c.origin << " with NVRTC " << nvrtc_version();
    if (skipped)
      std::cerr << " (" << skipped << " more that its `applies` accepts on none of " << task.name()
                << "'s shapes are left out: --all-variants compiles them too)";
    std::cerr << "...\n";
    CompileProgress progress(reqs.size());
    auto results = compiler.compile_all(reqs, [&](size_t done, size_t total) { progress(done, total); });
    Table table({"arch", "variant", "status", "seconds", "cache", "kernel", "regs", "spill B", "stack B", "smem B"});
    int failed = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      auto& r = results[i];
      std::vector<std::string> head = {reqs[i].arch, format_variant(*variant_of[i]),
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
        std::cout << "--- " << reqs[i].arch << ' ' << format_variant(*variant_of[i]) << " log:\n" << r.log << '\n';
    }
    table.print(std::cout);
    if (failed) std::cout << failed << " of " << reqs.size() << " compile(s) failed\n";
    return failed ? 1 : 0;
  };
}

}  // namespace ks::cli
