#include "evaluator/cubin_cache.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "base/error.h"

namespace ks {
namespace {

// File layout (integers are 8 bytes, little-endian):
//   magic "KSCUBIN1" | key length | key | log length | log | cubin length | cubin |
//   FNV-1a of everything before it
// The trailing checksum turns a truncated or damaged file into a miss.
constexpr std::string_view kMagic = "KSCUBIN1";
constexpr size_t kWordBytes = 8;
// Far above any cubin; a length beyond it is damage, not data.
constexpr uint64_t kMaxEntryBytes = uint64_t{1} << 32;

void put_word(std::string& out, uint64_t value) {
  for (size_t i = 0; i < kWordBytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void put_field(std::string& out, std::string_view bytes) {
  put_word(out, bytes.size());
  out.append(bytes);
}

// Reads fields front to back from a file's bytes; any read past the end fails the whole parse.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  bool word(uint64_t& value) {
    if (rest_.size() < kWordBytes) return false;
    value = 0;
    for (size_t i = 0; i < kWordBytes; ++i) {
      value |= uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
    }
    rest_.remove_prefix(kWordBytes);
    return true;
  }

  bool field(std::string_view& bytes) {
    uint64_t size = 0;
    if (!word(size) || size > rest_.size()) return false;
    bytes = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return true;
  }

  bool at_end() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

std::optional<std::string> read_whole_file(const std::filesystem::path& file) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(file, ec);
  if (ec || size > kMaxEntryBytes) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) return std::nullopt;
  return bytes;
}

// Unique within this host: the pid separates processes, the counter threads of one process.
std::filesystem::path temp_path_for(const std::filesystem::path& entry) {
  static std::atomic<uint64_t> counter{0};
  std::filesystem::path tmp = entry;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  return tmp;
}

}  // namespace

uint64_t fnv1a64(std::string_view bytes, uint64_t state) {
  for (const char c : bytes) {
    state ^= static_cast<unsigned char>(c);
    state *= 0x100000001b3ull;
  }
  return state;
}

std::string hex64(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<size_t>(i)] = kDigits[value & 0xf];
  return out;
}

void create_cache_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec && !std::filesystem::is_directory(dir, ec)) {
    ec = std::make_error_code(std::errc::not_a_directory);
  }
  if (ec) {
    throw Error("cubin cache: cannot create directory '" + dir.string() + "': " + ec.message() +
                " (set KSEARCH_CACHE_DIR to a writable folder)");
  }
}

std::filesystem::path cache_entry_path(const std::filesystem::path& dir, std::string_view key) {
  return dir / (hex64(fnv1a64(key)) + ".kscubin");
}

std::optional<CachedCompile> load_cached(const std::filesystem::path& dir, std::string_view key) {
  const std::optional<std::string> bytes = read_whole_file(cache_entry_path(dir, key));
  if (!bytes || bytes->size() < kMagic.size() + kWordBytes) return std::nullopt;

  const std::string_view body(bytes->data(), bytes->size() - kWordBytes);
  uint64_t checksum = 0;
  if (!Reader(std::string_view(*bytes).substr(body.size())).word(checksum) ||
      checksum != fnv1a64(body)) {
    return std::nullopt;
  }
  if (body.substr(0, kMagic.size()) != kMagic) return std::nullopt;

  Reader reader(body.substr(kMagic.size()));
  std::string_view stored_key, log, cubin;
  if (!reader.field(stored_key) || !reader.field(log) || !reader.field(cubin) ||
      !reader.at_end() || stored_key != key || cubin.empty()) {
    return std::nullopt;
  }
  return CachedCompile{std::string(log), std::vector<char>(cubin.begin(), cubin.end())};
}

void store_cached(const std::filesystem::path& dir, std::string_view key,
                  const CachedCompile& entry) {
  std::string bytes(kMagic);
  put_field(bytes, key);
  put_field(bytes, entry.log);
  put_field(bytes, std::string_view(entry.cubin.data(), entry.cubin.size()));
  put_word(bytes, fnv1a64(bytes));

  const std::filesystem::path target = cache_entry_path(dir, key);
  const std::filesystem::path tmp = temp_path_for(target);
  {
    errno = 0;
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      const int err = errno;
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw Error("cubin cache: cannot write '" + tmp.string() +
                  "': " + (err != 0 ? std::strerror(err) : "write failed") +
                  " (set KSEARCH_CACHE_DIR to a writable folder)");
    }
  }
  // rename() replaces the target atomically: readers see the old file or the new one, whole.
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw Error("cubin cache: cannot rename '" + tmp.string() + "' to '" + target.string() +
                "': " + ec.message());
  }
}

}  // namespace ks
