// ksearch tasks: what each task asks of a candidate, its shapes and their roofline inputs.
#include <iostream>
#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "base/table.h"
#include "evaluator/ceilings.h"
#include "tasks/task.h"

namespace ks::cli {

Action add_tasks_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tasks", "List the tasks: buffers, constraints, shapes, FLOPs and bytes");
  struct Opts {
    double tbs = 3.02, tflops = 776;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--bandwidth-tbs", o->tbs, "Memory bandwidth for the floor column, TB/s (default: measured on an H100)")
      ->check(positive());
  cmd->add_option("--peak-tflops", o->tflops, "bf16 matrix rate for the floor column, TFLOP/s (default: measured on an H100)")
      ->check(positive());
  cmd->add_flag("--json", o->json, "Print JSON instead of tables");
  return [o] {
    Ceilings ceil{o->tbs * 1e12, o->tflops * 1e12};
    nlohmann::json all = nlohmann::json::array();
    for (const Task* t : all_tasks()) {
      nlohmann::json jt = {{"name", t->name()}, {"semantics", t->semantics()},
                           {"constraints", t->constraints()}, {"constants", nlohmann::json::array()},
                           {"shapes", nlohmann::json::array()}};
      for (auto& c : t->constants())
        jt["constants"].push_back({{"name", c.name}, {"default", c.value}, {"meaning", c.meaning},
                                   {"positive", c.positive}});
      if (!o->json) {
        std::cout << t->name() << ": " << t->semantics() << "\n  buffers:";
        for (auto& b : t->buffers()) {
          std::string dims;
          for (auto& d : b.dims) dims += (dims.empty() ? "" : ",") + d;
          std::cout << ' ' << b.name << ' ' << dtype_name(b.dtype) << '[' << dims << "] "
                    << (b.role == Role::in ? "in" : "out") << ';';
        }
        if (t->constants().empty())
          std::cout << "\n  constants: none";
        else
          std::cout << "\n  constants (floats; defaults, which run, eval, audit and bench take --const NAME=VALUE for):";
        for (auto& c : t->constants()) std::cout << ' ' << c.name << '=' << c.value << " (" << c.meaning << ");";
        std::cout << "\n  constraints:";
        for (auto& c : t->constraints()) std::cout << ' ' << c << ';';
        std::cout << "\n\n";
      }
      Table table({"set", "shape", "GFLOP", "min MB", "FLOP/byte", "floor us"});
      for (auto [set, shapes] : {std::pair{"search", t->search_shapes()}, {"audit", t->audit_shapes()}}) {
        for (auto& s : shapes) {
          double f = t->flops(s), b = t->min_bytes(s);
          table.add({set, t->format_shape(s), fixed(f / 1e9, 3), fixed(b / 1e6, 2), fixed(f / b, 1),
                     fixed(ceil.floor_us(f, b), 1)});
          jt["shapes"].push_back({{"set", set}, {"shape", s}, {"text", t->format_shape(s)}, {"flops", f}, {"min_bytes", b},
                                  {"floor_us", ceil.floor_us(f, b)}});
        }
      }
      if (!o->json) {
        table.print(std::cout);
        std::cout << "floor = max(FLOPs / " << o->tflops << " TFLOP/s, bytes / " << o->tbs
                  << " TB/s)\n\n";
      }
      all.push_back(jt);
    }
    if (o->json) std::cout << all.dump(2) << '\n';
    return 0;
  };
}

}  // namespace ks::cli
