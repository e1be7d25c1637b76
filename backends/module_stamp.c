/*
 * module_stamp.c - linked into every backend module (rollcall-<scheme>.so)
 * and nothing else (CMakeLists.txt). The loader (backends/registry.c)
 * refuses a module whose stamp is not this build's version, rather than
 * trusting it with our structs.
 */
const char rc_backend_module_version[] = ROLLCALL_VERSION;
