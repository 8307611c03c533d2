// The functions of this target are static inline in include/csystem.h;
// SwiftPM needs one source file to build the module.
#include "csystem.h"
