/*
 * fuzz_driver: the libFuzzer entry points every fuzz/<target>.c defines. The build
 * force-includes this header into each driver (fuzz/CMakeLists.txt, tests/unit/rpc.cmake),
 * so drivers satisfy -Wmissing-prototypes without declaring them themselves.
 */
#ifndef CB_FUZZ_FUZZ_DRIVER_H
#define CB_FUZZ_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* Run the code under test on one input; abort (or let a sanitizer abort) on a bug. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time set-up; replay.c calls it only if the driver defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
