#include <cstdlib>

#include "agent/cli/commands.h"

namespace ks::cli {

void add_db_option(CLI::App* cmd, std::string& path) {
  const char* env = std::getenv("KSEARCH_DB");
  path = env && *env ? env : "ksearch.db";
  cmd->add_option("--db", path, "The archive (SQLite file); default: KSEARCH_DB, else ./ksearch.db")
      ->capture_default_str();
}

}  // namespace ks::cli
