// Preloaded (LD_PRELOAD) into each unit test of a build without a sanitizer that is not listed
// in tests/CMakeLists.txt's threaded_unit_tests: the ThreadSanitizer step of scripts/test.sh
// builds and runs only those, since a race needs two threads. A test that starts a thread
// (itself, or through the code it tests) without being listed would escape that step, so its
// first pthread_create ends it with a message that says where to list it.
#include <pthread.h>

#include <cerrno>  // program_invocation_short_name
#include <cstdio>
#include <cstdlib>

namespace {

// Only the test itself: a program it starts (a child with threads of its own) is not a unit test.
__attribute__((constructor)) void forget_preload() {
  unsetenv("LD_PRELOAD");
}

}  // namespace

extern "C" int pthread_create(pthread_t* /*thread*/, const pthread_attr_t* /*attr*/,
                              void* (* /*start*/)(void*), void* /*arg*/) {
  std::fprintf(stderr,
               "thread_guard: %s started a thread, but it is not in threaded_unit_tests "
               "(tests/CMakeLists.txt): list it there, so that the ThreadSanitizer step runs it\n",
               program_invocation_short_name);
  std::_Exit(1);
}
