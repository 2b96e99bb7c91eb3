// Everything the bindings expose: mlx-c's umbrella header.
#include "mlx/c/mlx.h"
