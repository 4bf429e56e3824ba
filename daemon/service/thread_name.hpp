// Names the calling thread, as `top -H`, `ps -L`, perf and gdb show it (Linux keeps 15 bytes):
// the daemon's threads each say what they are, instead of all being "incidentd".
#pragma once

#include <pthread.h>

#include <string>

namespace incidentd {

inline void name_this_thread(const std::string& name) {
  // Best effort: a name that is not taken changes nothing else.
  (void)::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace incidentd
