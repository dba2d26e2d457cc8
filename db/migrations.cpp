// The archive's schema versions; schema.sql is the newest. To change the schema: edit schema.sql
// (what a new archive gets) and append here the migration that takes the previous version to the
// new one; the archive test opens a version-1 file and checks it ends where a new one starts.
#include "db/archive.h"

namespace ks {

extern const char* const kSchemaSql;  // schema.sql, compiled in (see CMakeLists.txt)

const Schema& archive_schema() {
  static const Schema schema{
      4, kSchemaSql,
      {
          // 1 -> 2: every LLM call keeps the messages it sent and the reply's text. Calls made
          // before have neither: '[]' and '' say so.
          "ALTER TABLE llm_calls ADD COLUMN messages TEXT NOT NULL DEFAULT '[]';"
          "ALTER TABLE llm_calls ADD COLUMN reply TEXT NOT NULL DEFAULT '';",
          // 2 -> 3: timed evaluations of plans with several steps keep each step's time.
          "ALTER TABLE evaluations ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';",
          // 3 -> 4: runs, evaluations and audits record the task's constants they used. Before,
          // every one used the defaults, and the only constant was rmsnorm_linear's eps = 1e-6:
          // written out, so these rows keep saying so whatever a later default is.
          "ALTER TABLE runs ADD COLUMN constants TEXT NOT NULL DEFAULT '{}';"
          "ALTER TABLE evaluations ADD COLUMN constants TEXT NOT NULL DEFAULT '{}';"
          "ALTER TABLE audits ADD COLUMN constants TEXT NOT NULL DEFAULT '{}';"
          "UPDATE runs SET constants = '{\"eps\":1e-06}' WHERE task = 'rmsnorm_linear';"
          "UPDATE evaluations SET constants = '{\"eps\":1e-06}' WHERE candidate_id IN "
          "(SELECT id FROM candidates WHERE task = 'rmsnorm_linear');"
          "UPDATE audits SET constants = '{\"eps\":1e-06}' WHERE candidate_id IN "
          "(SELECT id FROM candidates WHERE task = 'rmsnorm_linear');",
      }};
  return schema;
}

}  // namespace ks
