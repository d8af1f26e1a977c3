/* Constants only (see zsm_build_info.h): this file is compiled for the target CPU, so it must
   never contain code that runs. */
#include "zsm_build_info.h"

const uint64_t zsm_build_target_features = ZSM_COMPILED_FEATURES;
const char zsm_build_flags[] = ZSM_BUILD_FLAGS;
const char zsm_build_commit[] = ZSM_GIT_COMMIT;
