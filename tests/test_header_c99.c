/* Compiled with -std=c99 -pedantic -Werror: the public header is plain C99. */
#include "flashcore.h"

int fc_header_c99_probe(void);
int fc_header_c99_probe(void) {
  fc_attn_options o = FC_ATTN_OPTIONS_INIT;
  fc_kernel_info i = FC_KERNEL_INFO_INIT;
  return (int)(o.size == sizeof(fc_attn_options)) + (int)(i.size == sizeof(fc_kernel_info)) +
         (FC_STATUS_COUNT > FC_ERR_INTERNAL);
}
