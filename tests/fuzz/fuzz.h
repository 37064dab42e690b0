/* What the fuzz targets share. Each defines FUZZ_TARGET (its name) before including this. */
#ifndef FC_FUZZ_H
#define FC_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* A violated property aborts with a line saying which, so libFuzzer keeps the input. */
#define REQUIRE(cond, ...)                                              \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "%s: property violated: ", FUZZ_TARGET);          \
      fprintf(stderr, __VA_ARGS__);                                     \
      fprintf(stderr, "\n");                                            \
      abort();                                                          \
    }                                                                   \
  } while (0)

#endif
