// Writes the export's PyTorch module of every task (DIR/ksearch_<task>.py), for the Python test
// of the modules' argument checks (tests/python/test_torch_module.py).
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "agent/export/export_library.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " DIR\n";
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    for (const ks::Task* task : ks::all_tasks()) {
      ks::exporter::ExportInput in;
      in.task = task;
      in.device = "Test GPU";
      in.arch = "sm_90a";
      std::ofstream(dir / (ks::exporter::library_name(*task) + ".py")) << ks::exporter::generate_python(in);
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
