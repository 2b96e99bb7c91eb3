// Everything the bindings expose: mlx-c's umbrella header and this
// project's additions built into the same library (shim/).
#include "mlx/c/mlx.h"
#include "mlx_rs_shim.h"
