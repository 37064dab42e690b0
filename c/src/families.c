/* The GPU kernel families compiled into this build, best first. Each family's folder
 * provides fc_<family>_plan and fc_<family>_launch; CMake defines FC_HAVE_<FAMILY>. */
#include "internal.h"

#ifdef FC_HAVE_SM90
int fc_sm90_plan(const fc_problem *, const fc_device_caps *, fc_kernel_info *, char *, size_t);
int fc_sm90_launch(const fc_problem *, const fc_kernel_info *, void *, char *, size_t);
#endif
#ifdef FC_HAVE_SM89
int fc_sm89_plan(const fc_problem *, const fc_device_caps *, fc_kernel_info *, char *, size_t);
int fc_sm89_launch(const fc_problem *, const fc_kernel_info *, void *, char *, size_t);
#endif
#ifdef FC_HAVE_SM80
int fc_sm80_plan(const fc_problem *, const fc_device_caps *, fc_kernel_info *, char *, size_t);
int fc_sm80_launch(const fc_problem *, const fc_kernel_info *, void *, char *, size_t);
#endif

static const fc_family_entry families[] = {
#ifdef FC_HAVE_SM90
    {FC_FAMILY_SM90, fc_sm90_plan, fc_sm90_launch},
#endif
#ifdef FC_HAVE_SM89
    {FC_FAMILY_SM89, fc_sm89_plan, fc_sm89_launch},
#endif
#ifdef FC_HAVE_SM80
    {FC_FAMILY_SM80, fc_sm80_plan, fc_sm80_launch},
#endif
    {FC_FAMILY_COUNT, 0, 0} /* keeps the array non-empty */
};

const fc_family_entry *fc_gpu_families(int *count) {
  *count = (int)(sizeof families / sizeof families[0]) - 1;
  return families;
}
