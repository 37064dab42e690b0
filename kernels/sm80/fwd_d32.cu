// Head dim 32 of the sm80 family, in its own translation unit so head dims compile in parallel.
#include "fwd_launch.cuh"
FC_SM80_HEAD_DIM(32)
