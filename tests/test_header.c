/* The header compiles as C99 and C++ (see the probes' compile flags) and both agree. */
#include <criterion/criterion.h>

int fc_header_c99_probe(void);
int fc_header_cxx_probe(void);

Test(header, compiles_as_c99) { cr_assert_eq(fc_header_c99_probe(), 3); }
Test(header, compiles_as_cxx) { cr_assert_eq(fc_header_cxx_probe(), 3); }
