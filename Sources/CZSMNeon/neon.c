// The header is the module (static inline functions, inlined into the Swift that calls them);
// SwiftPM wants a C target to have one source file.
#include "CZSMNeon.h"
