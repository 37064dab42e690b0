// Head dim 64 of the sm90 family, in its own translation unit so head dims compile in parallel.
#include "fwd_launch.cuh"
FC_SM90_HEAD_DIM(64)
