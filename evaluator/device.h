#pragma once
// The GPU an evaluation runs on: opened once, its facts read off the device.
#include <cstddef>
#include <string>

#include "evaluator/plan.h"

namespace ks {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  std::string arch;            // NVRTC target, e.g. "sm_90a"
  int sms = 0;
  size_t l2_bytes = 0;
  size_t smem_per_block_optin = 0;
  size_t global_mem = 0;
  int driver_version = 0, runtime_version = 0;
};

// Selects device `index` and creates its context. Throws ks::Error with one clear line when no
// device or driver is present, or the index is out of range.
DeviceInfo open_device(int index);

// SMS, SMEM_MAX and L2_BYTES as a plan's expressions see them on this device.
inline DeviceFacts device_facts(const DeviceInfo& d) {
  return {d.sms, static_cast<int64_t>(d.smem_per_block_optin), static_cast<int64_t>(d.l2_bytes)};
}

int cuda_device_count();  // 0 when there is no driver or no device (never throws)

}  // namespace ks
