// zlib is reached through this shim so that Swift sees its declarations as a module.
#include "czlib.h"
