// Compiled with -std=c++11 -pedantic -Werror: the public header is valid C++ with C linkage.
#include "flashcore.h"

extern "C" int fc_header_cxx_probe(void);
extern "C" int fc_header_cxx_probe(void) {
  fc_attn_options o = FC_ATTN_OPTIONS_INIT;
  fc_kernel_info i = FC_KERNEL_INFO_INIT;
  const char *(*fn)(fc_status) = &fc_status_string;  // links against the C symbol
  return int(o.size == sizeof(fc_attn_options)) + int(i.size == sizeof(fc_kernel_info)) +
         int(fn(FC_SUCCESS) != nullptr);
}
