// The archive's schema versions. Version 1 is schema.sql. To change the schema: edit schema.sql
// (what a new archive gets) and append here the migration that takes the previous version to the
// new one; the archive test opens a version-1 file and checks it ends where a new one starts.
#include "db/archive.h"

namespace ks {

extern const char* const kSchemaSql;  // schema.sql, compiled in (see CMakeLists.txt)

const Schema& archive_schema() {
  static const Schema schema{1, kSchemaSql, {}};
  return schema;
}

}  // namespace ks
