#pragma once
// The one exception type of ksearch: a message a user can act on, with the failing call or
// field named in it.
#include <stdexcept>
#include <string>

namespace ks {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace ks
