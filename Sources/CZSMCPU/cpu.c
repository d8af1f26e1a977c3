/* SwiftPM needs one source file in a C target; zsm_cpu.h is header-only. */
